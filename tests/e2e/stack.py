"""The live stack for end-to-end tests: the real collector with the rendered config, real
Prometheus scraping it, and rendered services on their real servers. Every process runs
on free loopback ports and is stopped by PID."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.collector import CollectorPorts, running_collector
from tests.support.http import http_ok
from tests.support.otlp_json import read_records
from tests.support.processes import RunningProcess, free_port, running, wait_until


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
        return read_records(self.output)

    def service_env(self) -> dict[str, str]:
        """A service's environment for sending here, exporting within a second."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }


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
    ports = CollectorPorts()
    with running_collector(otelcol, [rendered_config, overlay], workdir, ports) as process:
        yield Collector(ports.http, ports.prometheus, output, process)


@dataclass
class Prometheus:
    port: int
    process: RunningProcess

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"Prometheus rejects {params}: {error.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant query's result; a query Prometheus rejects fails with its error."""
        return self._get("/api/v1/query", {"query": promql})["result"]

    def exemplars(self, promql: str, seconds: float = 300) -> list[dict[str, Any]]:
        """Exemplars of the series ``promql`` selects over the last ``seconds``."""
        now = time.time()
        params = {"query": promql, "start": str(now - seconds), "end": str(now)}
        return self._get("/api/v1/query_exemplars", params)

    def label_values(self, label: str, selector: str) -> list[str]:
        return self._get(f"/api/v1/label/{label}/values", {"match[]": selector})

    def series(self, selector: str) -> list[dict[str, str]]:
        """The label sets of every series ``selector`` matches."""
        return self._get("/api/v1/series", {"match[]": selector})


@contextmanager
def prometheus(
    scrape_port: int,
    workdir: Path,
    *,
    telemetry_port: int | None = None,
    rule_files: Sequence[Path] = (),
) -> Iterator[Prometheus]:
    """Prometheus scraping the collector's exporter (and, given its port, the collector's
    own metrics) and evaluating ``rule_files``, every second."""
    scrape_configs: list[dict[str, Any]] = [
        {
            "job_name": "otel-collector",
            # The collector's exporter sets job/instance from the resource.
            "honor_labels": True,
            "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}],
        }
    ]
    if telemetry_port is not None:
        scrape_configs.append(
            {
                "job_name": "otel-collector-internal",
                "static_configs": [{"targets": [f"127.0.0.1:{telemetry_port}"]}],
            }
        )
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(path) for path in rule_files],
                "scrape_configs": scrape_configs,
            }
        )
    )
    port = free_port()
    command = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # As in the compose stack: exemplars are scraped and kept.
        "--enable-feature=exemplar-storage",
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
            # Ready means answering: a gunicorn master listens before its worker serves.
            wait_until(
                lambda s=service: http_ok(f"{s.base}/healthz"), 60, f"{service.name} to answer"
            )
        yield started
        for service in started.values():
            service.process.stop()
