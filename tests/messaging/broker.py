"""A RabbitMQ broker of the test's own: Debian's rabbitmq-server (scripts/install-rabbitmq)
on free loopback ports, with its own node name, data, logs, Erlang cookie and epmd, so it
never meets another broker on this machine. Started with a deadline, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import free_port, port_open, stop_group, wait_until

START_TIMEOUT_SECONDS = 60
LOOPBACK_ONLY = "-kernel inet_dist_use_interface {127,0,0,1}"
# The service's broker credentials: a secret the tests look for in every output.
USER, PASSWORD = "orders-service", "amqp-Pa55-w0rd-7f3e"


@dataclass
class RabbitMQ:
    server: Path
    workdir: Path
    amqp_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    ctl_dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{PASSWORD}@127.0.0.1:{self.amqp_port}/"

    def _env(self) -> dict[str, str]:
        node = f"rabbit-{self.amqp_port}@localhost"
        return {
            **os.environ,
            # The Erlang cookie lives in $HOME: this broker's own.
            "HOME": str(self.workdir),
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": LOOPBACK_ONLY,
            # rabbitmqctl is an Erlang node too: by default on a port of 35672-35682.
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.ctl_dist_port),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.ctl_dist_port),
            "RABBITMQ_CTL_ERL_ARGS": LOOPBACK_ONLY,
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.workdir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbitmq.pid"),
        }

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "enabled_plugins").write_text("[].\n")
        with open(self.workdir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(self.server)],
                cwd=self.workdir,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(self._ready, START_TIMEOUT_SECONDS, "RabbitMQ to accept connections")
            # Idempotent: a restarted broker keeps its users.
            self._ctl("add_user", USER, PASSWORD, ok_if="already exists")
            self._ctl("set_permissions", USER, ".*", ".*", ".*")
        except BaseException:
            self.stop()
            raise

    def _ctl(self, *args: str, ok_if: str = "") -> None:
        ctl = self.server.with_name("rabbitmqctl")
        result = subprocess.run(
            [str(ctl), "--timeout", "30", *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0 or (ok_if and ok_if in output), output

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.workdir / "server.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"rabbitmq-server exited during start:\n{log}")
        return port_open(self.amqp_port)

    def freeze(self) -> None:
        """Stop the broker answering while it keeps its connections open (SIGSTOP)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker (SIGTERM: it closes client connections and exits) and its epmd."""
        if self.process is not None:
            stop_group(self.process, timeout)
        # epmd daemonises out of the broker's process group: stop it by its port.
        subprocess.run(
            ["epmd", "-kill"],
            env={**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)},
            capture_output=True,
            timeout=10,
        )
        deadline = time.monotonic() + 10
        while port_open(self.amqp_port) and time.monotonic() < deadline:
            time.sleep(0.1)


@contextmanager
def rabbitmq(server: Path, workdir: Path) -> Iterator[RabbitMQ]:
    broker = RabbitMQ(server, workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
