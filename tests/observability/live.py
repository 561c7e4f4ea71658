"""The live stack of the contract test, next to tests/e2e/stack.py: the real collector with
the rendered config (its own telemetry port exposed, backends that fail for real), real
Prometheus scraping both collector endpoints with the rendered rules loaded, and loopback
HTTP servers standing in for a slow downstream and a rejecting backend."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.stack import Prometheus
from tests.support.http import http_ok
from tests.support.processes import free_port, running, wait_until


@contextmanager
def loopback_server(status: int, delay_seconds: float = 0.0) -> Iterator[str]:
    """An HTTP server answering every GET and POST with ``status`` after ``delay_seconds``;
    yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay_seconds)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class ObservedCollector:
    otlp_http_port: int
    exporter_port: int  # the prometheus exporter: everything the services send
    telemetry_port: int  # the collector's own otelcol_* metrics

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"


@contextmanager
def observed_collector(
    otelcol: Path, rendered_config: Path, workdir: Path, backend: str
) -> Iterator[ObservedCollector]:
    """The rendered config as is, with both backends pointed at ``backend``: Loki's OTLP
    exporter gets a permanent error (HTTP 400), so export failures are real."""
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
        "TRACES_BACKEND_ENDPOINT": backend.removeprefix("http://"),
        "LOGS_BACKEND_ENDPOINT": f"{backend}/otlp",
    }
    command = [str(otelcol), f"--config={rendered_config}"]
    log = workdir / "collector.log"
    with running(command, cwd=workdir, env=env, log_path=log) as process:
        wait_until(
            lambda: (
                process.process.poll() is not None
                or http_ok(f"http://127.0.0.1:{ports['health']}/")
            ),
            30,
            "the collector's health check",
        )
        assert process.process.poll() is None, f"collector exited:\n{process.log()[-4000:]}"
        yield ObservedCollector(ports["http"], ports["prom"], ports["telemetry"])
        process.stop()


class RulesPrometheus(Prometheus):
    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant query's result; a query Prometheus rejects fails with its error."""
        try:
            return super().query(promql)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"Prometheus rejects {promql}: {error.read().decode()}") from None

    def label_values(self, label: str, selector: str) -> list[str]:
        url = f"http://127.0.0.1:{self.port}/api/v1/label/{label}/values?" + (
            urllib.parse.urlencode({"match[]": selector})
        )
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]


@contextmanager
def prometheus_with_rules(
    collector: ObservedCollector, rules_file: Path, workdir: Path
) -> Iterator[RulesPrometheus]:
    """Prometheus scraping the collector's two endpoints every second and evaluating the
    rendered rules every second (the compose stack does the same every 15 s)."""
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules_file)],
                "scrape_configs": [
                    {
                        "job_name": "otel-collector",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{collector.exporter_port}"]}],
                    },
                    {
                        "job_name": "otel-collector-internal",
                        "static_configs": [{"targets": [f"127.0.0.1:{collector.telemetry_port}"]}],
                    },
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
    log = workdir / "prometheus.log"
    with running(command, cwd=workdir, env=os.environ, log_path=log) as process:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), 30, "Prometheus to be ready"
        )
        yield RulesPrometheus(port, process)
        process.stop()
