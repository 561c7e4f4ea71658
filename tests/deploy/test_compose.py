"""The rendered compose.yaml and its configs under deploy/compose/: valid against the
Compose Specification, wired to the project's own collector config, every image pinned.

No Docker engine is needed: the files are validated, not run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from generator.copier_extension import COMPOSE_SERVICES
from generator.rendering import TEMPLATE_ROOT
from tests.deploy.cases import COMPOSE_CASES, case_id


@cache
def compose_spec_schema() -> dict[str, Any]:
    """The Compose Specification schema as check-jsonschema vendors it from compose-spec."""
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


@pytest.fixture(params=COMPOSE_CASES, ids=case_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


def load_compose(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "compose.yaml").read_text())


def answers_of(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_compose_file_matches_the_compose_specification(project: Path) -> None:
    schema = compose_spec_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(load_compose(project)), key=lambda e: e.json_path
    )
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_collector_mounts_the_projects_own_config(project: Path) -> None:
    collector = load_compose(project)["services"]["otel-collector"]
    assert "./collector/otelcol-config.yaml:/etc/otelcol/config.yaml:ro" in collector["volumes"]
    assert collector["command"] == ["--config=/etc/otelcol/config.yaml"]
    assert (project / "collector" / "otelcol-config.yaml").is_file()


def test_every_bind_mount_exists_in_the_project(project: Path) -> None:
    for name, service in load_compose(project)["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (project / source).exists(), f"{name} mounts missing {source}"


def test_every_image_is_pinned_to_a_version(project: Path) -> None:
    services = load_compose(project)["services"]
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and "@" not in image, f"{name}: image {image} is not pinned"
    collector_image = services["otel-collector"]["image"]
    copier = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    otelcol_version = copier["otelcol_version"]["default"]
    assert collector_image == f"otel/opentelemetry-collector-contrib:{otelcol_version}"


def test_backends_follow_the_answers(project: Path) -> None:
    answers = answers_of(project)
    services = load_compose(project)["services"]
    assert answers["traces_backend"] in services
    assert ({"jaeger", "tempo"} - {answers["traces_backend"]}).isdisjoint(services)
    assert ("loki" in services) == (answers["logs_backend"] == "loki")
    assert (project / "deploy/compose/tempo.yaml").exists() == (
        answers["traces_backend"] == "tempo"
    )
    collector_needs = services["otel-collector"]["depends_on"]
    assert answers["traces_backend"] in collector_needs


def test_service_exports_to_the_collector(project: Path) -> None:
    answers = answers_of(project)
    service = load_compose(project)["services"][answers["service_name"]]
    assert service["build"] == "."
    endpoint = service["environment"].get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if "otlp_http" in answers["exporters"]:
        assert endpoint == "http://otel-collector:4318"
    elif "otlp_grpc" in answers["exporters"]:
        assert endpoint == "http://otel-collector:4317"
    else:
        assert endpoint is None


def test_depends_on_waits_for_health_where_a_healthcheck_exists(project: Path) -> None:
    services = load_compose(project)["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = (
                "service_healthy" if "healthcheck" in services[dependency] else "service_started"
            )
            assert condition == {"condition": expected}, f"{name} -> {dependency}"


def test_deploy_configs_parse(project: Path) -> None:
    configs = sorted((project / "deploy").rglob("*.y*ml"))
    assert len(configs) >= 3
    for path in configs:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


def test_grafana_links_point_at_provisioned_datasources(project: Path) -> None:
    answers = answers_of(project)
    provisioning = project / "deploy/compose/grafana/provisioning"
    datasources = yaml.safe_load((provisioning / "datasources/datasources.yaml").read_text())
    by_uid = {source["uid"]: source for source in datasources["datasources"]}
    expected = {"prometheus", answers["traces_backend"]}
    if answers["logs_backend"] == "loki":
        expected.add("loki")
    assert set(by_uid) == expected
    traces = by_uid[answers["traces_backend"]].get("jsonData", {})
    if answers["logs_backend"] == "loki":
        assert traces["tracesToLogsV2"]["datasourceUid"] == "loki"
        (derived,) = by_uid["loki"]["jsonData"]["derivedFields"]
        assert derived["datasourceUid"] == answers["traces_backend"]
        # Grafana expands ${...} in provisioning files: the link's variable is escaped.
        assert derived["url"] == "$${__value.raw}"
    else:
        assert "tracesToLogsV2" not in traces
    (provider,) = yaml.safe_load((provisioning / "dashboards/dashboards.yaml").read_text())[
        "providers"
    ]
    grafana = load_compose(project)["services"]["grafana"]
    assert f"./observability/dashboards:{provider['options']['path']}:ro" in (grafana["volumes"])


def test_promtool_accepts_the_prometheus_config(project: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not on PATH: scripts/test installs Debian's prometheus package")
    config = project / "deploy/compose/prometheus.yml"
    result = subprocess.run(
        [promtool, "check", "config", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    scrape = yaml.safe_load(config.read_text())["scrape_configs"]
    collector_job = next(job for job in scrape if job["job_name"] == "otel-collector")
    assert collector_job["honor_labels"] is True
    assert collector_job["static_configs"] == [{"targets": ["otel-collector:8889"]}]


def test_prometheus_scrapes_each_process_with_an_exporter(project: Path) -> None:
    """The web and worker containers' in-process exporters, at the ports their code takes."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    scrape = yaml.safe_load((project / "deploy/compose/prometheus.yml").read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    package = project / "src" / answers["package_name"]
    expected = set()
    if "prometheus" in answers["exporters"]:
        expected.add(f"{answers['service_name']}:9464")
        if answers.get("messaging", "none") != "none":
            worker = (package / "worker.py").read_text()
            (port,) = re.findall(r'^WORKER_PROMETHEUS_PORT = "(\d+)"$', worker, re.MULTILINE)
            expected.add(f"worker:{port}")
    exporters = {t for t in targets if not t.startswith(("otel-collector:", "localhost:"))}
    assert exporters == expected


