"""Compose tier with a message broker: the rendered compose.yaml of a FastAPI service with
RabbitMQ (one framework: the broker, worker and trace wiring in compose.yaml are the same
for all three, and tests/messaging runs each framework against a real broker), brought up
by podman-compose as tests/compose/stack.py does, with a RabbitMQ stand-in built from
Debian's rabbitmq-server (tests/compose/standins.py). Then: every container is healthy,
a POST /messages is accepted, processed by the worker container under the request's
trace, which Jaeger holds as one trace (server -> producer -> consumer), the worker's
counter is in Prometheus, the secrets planted in the request reach no container's log
and no span, and `down` leaves nothing behind."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.stack import (
    Ports,
    Replace,
    Stack,
    assert_down_leaves_nothing,
    get_json,
    override,
    running_stack,
)
from tests.compose.standins import rabbitmq_image, stack_images
from tests.messaging.live import json_lines, publish
from tests.support.http import http_get, http_ok
from tests.support.podman import BASE_PYTHON, wait_healthy
from tests.support.processes import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.compose, pytest.mark.xdist_group("compose-rabbitmq")]

FRAMEWORK = "fastapi"
SERVICE = f"{FRAMEWORK}-compose-rabbitmq"
TELEMETRY_NAME = f"{SERVICE}-renamed"
# What a careless client sends: none of it may leave the service or the worker.
CARD = "4111111111111111"
TOKEN = "s3cr3t-t0ken-compose"
PLANTED = (CARD, TOKEN)
# OTLP span kinds, as numbers or as the enum's names (JSON encodings differ).
SERVER = (2, "SPAN_KIND_SERVER")
PRODUCER = (4, "SPAN_KIND_PRODUCER")
CONSUMER = (5, "SPAN_KIND_CONSUMER")


@pytest.fixture(scope="module")
def management_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(render, otelcol: Path, tmp_path_factory, management_port: int) -> Iterator[Stack]:
    project = render(
        service_name=SERVICE,
        framework=FRAMEWORK,
        python_version=BASE_PYTHON,
        exporters=["otlp_http"],
        deploy_targets=["compose"],
        messaging="rabbitmq",
    )
    workdir = tmp_path_factory.mktemp("compose-rabbitmq")
    image, standins = stack_images(project, SERVICE, otelcol, workdir)
    rendered = yaml.safe_load((project / "compose.yaml").read_text())
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    # The worker is the same service: the same name on its telemetry, metrics every second.
    environment = {"OTEL_SERVICE_NAME": TELEMETRY_NAME}
    more = {
        "worker": {
            "image": image,
            "environment": {"OTEL_METRIC_EXPORT_INTERVAL": "1000", **environment},
        },
        "rabbitmq": {
            "image": rabbitmq_image(workdir),
            "ports": Replace([f"127.0.0.1:{management_port}:15672"]),
        },
    }
    text = override(SERVICE, image, standins, ports, rendered, environment, more)
    with running_stack(project, text, workdir, ports, SERVICE, TELEMETRY_NAME) as running:
        yield running


@pytest.fixture(scope="module")
def broker(stack: Stack) -> None:
    """RabbitMQ serving AMQP: healthy by compose.yaml's check of its listeners.
    compose.yaml's `depends_on: condition: service_healthy` makes Docker Compose wait for
    it; podman-compose with podman 4.3 does not, so the test does."""
    wait_healthy(stack.by_service()["rabbitmq"]["Id"], timeout=120)


@pytest.fixture(scope="module")
def accepted(stack: Stack, broker: None) -> dict[str, Any]:
    """One message published through the service, with secrets in payload and headers,
    under a trace the client started: its message_id and trace_id."""
    base = f"http://127.0.0.1:{stack.ports.service}"
    wait_until(lambda: http_ok(f"{base}/healthz"), 90, "the service to answer")
    trace_id = secrets.token_hex(16)
    headers = {
        "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        "Authorization": f"Bearer {TOKEN}",
    }
    payload = {"order": 17, "card": CARD, "note": f"Bearer {TOKEN}"}
    status, body, _ = publish(base, payload, key=f"card {CARD}", headers=headers)
    assert status == 202, body
    return {"message_id": body["message_id"], "trace_id": trace_id}


def worker_lines(stack: Stack) -> list[dict[str, Any]]:
    return json_lines(stack.logs("worker"))


def jaeger_trace(stack: Stack, trace_id: str) -> dict[str, Any] | None:
    status, body = http_get(f"http://127.0.0.1:{stack.ports.jaeger}/api/traces/{trace_id}")
    if status != 200:
        return None
    data = json.loads(body)["data"]
    return data[0] if data else None


def otlp_spans(stack: Stack, trace_id: str) -> list[dict[str, Any]]:
    """The trace's spans from Jaeger's OTLP (api_v3) endpoint."""
    url = f"http://127.0.0.1:{stack.ports.jaeger}/api/v3/traces/{trace_id}"
    result = get_json(url)["result"]
    return [
        span
        for resource in result["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def kind(span: dict[str, Any]) -> str | None:
    return next((t["value"] for t in span["tags"] if t["key"] == "span.kind"), None)


def complete_trace(stack: Stack, trace_id: str) -> dict[str, Any]:
    """The trace from Jaeger once it holds the server, producer and consumer spans."""
    found: dict[str, Any] = {}

    def complete() -> bool:
        found.update(jaeger_trace(stack, trace_id) or {})
        kinds = {kind(span) for span in found.get("spans", [])}
        return {"server", "producer", "consumer"} <= kinds

    wait_until(complete, 60, f"server, producer and consumer spans of {trace_id} in Jaeger")
    return found


def test_every_container_runs_and_is_healthy(stack: Stack):
    started = stack.by_service()
    expected = {SERVICE, "worker", "rabbitmq", "otel-collector", "jaeger", "prometheus"}
    assert set(started) == expected, sorted(started)
    for service, container in started.items():
        assert container["State"] == "running", f"{service}: {container['State']}\n{stack.report()}"
    # The service's from its image's HEALTHCHECK; the worker's, RabbitMQ's
    # (its listeners' check) and Prometheus's from compose.yaml.
    for service in (SERVICE, "worker", "rabbitmq", "prometheus"):
        wait_healthy(started[service]["Id"], timeout=120)


def test_management_ui_accepts_guest_on_the_published_port(
    stack: Stack, broker: None, management_port: int
):
    """compose.yaml's comment promises the management UI with guest/guest."""
    guest = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()}
    url = f"http://127.0.0.1:{management_port}/api/overview"

    def answers() -> bool:
        try:
            return http_get(url, guest)[0] == 200
        except OSError:  # not listening (yet)
            return False

    wait_until(answers, 30, f"RabbitMQ's management API on {url}")
    overview = get_json(url, guest)
    assert overview["management_version"], overview


