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

import contextlib
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.standins import collector_image, jaeger_image, prometheus_image
from tests.support.file_mode import IGNORED_BY_THE_FILE
from tests.support.http import http_get, http_ok
from tests.support.podman import BASE_PYTHON, build_image, image_tag_for, podman, wait_healthy
from tests.support.processes import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.compose]

# Not built or run here (AGPL): schema-checked by tests/deploy only.
LEFT_OUT = ("grafana", "loki", "tempo")
SERVER, CLIENT = "server", "client"
# deployment.environment.name, from the shell through compose.yaml's
# ${DEPLOYMENT_ENVIRONMENT:-local}.
ENVIRONMENT_NAME = "compose-test"


class Replace(list):
    """`!override` on a list: replaces the rendered list instead of extending it."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Replace, lambda d, data: d.represent_sequence("!override", list(data)))


@dataclass
class Ports:
    service: int
    jaeger: int
    prometheus: int
    collector_health: int


def override(
    service: str,
    image: str,
    standins: dict[str, str],
    ports: Ports,
    rendered: dict[str, Any],
    environment: dict[str, str],
) -> str:
    """The test-only compose file layered over the rendered one: images built here, every
    port on a free loopback port, the service's ``environment`` added, and the AGPL
    services in a profile nobody starts."""
    services: dict[str, Any] = {
        service: {
            # Built by this test from the same Dockerfile (with pip reaching the index as
            # this machine's pip does): `up` builds only an image that does not exist.
            "image": image,
            "ports": Replace([f"127.0.0.1:{ports.service}:8000"]),
            "environment": {"OTEL_METRIC_EXPORT_INTERVAL": "1000", **environment},
        },
        "otel-collector": {
            "image": standins["otelcol"],
            "ports": Replace([f"127.0.0.1:{ports.collector_health}:13133"]),
            "environment": {
                "OTEL_COLLECTOR_METRICS_FLUSH_INTERVAL": "1s",
                # Loki is not started: its exporter sends nowhere (a refused connection).
                "LOGS_BACKEND_ENDPOINT": "http://127.0.0.1:9/otlp",
            },
            # The short form: podman-compose's !override reads one level of mapping only.
            "depends_on": Replace(["jaeger"]),
        },
        "jaeger": {
            "image": standins["jaeger"],
            "ports": Replace([f"127.0.0.1:{ports.jaeger}:16686"]),
        },
        "prometheus": {
            "image": standins["prometheus"],
            "ports": Replace([f"127.0.0.1:{ports.prometheus}:9090"]),
        },
    }
    for name in LEFT_OUT:
        if name in rendered["services"]:
            services[name] = {"profiles": ["agpl-not-run-by-tests"]}
    return yaml.dump({"services": services}, Dumper=_Dumper, sort_keys=False)


@dataclass
class Stack:
    project: Path
    name: str
    files: list[Path]
    ports: Ports
    service: str
    # service.name on its telemetry: OTEL_SERVICE_NAME, set by the override file.
    telemetry_name: str

    def command(self) -> list[str]:
        """podman-compose (from this virtualenv) with the project name and both files."""
        return [
            str(Path(sys.executable).with_name("podman-compose")),
            "--project-name",
            self.name,
            *(arg for path in self.files for arg in ("--file", str(path))),
        ]

    def compose(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """podman-compose with both files. It waits for ever on a dependency that exited
        (`podman wait --condition=running`): past ``timeout`` the test fails with the
        state and log of every container."""
        try:
            return subprocess.run(
                [*self.command(), *args],
                cwd=self.project,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            pass
        pytest.fail(f"podman-compose {' '.join(args)}: no exit in {timeout:.0f} s\n{self.report()}")

    def report(self) -> str:
        """Each container's service, state and log tail."""
        lines = []
        for container in self.containers():
            log = podman("logs", "--tail", "8", container["Id"], check=False)
            service = container["Labels"].get("com.docker.compose.service")
            lines.append(f"--- {service}: {container['State']}\n{log.stdout}{log.stderr}")
        return "\n".join(lines)

    def containers(self) -> list[dict[str, Any]]:
        """Every container of this project, whatever its state."""
        label = f"label=io.podman.compose.project={self.name}"
        listing = podman("ps", "--all", "--format", "json", "--filter", label).stdout
        return json.loads(listing or "[]")


def get_json(url: str) -> Any:
    status, body = http_get(url)
    assert status == 200, f"{url}: {status} {body[:500]!r}"
    return json.loads(body)


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
    image = image_tag_for(service)
    build_image(project, image, workdir)
    standins = {
        "otelcol": collector_image(otelcol, workdir),
        "jaeger": jaeger_image(workdir),
        "prometheus": prometheus_image(workdir),
    }
    rendered = yaml.safe_load((project / "compose.yaml").read_text())
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    override_file = workdir / "compose.test.yaml"
    environment = {
        "OTEL_SERVICE_NAME": f"{service}-renamed",
        **(IGNORED_BY_THE_FILE if telemetry_config == "file" else {}),
    }
    override_file.write_text(override(service, image, standins, ports, rendered, environment))
    name = f"{service}-{uuid.uuid4().hex[:6]}"
    files = [project / "compose.yaml", override_file]
    running = Stack(project, name, files, ports, service, environment["OTEL_SERVICE_NAME"])
    try:
        shell = {**os.environ, "DEPLOYMENT_ENVIRONMENT": ENVIRONMENT_NAME}
        up = running.compose("up", "--detach", env=shell)
        assert up.returncode == 0, f"compose up failed:\n{up.stderr[-3000:]}\n{running.report()}"
        yield running
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                [*running.command(), "down", "--timeout", "10"],
                cwd=project,
                capture_output=True,
                timeout=180,
            )
        # Whatever `down` missed (test_down_leaves_nothing_running reports it).
        if leftovers := running.containers():
            podman("rm", "--force", *[c["Id"] for c in leftovers], check=False)
        podman("network", "rm", "--force", f"{name}_default", check=False)


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
    down = stack.compose("down", "--timeout", "10")
    assert down.returncode == 0, down.stderr[-3000:]
    assert stack.containers() == [], stack.containers()
    networks = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [n for n in networks if n.startswith(stack.name)], networks
