"""The live stack of the contract test, next to tests/e2e/stack.py: the real collector with
the rendered config (its own telemetry port exposed, backends that fail for real), real
Prometheus scraping both collector endpoints with the rendered rules loaded, and loopback
HTTP servers standing in for a slow downstream and a rejecting backend."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.stack import Prometheus, prometheus
from tests.support.collector import CollectorPorts, running_collector


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
    ports = CollectorPorts()
    backends = {
        "TRACES_BACKEND_ENDPOINT": backend.removeprefix("http://"),
        "LOGS_BACKEND_ENDPOINT": f"{backend}/otlp",
    }
    with running_collector(otelcol, [rendered_config], workdir, ports, extra_env=backends):
        yield ObservedCollector(ports.http, ports.prometheus, ports.telemetry)


@contextmanager
def prometheus_with_rules(
    collector: ObservedCollector, rules_files: Sequence[Path], workdir: Path
) -> Iterator[Prometheus]:
    """Prometheus scraping the collector's two endpoints every second and evaluating the
    rendered rules every second (the compose stack does the same every 15 s)."""
    with prometheus(
        collector.exporter_port,
        workdir,
        telemetry_port=collector.telemetry_port,
        rule_files=rules_files,
    ) as server:
        yield server