@pytest.mark.parametrize(
    ("deploy_targets", "has_compose"),
    [([], False), (["kubernetes"], False), (["compose"], True), (["compose", "kubernetes"], True)],
)
def test_deploy_targets_decide_whether_compose_is_rendered(
    render, deploy_targets: list[str], has_compose: bool
) -> None:
    project = render(service_name="targets-svc", deploy_targets=deploy_targets)
    assert (project / "compose.yaml").exists() == has_compose
    assert (project / "deploy" / "compose").exists() == has_compose
    assert (project / "Dockerfile").is_file() and (project / ".dockerignore").is_file()


def test_every_port_is_published_on_loopback_only(project: Path) -> None:
    for name, service in load_compose(project)["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_grafana_lets_anonymous_visitors_view_only(project: Path) -> None:
    environment = load_compose(project)["services"]["grafana"]["environment"]
    if environment.get("GF_AUTH_ANONYMOUS_ENABLED") == "true":
        assert environment.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer", environment
    assert environment.get("GF_AUTH_DISABLE_LOGIN_FORM") != "true", "no way to log in as admin"


def test_env_example_names_only_variables_compose_reads(project: Path) -> None:
    compose_text = (project / "compose.yaml").read_text()
    example = (project / ".env.example").read_text()
    names = [line.split("=", 1)[0] for line in example.splitlines() if "=" in line]
    assert names, ".env.example sets nothing"
    for name in names:
        assert f"${{{name}:-" in compose_text, f".env.example sets {name}, compose.yaml ignores it"
    assert ".env" in (project / ".gitignore").read_text().split()


@pytest.mark.parametrize(
    ("target", "variables", "expected"),
    [
        ("image", ["CONTAINER_ENGINE=podman"], "podman build --format docker -t"),
        ("image", [], "docker build  -t"),
        ("up", ["CONTAINER_ENGINE=podman"], "podman compose up --build --detach"),
        ("down", ["COMPOSE=podman-compose"], "podman-compose down"),
        ("validate-collector", ["CONTAINER_ENGINE=podman"], "podman run --rm -v"),
    ],
)
def test_make_targets_use_the_chosen_container_engine(
    render, target: str, variables: list[str], expected: str
) -> None:
    project = render(COMPOSE_CASES[0])
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", target, *variables],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert expected in dry_run.stdout, dry_run.stdout


def test_service_names_taken_by_the_stack_are_refused(project: Path) -> None:
    """Every compose service but the app is one the service_name validator refuses, so an
    answer can never replace the collector, a backend, the broker or the worker."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    services = set(yaml.safe_load((project / "compose.yaml").read_text())["services"])
    assert answers["service_name"] in services
    assert services - {answers["service_name"]} <= COMPOSE_SERVICES
