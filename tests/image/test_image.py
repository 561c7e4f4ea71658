"""Image tier, per live case (each framework; the configuration file in CI on one, on
all with LIVE_FILE_MODE=all: tests/support/matrix.py): the rendered Dockerfile, built
unchanged from the lock on the stand-in base (scripts/install-podman), runs as the
rendered Deployment runs it (flags read from deploy/k8s/base/deployment.yaml): its
HEALTHCHECK turns healthy, it serves real requests, its telemetry reaches the real
collector at the endpoint the environment names, with the resource the environment sets
(in file mode through the file's ${VAR} references, while the variables the file ignores
change nothing), its log has no errors, and SIGTERM flushes the spans and stops it
within 5 s."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.stack import Collector, collector
from tests.support import otlp_json
from tests.support.file_mode import IGNORED_BY_THE_FILE
from tests.support.http import http_get, http_ok
from tests.support.pod_security import run_flags
from tests.support.podman import (
    BASE_PYTHON,
    build_image,
    image_size,
    image_tag_for,
    podman,
    remove_containers,
    wait_healthy,
)
from tests.support.processes import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.image]

SERVER = 2  # OTLP span kind
SHUTDOWN_BUDGET_S = 5.0
# The Python images are ~170 MB before the service; a budget catches a build stage, a
# compiler or a cache leaking into the runtime image.
IMAGE_SIZE_BUDGET = 350 * 1024 * 1024


# What the container's environment sets on its telemetry's resource.
ENVIRONMENT_NAME = "image-test"


@dataclass
class BuiltImage:
    tag: str
    project: Path
    run_flags: list[str]
    service: str
    telemetry_config: str

    @property
    def package(self) -> str:
        return yaml.safe_load((self.project / ".copier-answers.yml").read_text())["package_name"]


@pytest.fixture(scope="module")
def built(
    framework: str, telemetry_config: str, render, tmp_path_factory: pytest.TempPathFactory
) -> BuiltImage:
    service = f"{framework}-image" + ("-file" if telemetry_config == "file" else "")
    project = render(
        service_name=service,
        framework=framework,
        python_version=BASE_PYTHON,
        exporters=["otlp_http"],
        deploy_targets=["compose", "kubernetes"],
        telemetry_config=telemetry_config,
    )
    tag = image_tag_for(service)
    build_image(project, tag, tmp_path_factory.mktemp(f"{service}-build"))
    flags = run_flags(project / "deploy/k8s/base/deployment.yaml")
    return BuiltImage(tag, project, flags, service, telemetry_config)


@pytest.fixture(scope="module")
def telemetry(built: BuiltImage, otelcol: Path, tmp_path_factory) -> Iterator[Collector]:
    workdir = tmp_path_factory.mktemp("image-collector")
    with collector(otelcol, built.project / "collector/otelcol-config.yaml", workdir) as running:
        yield running


@dataclass
class Container:
    name: str
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr


@contextmanager
def container(built: BuiltImage, telemetry: Collector) -> Iterator[Container]:
    """The image, started as the Deployment starts it. Host networking keeps the service
    and the collector on loopback; PORT moves the service to a free port for that. The
    collector's port is not the default one: its telemetry arriving shows the endpoint
    variable took effect."""
    name = f"image-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    ignored = IGNORED_BY_THE_FILE if built.telemetry_config == "file" else {}
    try:
        podman(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            *built.run_flags,
            "--env",
            f"PORT={port}",
            "--env",
            f"OTEL_EXPORTER_OTLP_ENDPOINT={telemetry.otlp_endpoint}",
            "--env",
            "OTEL_METRIC_EXPORT_INTERVAL=1000",
            "--env",
            f"DEPLOYMENT_ENVIRONMENT={ENVIRONMENT_NAME}",
            "--env",
            f"OTEL_RESOURCE_ATTRIBUTES=k8s.container.name={name}",
            *(f"--env={variable}={value}" for variable, value in ignored.items()),
            built.tag,
        )
        running = Container(name, port)
        try:
            wait_until(lambda: http_ok(f"{running.base}/healthz"), 60, f"{name} to answer")
        except TimeoutError as error:
            pytest.fail(f"{error}; its log:\n{running.logs()[-3000:]}")
        yield running
    finally:
        remove_containers([name])


@pytest.fixture(scope="module")
def served(built: BuiltImage, telemetry: Collector) -> Iterator[Container]:
    with container(built, telemetry) as running:
        yield running


def server_spans(telemetry: Collector, service: str) -> list[dict]:
    return [
        s
        for s in otlp_json.spans(telemetry.records())
        if s["service"] == service and s["kind"] == SERVER
    ]


def metric_names(records: list[dict]) -> set[str]:
    return {
        metric["name"]
        for record in records
        for resource_metrics in record.get("resourceMetrics", [])
        for scope in resource_metrics.get("scopeMetrics", [])
        for metric in scope.get("metrics", [])
    }


def test_runs_with_the_deployments_security_settings(built: BuiltImage, served: Container):
    state = json.loads(podman("inspect", served.name).stdout)[0]
    host = state["HostConfig"]
    # The Deployment's runAsUser:runAsGroup is the image's own USER.
    image_user = podman("image", "inspect", "--format", "{{.Config.User}}", built.tag).stdout
    assert state["Config"]["User"] == image_user.strip(), (state["Config"]["User"], image_user)
    assert host["ReadonlyRootfs"] is True
    # --cap-drop=ALL: podman lists each dropped capability.
    assert {"CAP_NET_RAW", "CAP_CHOWN", "CAP_SETUID"} <= {c.upper() for c in host["CapDrop"]}
    assert "no-new-privileges" in " ".join(host["SecurityOpt"] or [])
    assert set(host["Tmpfs"]) == {"/tmp"}, host["Tmpfs"]


def test_healthcheck_turns_healthy(served: Container):
    wait_healthy(served.name)


def test_serves_real_requests(served: Container):
    for path in ("/hello", "/items/42", "/downstream", "/readyz"):
        status, body = http_get(served.base + path)
        assert status == 200, f"{path}: {status} {body[:300]!r}"


def test_the_image_carries_the_configuration_its_mode_reads(built: BuiltImage):
    """In file mode the installed package holds otel-config.yaml as rendered, and it is the
    file the bootstrap loads; in environment mode there is no such file to mislead."""
    probe = (
        f"import json, pathlib, {built.package}.telemetry as t; "
        "path = pathlib.Path(t.__file__).with_name('otel-config.yaml'); "
        "print(json.dumps({'default': t.DEFAULTS.get('OTEL_CONFIG_FILE'), 'path': str(path), "
        "'text': path.read_text() if path.exists() else None}))"
    )
    run = podman("run", "--rm", *built.run_flags, built.tag, "python", "-c", probe)
    found = json.loads(run.stdout)
    if built.telemetry_config == "environment":
        assert found["default"] is None and found["text"] is None, found
        return
    rendered = built.project / "src" / built.package / "telemetry" / "otel-config.yaml"
    assert found["text"] is not None, f"no {found['path']} in {built.tag}"
    assert found["text"] == rendered.read_text(), f"{found['path']} differs from {rendered}"
    assert found["default"] == found["path"], found
    assert found["path"].startswith("/opt/venv/"), found["path"]


def test_telemetry_reaches_the_collector(
    built: BuiltImage, served: Container, telemetry: Collector
):
    """Also in file mode, where the container's environment asks for no exporter and no
    sampling (IGNORED_BY_THE_FILE): the file is in charge and substitutes the endpoint,
    the environment name and the resource attributes the container was given."""
    assert http_get(served.base + "/downstream")[0] == 200
    service = built.service

    def traces() -> dict[str, int]:
        """Server spans per trace: /downstream calls /items/42 of the same service."""
        counts: dict[str, int] = {}
        for span in server_spans(telemetry, service):
            counts[span["traceId"]] = counts.get(span["traceId"], 0) + 1
        return counts

    wait_until(lambda: max(traces().values(), default=0) >= 2, 30, "/downstream's trace")
    resource = server_spans(telemetry, service)[0]["resource"]
    assert resource.get("deployment.environment.name") == ENVIRONMENT_NAME, resource
    assert resource.get("k8s.container.name") == served.name, resource
    wait_until(
        lambda: "http.server.request.duration" in metric_names(telemetry.records()),
        30,
        "the container's request metrics at the collector",
    )


def test_no_errors_in_the_containers_log(served: Container):
    """A read-only root the server cannot live with shows up here first: gunicorn logged
    `Control server error: [Errno 30] Read-only file system` at every start."""
    assert http_get(served.base + "/hello")[0] == 200
    errors = [
        line
        for line in served.logs().splitlines()
        if "[ERROR]" in line or '"level": "ERROR"' in line or "Traceback" in line
    ]
    assert not errors, "\n".join(errors)


def test_sigterm_flushes_and_exits_in_time(built: BuiltImage, telemetry: Collector):
    with container(built, telemetry) as running:
        assert http_get(running.base + "/items/7")[0] == 200
        started = time.monotonic()
        podman("kill", "--signal", "TERM", running.name)
        try:
            podman("wait", running.name, timeout=3 * SHUTDOWN_BUDGET_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after SIGTERM:\n{running.logs()[-3000:]}")
        took = time.monotonic() - started
        state = json.loads(podman("inspect", running.name).stdout)[0]["State"]
        assert took < SHUTDOWN_BUDGET_S, f"stopped after {took:.1f} s:\n{running.logs()[-3000:]}"
        assert state["ExitCode"] == 0, f"exit code {state['ExitCode']}:\n{running.logs()[-3000:]}"
        # Flushed on the way out: the container is gone, so a span that arrives now
        # was sent during its shutdown.
        wait_until(
            lambda: any(
                s["attrs"].get("url.path") == "/items/7"
                for s in server_spans(telemetry, built.service)
            ),
            15,
            "the last request's span after SIGTERM",
        )


def test_image_size_within_budget(built: BuiltImage):
    size = image_size(built.tag)
    assert size < IMAGE_SIZE_BUDGET, f"{built.tag}: {size / 1e6:.0f} MB"
