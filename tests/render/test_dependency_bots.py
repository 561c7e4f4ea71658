"""The rendered Renovate and Dependabot configs: Renovate's own validator accepts
renovate.json, and both bump every OpenTelemetry package of uv.lock in one group."""

from __future__ import annotations

import json
import re
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.built_tools import built_tool
from tests.support.venvs import lock_project

CI_ANSWERS = ["github", "gitlab", "none"]


@pytest.fixture(scope="module")
def validator() -> Path:
    return built_tool("install-renovate", "RENOVATE_VALIDATOR_BIN", timeout=900)


def validate(validator: Path, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(validator), "--strict", "renovate.json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", CI_ANSWERS)
def test_renovate_validator_accepts_the_config(render, validator: Path, ci: str) -> None:
    result = validate(validator, render(ci=ci))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config validated successfully" in result.stdout


def test_renovate_validator_rejects_a_broken_config(render, validator: Path, tmp_path) -> None:
    project = tmp_path / "svc"
    project.mkdir()
    config = json.loads((render() / "renovate.json").read_text())
    config["packageRules"][0]["groupNme"] = config["packageRules"][0].pop("groupName")
    (project / "renovate.json").write_text(json.dumps(config))
    result = validate(validator, project)
    assert result.returncode != 0
    assert "groupNme" in result.stdout + result.stderr


def opentelemetry_packages(project: Path) -> list[str]:
    lock = lock_project(project).read_text()
    names = re.findall(r'^name = "([^"]+)"$', lock, flags=re.MULTILINE)
    found = sorted(name for name in names if name.startswith("opentelemetry"))
    assert len(found) >= 8, found  # api, sdk, exporters, instrumentations, semconv, ...
    return found


def renovate_group(rules: list[dict[str, Any]], package: str) -> str | None:
    """The groupName of the last pypi rule whose name patterns match (Renovate: last wins)."""
    group = None
    for rule in rules:
        if "pypi" in rule.get("matchDatasources", ["pypi"]) and any(
            fnmatchcase(package, pattern) for pattern in rule.get("matchPackageNames", [])
        ):
            group = rule.get("groupName", group)
    return group


@pytest.mark.slow
def test_every_opentelemetry_package_of_the_lock_is_in_one_group(render) -> None:
    project = render(ci="github", exporters=["otlp_grpc", "prometheus"])
    packages = opentelemetry_packages(project)

    rules = json.loads((project / "renovate.json").read_text())["packageRules"]
    assert {renovate_group(rules, name) for name in packages} == {"OpenTelemetry"}

    dependabot = yaml.safe_load((project / ".github/dependabot.yml").read_text())
    (uv,) = [u for u in dependabot["updates"] if u["package-ecosystem"] == "uv"]
    for name in packages:
        groups = [
            group
            for group, spec in uv["groups"].items()
            if any(fnmatchcase(name, pattern) for pattern in spec["patterns"])
        ]
        assert groups == ["opentelemetry"], (name, groups)


def test_dependabot_only_with_github_and_covering_each_manifest(render) -> None:
    assert not (render(ci="gitlab") / ".github").exists()
    config = yaml.safe_load((render(ci="github") / ".github/dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"uv", "github-actions", "docker"}
