"""Tier 4, live end to end, per framework: two rendered services (frontend -> backend) on
their real servers send OTLP to the real collector running the rendered config; real
Prometheus scrapes the collector. Assertions use only what the collector wrote and what
Prometheus holds."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.stack import collector, prometheus, services
from tests.support import otlp_json
from tests.support.http import http_get
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.processes import free_port, wait_until
from tests.support.venvs import find_python, install_project

pytestmark = pytest.mark.slow

CARD_NUMBER = "4111111111111111"
SECRET_TOKEN = "Bearer s3cr3t-t0ken-e2e"
EMAIL = "jane.doe@example.com"
ITEM_ROUTES = {
    "flask": "/items/<int:item_id>",
    "fastapi": "/items/{item_id}",
    "django": "items/<int:item_id>",
}
SERVER, CLIENT = 2, 3  # OTLP span kinds
STATUS_ERROR = 2


def get(url: str, headers: dict[str, str] | None = None) -> int:
    return http_get(url, headers)[0]


def send_pii_span(collector_endpoint: str) -> str:
    """A span straight from this process over OTLP/HTTP JSON, carrying the PII the
    collector must remove. Returns its trace id."""
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    payload = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "pii-probe"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "checkout",
                                "kind": 1,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000100000000",
                                "attributes": [
                                    {"key": "user.email", "value": {"stringValue": EMAIL}},
                                    {
                                        "key": "http.request.header.authorization",
                                        "value": {
                                            "arrayValue": {
                                                "values": [{"stringValue": SECRET_TOKEN}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "payment.note",
                                        "value": {"stringValue": f"card {CARD_NUMBER}"},
                                    },
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    request = urllib.request.Request(
        f"{collector_endpoint}/v1/traces",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return trace_id


@pytest.fixture(scope="module")
def installed_pair(
    framework: str, telemetry_config: str, render
) -> dict[str, tuple[str, Path, Path]]:
    """The frontend and backend services for this framework, rendered and installed."""
    version = PYTHON_BY_FRAMEWORK[framework]
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine for the {framework} stack")
    answers = {
        "framework": framework,
        "python_version": version,
        "exporters": ["otlp_http"],
        "telemetry_config": telemetry_config,
    }
    pair = {}
    for role in ("frontend", "backend"):
        name = f"{framework}-{role}" + ("-file" if telemetry_config == "file" else "")
        project = render(answers, service_name=name)
        pair[role] = (name, project, install_project(project, python))
    return pair


def test_live_telemetry_reaches_collector_and_prometheus(
    framework: str, installed_pair, otelcol: Path, tmp_path: Path
) -> None:
    names = {role: name for role, (name, _, _) in installed_pair.items()}
    projects = {role: project for role, (_, project, _) in installed_pair.items()}
    bins = {role: bin_dir for role, (_, _, bin_dir) in installed_pair.items()}
    config = projects["frontend"] / "collector" / "otelcol-config.yaml"

    with (
        collector(otelcol, config, tmp_path) as col,
        prometheus(col.prometheus_port, tmp_path) as prom,
    ):
        common = {
            **col.service_env(),
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "authorization",
        }
        backend_port = free_port()
        specs = [
            ("backend", projects["backend"], bins["backend"], backend_port, common),
            (
                "frontend",
                projects["frontend"],
                bins["frontend"],
                free_port(),
                {**common, "DOWNSTREAM_URL": f"http://127.0.0.1:{backend_port}/items/7"},
            ),
        ]
        with services(specs, tmp_path) as running_services:
            front, back = running_services["frontend"], running_services["backend"]
            for _ in range(3):
                assert get(f"{front.base}/hello") == 200
                assert get(f"{front.base}/downstream") == 200
                assert get(f"{back.base}/items/3") == 200
            assert get(f"{back.base}/items/5000") == 404
            assert get(f"{front.base}/error") == 500
            assert get(f"{back.base}/items/{CARD_NUMBER}", {"Authorization": SECRET_TOKEN}) == 404
            pii_trace = send_pii_span(col.otlp_endpoint)

            def frontend_trace_complete() -> bool:
                spans = otlp_json.spans(col.records())
                return (
                    any(
                        s["service"] == names["backend"]
                        and s.get("parentSpanId")
                        and s["kind"] == SERVER
                        for s in spans
                    )
                    and any(s["service"] == "pii-probe" for s in spans)
                    and bool(otlp_json.logs(col.records()))
                )

            wait_until(
                frontend_trace_complete,
                30,
                "spans and logs of both services in the collector output",
            )

            def series(promql: str) -> bool:
                return bool(prom.query(promql))

            backend_selector = f'service_name="{names["backend"]}"'
            queries = [
                f'http_server_request_duration_seconds_count{{{backend_selector},http_route="{ITEM_ROUTES[framework]}"}}',
                f"app_items_lookups_total{{{backend_selector}}}",
                f'traces_span_metrics_calls_total{{service_name="{names["frontend"]}"}}',
                f'traces_service_graph_request_total{{client="{names["frontend"]}",server="{names["backend"]}"}}',
            ]
            for promql in queries:
                wait_until(lambda q=promql: series(q), 45, f"Prometheus series for {promql}")

        records = col.records()
        raw_output = col.output.read_text()

    spans = otlp_json.spans(records)
    servers = [s for s in spans if s["kind"] == SERVER]
    assert {s["service"] for s in servers} == set(names.values())

    item_spans = [
        s
        for s in servers
        if s["service"] == names["backend"]
        and s["attrs"].get("http.route") == ITEM_ROUTES[framework]
    ]
    # OTLP JSON carries 64-bit integers as strings.
    assert any(str(s["attrs"].get("http.response.status_code")) == "200" for s in item_spans)

    (error_span, *_) = [s for s in servers if s["attrs"].get("http.route") in ("/error", "error")]
    assert error_span["status"].get("code") == STATUS_ERROR
    assert any(event["name"] == "exception" for event in error_span.get("events", []))

    # The cross-service trace: backend server span is a child of the frontend client span.
    by_id = {s["spanId"]: s for s in spans}
    linked = [
        s
        for s in servers
        if s["service"] == names["backend"]
        and by_id.get(s.get("parentSpanId", ""), {}).get("kind") == CLIENT
    ]
    assert linked, "no backend server span whose parent is a frontend client span"
    client = by_id[linked[0]["parentSpanId"]]
    assert client["service"] == names["frontend"] and client["traceId"] == linked[0]["traceId"]

    # Log records correlate with real spans.
    logs = otlp_json.logs(records)
    span_keys = {(s["traceId"], s["spanId"]) for s in spans}
    correlated = [log for log in logs if (log.get("traceId"), log.get("spanId")) in span_keys]
    assert correlated, "no exported log record carries the ids of an exported span"
    # Trace ids and the service name are fields of the record and its resource already;
    # copies in the attributes would only make every record dearer to encode and store.
    copies = {"otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName", "trace_id"}
    for log in correlated:
        assert not copies & set(otlp_json.attributes(log.get("attributes", []))), log

    # Redaction: none of the secrets reaches the exporter output.
    for secret in (CARD_NUMBER, "s3cr3t-t0ken-e2e", EMAIL):
        assert secret not in raw_output, f"{secret!r} reached the exporter output"
    (pii_span,) = [s for s in spans if s["traceId"] == pii_trace]
    assert "http.request.header.authorization" not in pii_span["attrs"]
    assert pii_span["attrs"]["user.email"] != EMAIL


def test_sigterm_flushes_buffered_telemetry(
    framework: str, installed_pair, otelcol: Path, tmp_path: Path
) -> None:
    """With export delays far longer than the test, only the shutdown flush can deliver."""
    name, project, bin_dir = installed_pair["backend"]
    config = project / "collector" / "otelcol-config.yaml"
    with collector(otelcol, config, tmp_path) as col:
        hold = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": col.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "OTEL_BLRP_SCHEDULE_DELAY": "600000",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        }
        with services([("backend", project, bin_dir, free_port(), hold)], tmp_path) as started:
            service = started["backend"]
            assert get(f"{service.base}/items/11") == 200
            assert otlp_json.spans(col.records()) == []
            elapsed = service.process.stop()
        assert elapsed < 5.0, f"{framework} took {elapsed:.1f} s to stop"
        wait_until(
            lambda: any(
                s["service"] == name and s["kind"] == SERVER for s in otlp_json.spans(col.records())
            ),
            10,
            "the request's span, flushed at shutdown",
        )
        wait_until(lambda: bool(otlp_json.logs(col.records())), 10, "the logs flushed at shutdown")
