"""Tail sampling in the real collector, with the rendered gateway config (the file compose
and the Kubernetes gateway both run): an error trace and a slow trace reach the backend
pipeline, a fast successful one does not (ratio 0), and span_metrics counts all three."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.collector import CollectorPorts, running_collector
from tests.support.http import http_get
from tests.support.processes import wait_until

ANSWERS = {
    "service_name": "tail-live",
    "deploy_targets": ["kubernetes"],
    "tail_sampling": True,
    "slow_trace_threshold_ms": 200,
    "tail_sampling_ratio": 0,
}
TRACES = {
    # name: (trace id, duration in ms, OTLP status code: 0 unset, 2 error)
    "fast-ok": ("0af7651916cd43dd8448eb211c80319c", 10, 0),
    "fast-error": ("1bf7651916cd43dd8448eb211c80319c", 10, 2),
    "slow-ok": ("2cf7651916cd43dd8448eb211c80319c", 500, 0),
}


def otlp_json_traces() -> dict[str, Any]:
    now = time.time_ns()
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{index + 1:016x}",
            "name": name,
            "kind": 2,
            "startTimeUnixNano": str(now - duration_ms * 1_000_000),
            "endTimeUnixNano": str(now),
            "status": {"code": status},
        }
        # The dropped trace first: once the later ones are written, its decision is made.
        for index, (name, (trace_id, duration_ms, status)) in enumerate(TRACES.items())
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "tail-live"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def exported_span_names(output: Path) -> set[str]:
    if not output.exists():
        return set()
    text = output.read_text()
    names = set()
    for line in text[: text.rfind("\n") + 1].splitlines():
        for resource_spans in json.loads(line)["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                names.update(span["name"] for span in scope_spans["spans"])
    return names


@pytest.mark.slow
def test_gateway_keeps_errors_and_slow_traces_and_counts_every_span(
    render, otelcol: Path, tmp_path: Path
) -> None:
    config = render(ANSWERS) / "collector" / "otelcol-config.yaml"
    output = tmp_path / "sampled.jsonl"
    # Test-only layer: a shorter decision wait, and the sampled pipeline written to a file
    # instead of the (absent) backend.
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "processors": {"tail_sampling": {"decision_wait": "1s"}},
                "exporters": {"file/sampled": {"path": str(output), "flush_interval": "100ms"}},
                "service": {"pipelines": {"traces/sampled": {"exporters": ["file/sampled"]}}},
            }
        )
    )
    ports = CollectorPorts()
    with running_collector(otelcol, [config, overlay], tmp_path, ports):
        request = urllib.request.Request(
            f"{ports.otlp_endpoint}/v1/traces",
            data=json.dumps(otlp_json_traces()).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

        kept = {"fast-error", "slow-ok"}
        wait_until(lambda: kept <= exported_span_names(output), 30, "the sampled traces")
        # All three arrived in one request, so they were decided in the same round.
        assert exported_span_names(output) == kept

        def counted() -> set[str]:
            _, body = http_get(f"http://127.0.0.1:{ports.prometheus}/metrics")
            lines = body.decode().splitlines()
            calls = [line for line in lines if line.startswith("traces_span_metrics_calls_total")]
            return {name for name in TRACES if any(f'span_name="{name}"' in c for c in calls)}

        wait_until(lambda: counted() == set(TRACES), 30, "span_metrics for every span")