def processed(stack: Stack, message_id: str) -> list[dict[str, Any]]:
    """The worker's log lines saying it processed ``message_id``, once it has."""

    def lines() -> list[dict[str, Any]]:
        return [
            line
            for line in worker_lines(stack)
            if line.get("message") == "processed message" and line.get("message_id") == message_id
        ]

    wait_until(lambda: bool(lines()), 60, "the worker container to process the message")
    return lines()


def test_the_worker_processes_the_message_in_the_requests_trace(
    stack: Stack, accepted: dict[str, Any]
):
    (line,) = processed(stack, accepted["message_id"])
    assert line["trace_id"] == accepted["trace_id"], line


def test_jaeger_holds_request_publish_and_consume_as_one_trace(
    stack: Stack, accepted: dict[str, Any]
):
    trace_id = accepted["trace_id"]
    trace = complete_trace(stack, trace_id)
    spans = trace["spans"]
    assert {span["traceID"] for span in spans} == {trace_id}
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert services == {TELEMETRY_NAME}, services
    # Parent and link as the producer sent them: Jaeger's OTLP API (its v1 JSON folds a
    # link to the parent into the parent's reference).
    otlp = otlp_spans(stack, trace_id)
    by_id = {span["spanId"]: span for span in otlp}
    (producer,) = [s for s in otlp if s["kind"] in PRODUCER]
    (consumer,) = [s for s in otlp if s["kind"] in CONSUMER]
    assert producer["name"].endswith(" send"), producer["name"]
    assert consumer["name"].endswith(" receive"), consumer["name"]
    # The consumer's parent is the producer, and it links to it.
    assert consumer["parentSpanId"] == producer["spanId"], consumer
    links = [(link["traceId"], link["spanId"]) for link in consumer.get("links", [])]
    assert links == [(producer["traceId"], producer["spanId"])], consumer
    # The producer runs inside the request's server span.
    server = by_id[producer["parentSpanId"]]
    assert server["kind"] in SERVER, server
    route = [a["value"] for a in server["attributes"] if a["key"] == "http.route"]
    assert route == [{"stringValue": "/messages"}], server["attributes"]


def test_the_workers_counter_reaches_prometheus(stack: Stack, accepted: dict[str, Any]):
    prometheus = f"http://127.0.0.1:{stack.ports.prometheus}"
    promql = f'app_messages_processed_total{{service_name="{TELEMETRY_NAME}"}}'

    def counted() -> bool:
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = http_get(url)
        result = json.loads(body)["data"]["result"] if status == 200 else []
        return any(float(series["value"][1]) >= 1 for series in result)

    wait_until(counted, 90, f"{promql} >= 1 in Prometheus")


def test_planted_secrets_reach_no_log_and_no_span(stack: Stack, accepted: dict[str, Any]):
    processed(stack, accepted["message_id"])
    # The whole trace, the worker's span included: a partial one would hide a leak.
    trace = complete_trace(stack, accepted["trace_id"])
    outputs = {service: stack.logs(service) for service in stack.by_service()}
    outputs["jaeger trace"] = json.dumps(trace)
    for where, text in outputs.items():
        for planted in PLANTED:
            assert planted not in text, f"{planted!r} leaked into the {where}"


def test_down_leaves_nothing_running(stack: Stack):
    assert_down_leaves_nothing(stack)
