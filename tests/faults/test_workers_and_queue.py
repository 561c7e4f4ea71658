"""gunicorn with several workers, and a burst larger than the span export queue (in file
mode too, with LIVE_FILE_MODE=all: tests/support/matrix.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.stack import prometheus
from tests.support.collector import CollectorPorts
from tests.support.faults import (
    FAST_EXPORT,
    Load,
    collector_at,
    installed_service,
    service,
)
from tests.support.http import http_get
from tests.support.matrix import FLASK_FAULT_CONFIGS
from tests.support.otlp_json import metric_points, read_records, spans
from tests.support.processes import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults-flask")]

WORKERS = 3


@pytest.mark.parametrize("telemetry_config", FLASK_FAULT_CONFIGS)
def test_every_gunicorn_worker_reports_spans_and_metrics(
    render, otelcol: Path, tmp_path: Path, telemetry_config: str
) -> None:
    project, bin_dir = installed_service(render, "flask", telemetry_config)
    ports = CollectorPorts()
    env = {
        **FAST_EXPORT,
        "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_endpoint,
        "WEB_CONCURRENCY": str(WORKERS),
    }
    config = project / "collector" / "otelcol-config.yaml"
    output = tmp_path / "collector-output.jsonl"
    with (
        collector_at(otelcol, config, tmp_path, ports),
        prometheus(ports.prometheus, tmp_path) as prom,
        service(project, bin_dir, tmp_path, env) as (_, base),
        Load(base, lambda n: "/hello", threads=2 * WORKERS),
    ):

        def span_instances() -> set[str]:
            return {
                span["resource"]["service.instance.id"]
                for span in spans(read_records(output))
                if span["kind"] == 2 and span["resource"].get("service.name") == "flask-faults"
            }

        wait_until(lambda: len(span_instances()) >= WORKERS, 60, f"spans from {WORKERS} workers")

        def metric_instances() -> set[str]:
            series = prom.query(
                'http_server_request_duration_seconds_count{service_name="flask-faults"}'
            )
            return {s["metric"].get("service_instance_id", "") for s in series}

        wait_until(
            lambda: metric_instances() >= span_instances(),
            60,
            "Prometheus series from every worker",
        )
    assert len(span_instances()) == WORKERS, span_instances()


def traces_sent_to(project: Path, endpoint: str, workdir: Path) -> Path:
    """A copy of the project's otel-config.yaml whose span exporter sends to ``endpoint``.
    The file reads no per-signal endpoint variable: a reference cannot fall back to
    another variable (`${A:-${B}}` is not substituted), so a team sends one signal
    elsewhere by editing its exporter, here in a copy that OTEL_CONFIG_FILE names."""
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    text = (project / "src" / package / "telemetry" / "otel-config.yaml").read_text()
    line = "endpoint: ${OTEL_EXPORTER_OTLP_ENDPOINT:-http://localhost:4318}/v1/traces"
    assert text.count(line) == 1, f"no single span exporter endpoint {line!r} in the file"
    copy = workdir / "otel-config-traces-elsewhere.yaml"
    copy.write_text(text.replace(line, f"endpoint: {endpoint}"))
    return copy


@pytest.mark.parametrize("telemetry_config", FLASK_FAULT_CONFIGS)
def test_burst_beyond_the_span_queue_is_counted_and_harmless(
    render, otelcol: Path, tmp_path: Path, telemetry_config: str
) -> None:
    project, bin_dir = installed_service(render, "flask", telemetry_config)
    ports = CollectorPorts()
    nowhere = f"http://127.0.0.1:{free_port()}/v1/traces"
    env = {
        **FAST_EXPORT,
        # Spans go nowhere (each export attempt fails after retrying for up to 2 s),
        # through a 16-span queue; metrics reach the collector and count the drops.
        "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_endpoint,
        "OTEL_BSP_MAX_QUEUE_SIZE": "16",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": "true",
        "WEB_CONCURRENCY": "1",
    }
    if telemetry_config == "file":
        env["OTEL_CONFIG_FILE"] = str(traces_sent_to(project, nowhere, tmp_path))
    else:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = nowhere
    config = project / "collector" / "otelcol-config.yaml"
    output = tmp_path / "collector-output.jsonl"
    with (
        collector_at(otelcol, config, tmp_path, ports),
        service(project, bin_dir, tmp_path, env) as (server, base),
    ):
        with Load(base, lambda n: "/hello", threads=8) as load:
            time.sleep(3)
        assert len(load.results) > 16 * 4, "the burst was too small to overflow the queue"
        assert not load.failures(), load.failures()[:10]
        assert http_get(f"{base}/healthz")[0] == 200

        def dropped() -> int:
            points = metric_points(read_records(output), "otel.sdk.processor.span.processed")
            return max(
                (
                    int(p.get("asInt", 0))
                    for p in points
                    if p["attrs"].get("error.type") == "queue_full"
                ),
                default=0,
            )

        wait_until(lambda: dropped() > 0, 30, "the SDK to count dropped spans")
        # The span exporter's own endpoint took effect: metrics arrive, spans never do.
        arrived = [s for s in spans(read_records(output)) if s["kind"] == 2]
        assert not arrived, f"{len(arrived)} spans reached the collector instead of {nowhere}"
        assert server.process.poll() is None
