"""With the configuration file in charge, the SDK ignores the OTEL_* variables that have an
equivalent in it: a variable the manifests set for the service's containers must be one
the file references as ${VAR...} (or one read outside the SDK's configuration), or that
deployment setting is silently dropped. And the ones a cluster must set (endpoint,
service name, the pod's identity, the environment name) are set and referenced."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.cases import ALL_RENDERS, OVERLAYS, case_id
from tests.k8s.conftest import Build, BuildOverlay
from tests.k8s.workloads import WORKLOAD_KINDS, answers_of, pod_spec

FILE_CASES = [case for case in ALL_RENDERS if case.get("telemetry_config") == "file"]

# The substitution syntax of opentelemetry-configuration (file/_env_substitution.py).
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")

# Read by something other than the SDK's configuration, so the file need not name them:
# the bootstrap (which file to load; the URLs without telemetry) and the instrumentations
# (which semantic conventions to emit).
READ_OUTSIDE_THE_FILE = {
    "OTEL_CONFIG_FILE",
    "OTEL_PYTHON_EXCLUDED_URLS",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
}

# What every pod of the service must be able to change without editing the file.
CLUSTER_SETTINGS = {"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "DEPLOYMENT_ENVIRONMENT"}


def file_references(project: Path) -> set[str]:
    """Every variable the project's otel-config.yaml substitutes, in any value."""
    package = answers_of(project)["package_name"]
    config = yaml.safe_load((project / "src" / package / "telemetry/otel-config.yaml").read_text())
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            found.update(REFERENCE.findall(node))

    walk(config)
    return found


def service_containers(built: Build, image: str) -> list[tuple[str, dict[str, Any]]]:
    """(workload/container, container) of every container running the service's image:
    the web pods and, with messaging, the worker's."""
    return [
        (f"{workload['metadata']['name']}/{container['name']}", container)
        for kind in WORKLOAD_KINDS
        for workload in built.of_kind(kind)
        for container in pod_spec(workload)["containers"]
        if container["image"].split(":")[0].rsplit("/", 1)[-1] == image
    ]


def environment_names(built: Build, container: dict[str, Any]) -> set[str]:
    """The variables a container gets: its env entries and its envFrom ConfigMaps' keys."""
    names = {entry["name"] for entry in container.get("env", [])}
    for source in container.get("envFrom", []):
        config_map = built.get("ConfigMap", source["configMapRef"]["name"])
        names.update(config_map.get("data", {}))
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("answers", FILE_CASES, ids=case_id)
def test_every_otel_variable_the_manifests_set_is_read_by_the_file(
    render, build_overlay: BuildOverlay, answers: dict[str, Any], overlay: str
) -> None:
    project = render(answers)
    built = build_overlay(project, overlay)
    referenced = file_references(project)
    containers = service_containers(built, answers["service_name"])
    expected = 2 if answers.get("messaging", "none") != "none" else 1
    assert len(containers) == expected, [name for name, _ in containers]
    for name, container in containers:
        names = environment_names(built, container)
        ignored = {
            variable
            for variable in names
            if variable.startswith("OTEL_") and variable not in referenced | READ_OUTSIDE_THE_FILE
        }
        assert not ignored, f"{name} sets {sorted(ignored)}, which the file never reads"
        required = CLUSTER_SETTINGS | {"OTEL_EXPORTER_OTLP_ENDPOINT"}
        assert required <= names, f"{name} does not set {sorted(required - names)}"
        assert required <= referenced, f"the file ignores {sorted(required - referenced)}"
