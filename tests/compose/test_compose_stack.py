"""Compose tier, per live case (each framework; the configuration file in CI on one, on
all with LIVE_FILE_MODE=all: tests/support/matrix.py): podman-compose brings up the
rendered compose.yaml, with a test-only override file that swaps in locally built images
(the service's, and stand-ins for the collector, Jaeger v2 and Prometheus:
tests/compose/standins.py), publishes on free loopback ports, renames the service's
telemetry, and leaves the AGPL services (Grafana, Loki) out of the run. Then: every
container is running and the ones with a healthcheck are healthy, a request's trace is in
Jaeger with the service's spans under the name and environment compose gave it (in file
mode through the file's ${VAR} references, while the variables the file ignores change
nothing), its metrics are in Prometheus through the collector's mounted config, and `down`
leaves nothing behind."""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.stack import (
    ENVIRONMENT_NAME,
    Ports,
    Stack,
    assert_down_leaves_nothing,
    get_json,
    override,
    running_stack,
)
from tests.compose.standins import stack_images
from tests.support.file_mode import IGNORED_BY_THE_FILE
from tests.support.http import http_get, http_ok
from tests.support.podman import BASE_PYTHON, podman, wait_healthy
from tests.support.processes import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.compose]

SERVER, CLIENT = "server", "client"


@pytest.fixture(scope="module")
def stack(
    framework: str, telemetry_config: str, render, otelcol: Path, tmp_path_factory
) -> Iterator[Stack]:
    service = f"{framework}-compose" + ("-file" if telemetry_config == "file" else "")
    project = render(
        service_name=service,
        framework=framework,
        python_version=BASE_PYTHON,
        exporters=["otlp_http"],
        deploy_targets=["compose", "kubernetes"],
        telemetry_config=telemetry_config,
    )
    workdir = tmp_path_factory.mktemp(f"{framework}-compose")
    image, standins = stack_images(project, service, otelcol, workdir)
    rendered = yaml.safe_load((project / "compose.yaml").read_text())
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    environment = {
        "OTEL_SERVICE_NAME": f"{service}-renamed",
        **(IGNORED_BY_THE_FILE if telemetry_config == "file" else {}),
    }
    text = override(service, image, standins, ports, rendered, environment)
    telemetry_name = environment["OTEL_SERVICE_NAME"]
    with running_stack(project, text, workdir, ports, service, telemetry_name) as running:
        yield running


def test_every_container_runs_and_is_healthy(stack: Stack):
    containers = stack.containers()
    started = {c["Labels"]["com.docker.compose.service"]: c for c in containers}
    assert set(started) == {stack.service, "otel-collector", "jaeger", "prometheus"}, sorted(
        started
    )
    probed = set()
    for service, container in started.items():
        if container["State"] != "running":
            log = podman("logs", container["Id"], check=False)
            pytest.fail(f"{service} {container['State']}:\n{(log.stdout + log.stderr)[-3000:]}")
        inspect = json.loads(podman("inspect", container["Id"]).stdout)[0]
        if inspect["Config"].get("Healthcheck"):
            wait_healthy(container["Id"], timeout=90)
            probed.add(service)
    # The service's from its image's HEALTHCHECK, Prometheus's from compose.yaml.
    assert probed == {stack.service, "prometheus"}, probed


def test_a_requests_trace_is_in_jaeger(stack: Stack):
    base = f"http://127.0.0.1:{stack.ports.service}"
    wait_until(lambda: http_ok(f"{base}/healthz"), 60, "the service to answer")
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    status, body = http_get(f"{base}/downstream", headers)
    assert status == 200, body

    jaeger = f"http://127.0.0.1:{stack.ports.jaeger}"
    spans: list[dict[str, Any]] = []

    def trace_complete() -> bool:
        status, body = http_get(f"{jaeger}/api/traces/{trace_id}")
        if status != 200:
            return False
        data = json.loads(body)["data"]
        spans[:] = [span for trace in data for span in trace["spans"]]
        return len(spans) >= 3

    wait_until(trace_complete, 60, f"trace {trace_id} in Jaeger")
    data = get_json(f"{jaeger}/api/traces/{trace_id}")["data"][0]
    services = {p["serviceName"] for p in data["processes"].values()}
    assert services == {stack.telemetry_name}, services
    environments = {
        tag["value"]
        for process in data["processes"].values()
        for tag in process["tags"]
        if tag["key"] == "deployment.environment.name"
    }
    assert environments == {ENVIRONMENT_NAME}, environments
    kinds = [
        next((t["value"] for t in span["tags"] if t["key"] == "span.kind"), None) for span in spans
    ]
    # /downstream's server span, its httpx client span, and /items/42's server span.
    assert kinds.count(SERVER) >= 2 and kinds.count(CLIENT) >= 1, kinds


def test_metrics_reach_prometheus_through_the_mounted_config(stack: Stack):
    base = f"http://127.0.0.1:{stack.ports.service}"
    wait_until(lambda: http_ok(f"{base}/healthz"), 60, "the service to answer")
    assert http_get(f"{base}/items/3")[0] == 200
    prometheus = f"http://127.0.0.1:{stack.ports.prometheus}"

    def series(promql: str) -> list[dict[str, Any]]:
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = http_get(url)
        return json.loads(body)["data"]["result"] if status == 200 else []

    selector = f'{{service_name="{stack.telemetry_name}"}}'
    # The service's own histogram, through the collector's Prometheus exporter.
    wait_until(
        lambda: bool(series(f"http_server_request_duration_seconds_count{selector}")),
        90,
        "the service's request metrics in Prometheus",
    )
    # span_metrics exists only in the project's config file: the collector read the
    # mounted file (the stand-in image has no configuration of its own).
    wait_until(
        lambda: bool(series(f"traces_span_metrics_calls_total{selector}")),
        90,
        "span metrics from the collector's connector in Prometheus",
    )
    # compose.yaml's prometheus.yml scrapes the collector's own telemetry too.
    wait_until(
        lambda: bool(series('up{job="otel-collector-internal"} == 1')),
        60,
        "Prometheus to scrape the collector's own metrics",
    )


def test_prometheus_loads_the_service_and_collector_rules(stack: Stack):
    """The stack's Prometheus evaluates the service's SLO rules and the alerts for the
    collector compose runs, with Kubernetes on the platform's collector too."""
    prometheus = f"http://127.0.0.1:{stack.ports.prometheus}"
    groups: set[str] = set()

    def rules_loaded() -> bool:
        try:
            status, body = http_get(f"{prometheus}/api/v1/rules")
        except OSError:  # not listening yet
            return False
        if status == 200:
            groups.update(g["name"] for g in json.loads(body)["data"]["groups"])
        return bool(groups)

    wait_until(rules_loaded, 60, "Prometheus to load its rules")
    service = stack.service
    assert {f"{service}-slo-recording", f"{service}-otel-collector"} <= groups, groups


def test_collector_logs_no_config_errors(stack: Stack):
    logs = stack.compose("logs", "otel-collector")
    text = logs.stdout + logs.stderr
    assert "Everything is ready" in text, text[-3000:]


def test_down_leaves_nothing_running(stack: Stack):
    assert_down_leaves_nothing(stack)
