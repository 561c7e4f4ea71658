"""A real Apache Kafka broker for the messaging tiers: one KRaft node acting as broker and
controller on free loopback ports, its logs in a temporary folder, a small heap, started
with a deadline and stopped by PID. The jars come from scripts/install-kafka."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.built_tools import built_tool
from tests.support.processes import RunningProcess, free_port, port_open, running, wait_until

START_TIMEOUT = 90.0
# The line the broker logs once it serves clients (the broker's log config keeps this one
# logger at INFO); an open port alone comes earlier than that.
STARTED_MARKER = "Kafka Server started"
JVM_OPTIONS = (
    # A test broker with a handful of messages: a small heap, one GC thread, the quick JIT
    # (start-up is most of its run), and no JMX.
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)


def kafka_home() -> Path:
    """The folder scripts/install-kafka fills (jars in libs/), or ``$KAFKA_HOME``."""
    return built_tool("install-kafka", "KAFKA_HOME", timeout=900)


@dataclass(frozen=True)
class KafkaPorts:
    """Fixed per broker, so a stopped broker comes back where clients connect."""

    broker: int = field(default_factory=free_port)
    controller: int = field(default_factory=free_port)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker}"


def _server_properties(ports: KafkaPorts, log_dir: Path) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{ports.controller}",
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{ports.broker},CONTROLLER://127.0.0.1:{ports.controller}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{ports.broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        # One node: internal topics with one replica, and one partition each instead of 50,
        # which takes a small machine seconds to create on the first consumer group.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        # A consumer joining starts at once instead of waiting 3 s for others.
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _log4j_config(home: Path, workdir: Path) -> Path:
    """The installed warnings-only config plus the one INFO line that says 'started'."""
    config = workdir / "log4j2.properties"
    config.write_text(
        (home / "log4j2.properties").read_text()
        + "logger.started.name = kafka.server.KafkaRaftServer\n"
        + "logger.started.level = info\n"
    )
    return config


class KafkaBroker:
    """A formatted single-node cluster in ``workdir``; ``start``/``stop`` may repeat (an
    outage), keeping its topics and committed offsets."""

    def __init__(self, home: Path, workdir: Path, ports: KafkaPorts | None = None) -> None:
        self.home = home
        self.workdir = workdir
        self.ports = ports or KafkaPorts()
        self.log_dir = workdir / "kafka-logs"
        workdir.mkdir(parents=True, exist_ok=True)
        self.properties = workdir / "server.properties"
        self.properties.write_text(_server_properties(self.ports, self.log_dir))
        self.log4j_config = _log4j_config(home, workdir)
        self.process: RunningProcess | None = None
        self._exit_stack = ExitStack()
        self._starts = 0
        self._format()

    @property
    def bootstrap_servers(self) -> str:
        return self.ports.bootstrap_servers

    def _java(self, main_class: str, *args: str) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = f"{java_home}/bin/java" if java_home else "java"
        return [
            java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.log4j_config}",
            "-cp",
            str(self.home / "libs" / "*"),
            main_class,
            *args,
        ]

    def _format(self) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                # Joined with "=": a cluster id may start with "-".
                f"--cluster-id={cluster_id}",
                f"--config={self.properties}",
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (
            f"kafka storage format failed:\n{result.stdout}\n{result.stderr}"
        )

    def start(self) -> None:
        assert self.process is None, "the broker is already running"
        self._starts += 1
        log_path = self.workdir / f"kafka-{self._starts}.log"
        process = self._exit_stack.enter_context(
            running(
                self._java("kafka.Kafka", str(self.properties)),
                cwd=self.workdir,
                env=os.environ,
                log_path=log_path,
            )
        )
        self.process = process
        try:
            wait_until(
                lambda: (
                    process.process.poll() is not None
                    or (STARTED_MARKER in process.log() and port_open(self.ports.broker))
                ),
                START_TIMEOUT,
                "the Kafka broker to start",
            )
            assert process.process.poll() is None, f"kafka exited:\n{process.log()[-4000:]}"
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM (a controlled shutdown that keeps the log), SIGKILL after ``timeout``;
        returns seconds to exit."""
        if self.process is None:
            return 0.0
        try:
            return self.process.stop(timeout)
        finally:
            self._exit_stack.close()
            self.process = None

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob("kafka-*.log"))
        )


@contextmanager
def running_kafka(workdir: Path, home: Path | None = None) -> Iterator[KafkaBroker]:
    """A started broker in ``workdir``, stopped on exit whatever happens."""
    broker = KafkaBroker(home or kafka_home(), workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
