"""The real collector as a test process: its ports, the environment the rendered config
reads, and a context manager that starts it, waits for its health check and stops it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.http import http_ok
from tests.support.processes import RunningProcess, free_port, running, wait_until


@dataclass(frozen=True)
class CollectorPorts:
    """Loopback ports for every listener of the rendered config. Fixed per instance, so a
    stopped collector comes back where the services send."""

    grpc: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)
    health: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)
    telemetry: int = field(default_factory=free_port)

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def environment(
        self, traces_backend: str | None = None, logs_backend: str | None = None
    ) -> dict[str, str]:
        """The variables the rendered config reads. No backend runs in the tests unless
        one is given: by default both point at closed ports, so their exporters fail and
        retry while the pipelines still run."""
        return {
            "OTEL_COLLECTOR_HOST": "127.0.0.1",
            "OTEL_COLLECTOR_OTLP_GRPC_PORT": str(self.grpc),
            "OTEL_COLLECTOR_OTLP_HTTP_PORT": str(self.http),
            "OTEL_COLLECTOR_HEALTH_PORT": str(self.health),
            "OTEL_COLLECTOR_PROMETHEUS_PORT": str(self.prometheus),
            "OTEL_COLLECTOR_TELEMETRY_PORT": str(self.telemetry),
            "OTEL_COLLECTOR_METRICS_FLUSH_INTERVAL": "1s",
            "TRACES_BACKEND_ENDPOINT": traces_backend or f"127.0.0.1:{free_port()}",
            "LOGS_BACKEND_ENDPOINT": logs_backend or f"http://127.0.0.1:{free_port()}/otlp",
        }


@contextmanager
def running_collector(
    otelcol: Path,
    configs: Sequence[Path],
    workdir: Path,
    ports: CollectorPorts,
    *,
    extra_env: Mapping[str, str] | None = None,
    log_name: str = "collector.log",
) -> Iterator[RunningProcess]:
    """The collector with ``configs`` (later ones layered over earlier ones), healthy."""
    env = {**os.environ, **ports.environment(), **(extra_env or {})}
    command = [str(otelcol), *(f"--config={config}" for config in configs)]
    with running(command, cwd=workdir, env=env, log_path=workdir / log_name) as process:
        wait_until(
            lambda: (
                process.process.poll() is not None or http_ok(f"http://127.0.0.1:{ports.health}/")
            ),
            30,
            "the collector's health check",
        )
        assert process.process.poll() is None, f"collector exited:\n{process.log()[-4000:]}"
        yield process
        process.stop()
