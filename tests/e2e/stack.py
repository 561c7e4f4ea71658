"""The live stack for end-to-end tests: the real collector with the rendered config, real
Prometheus scraping it, and rendered services on their real servers. Every process runs
on free loopback ports and is stopped by PID."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.http import http_ok
from tests.support.processes import RunningProcess, free_port, port_open, running, wait_until


@dataclass
class Collector:
    otlp_http_port: int
    prometheus_port: int
    output: Path
    process: RunningProcess

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"

    def records(self) -> list[dict[str, Any]]:
        """Every OTLP JSON payload the file exporter wrote so far."""
        if not self.output.exists():
            return []
        text = self.output.read_text()
        # The collector may be half way through writing the last line.
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line]


def _file_exporter_overlay(rendered_config: Path, output: Path) -> dict[str, Any]:
    """A second --config that adds a `file` exporter to every rendered pipeline.

    The collector merges maps but replaces lists, so each pipeline's exporter list is
    repeated with the file exporter appended; the rendered file itself is not touched.
    """
    config = yaml.safe_load(rendered_config.read_text())
    pipelines = {
        name: {"exporters": [*pipeline["exporters"], "file/e2e"]}
        for name, pipeline in config["service"]["pipelines"].items()
    }
    return {
        "exporters": {"file/e2e": {"path": str(output), "flush_interval": "200ms"}},
        "service": {"pipelines": pipelines},
    }


@contextmanager
def collector(otelcol: Path, rendered_config: Path, workdir: Path) -> Iterator[Collector]:
    output = workdir / "collector-output.jsonl"
    overlay = workdir / "collector-overlay.yaml"
    overlay.write_text(yaml.safe_dump(_file_exporter_overlay(rendered_config, output)))
    ports = {name: free_port() for name in ("grpc", "http", "health", "prom", "telemetry")}
    env = {
        **os.environ,
        "OTEL_COLLECTOR_HOST": "127.0.0.1",
        "OTEL_COLLECTOR_OTLP_GRPC_PORT": str(ports["grpc"]),
        "OTEL_COLLECTOR_OTLP_HTTP_PORT": str(ports["http"]),
        "OTEL_COLLECTOR_HEALTH_PORT": str(ports["health"]),
        "OTEL_COLLECTOR_PROMETHEUS_PORT": str(ports["prom"]),
        "OTEL_COLLECTOR_TELEMETRY_PORT": str(ports["telemetry"]),
        "OTEL_COLLECTOR_METRICS_FLUSH_INTERVAL": "1s",
        # No backends run here: their exporters fail and retry, the file exporter records.
        "TRACES_BACKEND_ENDPOINT": f"127.0.0.1:{free_port()}",
        "LOGS_BACKEND_ENDPOINT": f"http://127.0.0.1:{free_port()}/otlp",
    }
    command = [str(otelcol), f"--config={rendered_config}", f"--config={overlay}"]
    with running(command, cwd=workdir, env=env, log_path=workdir / "collector.log") as process:
        wait_until(
            lambda: (
                process.process.poll() is not None
                or http_ok(f"http://127.0.0.1:{ports['health']}/")
            ),
            30,
            "the collector's health check",
        )
        assert process.process.poll() is None, f"collector exited:\n{process.log()[-4000:]}"
        yield Collector(ports["http"], ports["prom"], output, process)
        process.stop()


@dataclass
class Prometheus:
    port: int
    process: RunningProcess

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": promql}
        )
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]


@contextmanager
def prometheus(scrape_port: int, workdir: Path) -> Iterator[Prometheus]:
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "otel-collector",
                        # The collector's exporter sets job/instance from the resource.
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    command = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(command, cwd=workdir, env=os.environ, log_path=workdir / "prometheus.log") as p:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), 30, "Prometheus to be ready"
        )
        yield Prometheus(port, p)
        p.stop()


@dataclass
class Service:
    name: str
    port: int
    process: RunningProcess

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def services(
    specs: list[tuple[str, Path, Path, int, dict[str, str]]], workdir: Path
) -> Iterator[dict[str, Service]]:
    """Start each (name, project, venv bin, port, env) with `make run`; stop all on exit."""
    with ExitStack() as stack:
        started: dict[str, Service] = {}
        for name, project, bin_dir, port, extra_env in specs:
            env = {
                **os.environ,
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "PORT": str(port),
                **extra_env,
            }
            process = stack.enter_context(
                running(["make", "run"], cwd=project, env=env, log_path=workdir / f"{name}.log")
            )
            started[name] = Service(name, port, process)
        for service in started.values():
            wait_until(lambda s=service: port_open(s.port), 30, f"{service.name} to listen")
        yield started
        for service in started.values():
            service.process.stop()
