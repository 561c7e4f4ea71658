"""Every component a rendered config uses is built into the collector (by the manifest), and
the manifest pins the version the template deploys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.collector.configs import (
    COLLECTOR_ANSWERS,
    CONFIG,
    KINDS,
    REPO_ROOT,
    load_config,
    used_components,
)

MANIFEST = REPO_ROOT / "collector" / "builder-manifest.yaml"


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def module_path(gomod: str) -> str:
    """``go.opentelemetry.io/x/y v0.158.0`` -> ``go.opentelemetry.io/x/y``."""
    return gomod.split()[0]


@pytest.fixture(scope="module")
def built_components(otelcol: Path) -> dict[str, dict[str, str]]:
    """Per kind: component type -> Go module, as the built collector reports them."""
    result = subprocess.run(
        [str(otelcol), "components"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = yaml.safe_load(result.stdout)
    return {
        kind: {entry["name"]: module_path(entry["module"]) for entry in report.get(kind) or []}
        for kind in KINDS
    }


@pytest.fixture(scope="module")
def used_by_any_config(render) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for answers in COLLECTOR_ANSWERS:
        for kind, types in used_components(load_config(render(answers))).items():
            used[kind] |= types
    return used


def test_configs_use_components_of_every_kind(used_by_any_config) -> None:
    # Guards the helper: a parsing slip must not make the coverage checks below vacuous.
    assert used_by_any_config["exporters"] >= {"otlp_grpc", "otlp_http", "prometheus", "debug"}
    assert used_by_any_config["connectors"] == {"span_metrics", "service_graph", "forward"}
    assert "tail_sampling" in used_by_any_config["processors"]
    assert all(used_by_any_config[kind] for kind in KINDS), used_by_any_config


@pytest.mark.parametrize("kind", KINDS)
def test_used_components_are_built_in(kind: str, used_by_any_config, built_components) -> None:
    # `components` lists canonical names only: a deprecated alias (otlp for otlp_grpc,
    # spanmetrics, ...) used in a config fails here too.
    missing = used_by_any_config[kind] - set(built_components[kind])
    assert not missing, (
        f"{kind} {sorted(missing)} are not in the built collector; it has "
        f"{sorted(built_components[kind])}"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_used_components_are_listed_in_the_manifest(
    kind: str, used_by_any_config, built_components
) -> None:
    listed = {module_path(entry["gomod"]) for entry in manifest().get(kind) or []}
    for component in sorted(used_by_any_config[kind] & set(built_components[kind])):
        module = built_components[kind][component]
        assert module in listed, f"{kind}: {component} ({module}) is not in {MANIFEST.name}"


def pinned_version() -> str:
    return yaml.safe_load((REPO_ROOT / "copier.yml").read_text())["otelcol_version"]["default"]


def test_manifest_version_matches_the_template_pin() -> None:
    pinned = pinned_version()
    spec = manifest()
    assert str(spec["dist"]["version"]) == pinned
    for kind in KINDS:
        for entry in spec.get(kind) or []:
            assert entry["gomod"].split()[1] == f"v{pinned}", entry["gomod"]


def test_rendered_config_names_the_pinned_version(render) -> None:
    assert f"collector-contrib {pinned_version()}" in (render() / CONFIG).read_text()
