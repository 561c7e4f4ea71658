"""The rendered Makefile's validation targets, run for real with the tools CI runs in their
images: the test collector (OTELCOL=...), promtool (PROMTOOL=...), copier. Each target is
also shown to fail on a broken file, so a pass means something."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.rendering import TEMPLATE_ROOT, render_service
from tests.ci_workflow.cases import cases_for

pytestmark = pytest.mark.slow

WITH_KUBERNETES = cases_for("github")[0]
WITHOUT_KUBERNETES = cases_for("gitlab")[1]


def make(project: Path, target: str, **variables: str) -> subprocess.CompletedProcess:
    # Drop the variables the Makefile sets itself, so a developer's environment cannot leak in.
    env = {k: v for k, v in os.environ.items() if k not in {"OTELCOL", "PROMTOOL", "COPIER"}}
    return subprocess.run(
        ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in variables.items())],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def copy_of(project: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(project, tmp_path / project.name))


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not on PATH: scripts/test installs Debian's prometheus package")
    return found


@pytest.mark.parametrize("answers", [WITH_KUBERNETES, WITHOUT_KUBERNETES], ids=["k8s", "compose"])
def test_validate_collector_checks_every_config(
    answers: dict[str, Any], render, otelcol: Path
) -> None:
    project = render(answers)
    result = make(project, "validate-collector", OTELCOL=str(otelcol))
    assert result.returncode == 0, result.stdout + result.stderr
    expected = ["collector/otelcol-config.yaml"]
    if (project / "collector" / "otelcol-agent.yaml").exists():
        expected.append("collector/otelcol-agent.yaml")
    validated = [line.removeprefix("otelcol validate ") for line in result.stdout.splitlines()]
    assert sorted(validated) == sorted(expected)


def test_validate_collector_fails_on_a_broken_config(render, otelcol: Path, tmp_path: Path) -> None:
    project = copy_of(render(WITHOUT_KUBERNETES), tmp_path)
    config = project / "collector" / "otelcol-config.yaml"
    config.write_text(config.read_text().replace("memory_limiter:", "memory_limitter:", 1))
    result = make(project, "validate-collector", OTELCOL=str(otelcol))
    assert result.returncode != 0
    assert "memory_limitter" in result.stderr + result.stdout


def test_check_rules_checks_and_unit_tests_the_rules(render) -> None:
    project = render(WITH_KUBERNETES)
    rules = sorted(p.name for p in (project / "observability" / "rules").glob("*.yml"))
    assert rules == [
        "demo-svc.rules.test.yml",
        "demo-svc.rules.yml",
        "otel-collector.rules.test.yml",
        "otel-collector.rules.yml",
    ]
    result = make(project, "check-rules", PROMTOOL=promtool())
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "check rules observability/rules/demo-svc.rules.yml "
        "observability/rules/otel-collector.rules.yml" in result.stdout
    )
    assert (
        "test rules observability/rules/demo-svc.rules.test.yml "
        "observability/rules/otel-collector.rules.test.yml" in result.stdout
    )
    # promtool's SUCCESS per rules file checked and per unit-test file run.
    assert result.stdout.count("SUCCESS") == 4


def test_check_rules_fails_on_a_broken_rule(render, tmp_path: Path) -> None:
    project = copy_of(render(WITH_KUBERNETES), tmp_path)
    rules = project / "observability" / "rules" / "demo-svc.rules.yml"
    rules.write_text(rules.read_text().replace("expr: ", "expr: sum by (", 1))
    result = make(project, "check-rules", PROMTOOL=promtool())
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_check_rules_fails_when_a_rule_test_fails(render, tmp_path: Path) -> None:
    project = copy_of(render(WITH_KUBERNETES), tmp_path)
    tests = project / "observability" / "rules" / "demo-svc.rules.test.yml"
    text = tests.read_text()
    assert "severity: " in text
    tests.write_text(text.replace("severity: ", "severity: wrong-", 1))
    result = make(project, "check-rules", PROMTOOL=promtool())
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_check_dashboard_checks_every_dashboard(render, tmp_path: Path) -> None:
    project = copy_of(render(WITH_KUBERNETES), tmp_path)
    dashboards = project / "observability" / "dashboards"
    dashboards.mkdir(parents=True, exist_ok=True)
    rendered = sorted(p.relative_to(project).as_posix() for p in dashboards.glob("*.json"))
    (dashboards / "zz-extra.json").write_text(json.dumps({"uid": "x", "title": "x", "panels": []}))
    result = make(project, "check-dashboard")
    assert result.returncode == 0, result.stdout + result.stderr
    checked = [line.removeprefix("check ") for line in result.stdout.splitlines()]
    assert checked == [*rendered, "observability/dashboards/zz-extra.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"uid": "x", "title": "x", "panels": [', "Expecting"), ('{"uid": "x"}', "'panels'")],
    ids=["not-json", "no-panels"],
)
def test_check_dashboard_fails_on_a_broken_dashboard(
    render, tmp_path: Path, content: str, message: str
) -> None:
    project = copy_of(render(WITH_KUBERNETES), tmp_path)
    dashboards = project / "observability" / "dashboards"
    dashboards.mkdir(parents=True, exist_ok=True)
    (dashboards / "broken.json").write_text(content)
    result = make(project, "check-dashboard")
    assert result.returncode != 0
    assert message in result.stderr


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=ci-test", "-c", "user.email=ci-test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_check_update_reports_a_newer_template_version(tmp_path: Path) -> None:
    # A template repository with real tags, as copier update needs: v1.0.0, then v1.1.0.
    template = tmp_path / "template-repo"
    template.mkdir()
    shutil.copy2(TEMPLATE_ROOT / "copier.yml", template / "copier.yml")
    shutil.copytree(TEMPLATE_ROOT / "template", template / "template")
    # The Jinja extension copier.yml loads (answer escaping and checks).
    (template / "generator").mkdir()
    shutil.copy2(TEMPLATE_ROOT / "generator" / "copier_extension.py", template / "generator")
    git(template, "init", "--quiet", "--initial-branch=main")
    git(template, "add", ".")
    git(template, "commit", "--quiet", "-m", "v1.0.0")
    git(template, "tag", "v1.0.0")

    project = render_service(
        tmp_path / "checkout-api",
        {"service_name": "checkout-api"},
        template=str(template),
        vcs_ref="v1.0.0",
        lock=False,  # the lock task's script is not in this template copy
    )
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "generated")
    copier = f"{sys.executable} -m copier"

    current = make(project, "check-update", COPIER=copier)
    assert current.returncode == 0, current.stdout + current.stderr
    assert "Project is up-to-date!" in current.stdout

    (template / "CHANGELOG.md").write_text("v1.1.0\n")
    git(template, "add", ".")
    git(template, "commit", "--quiet", "-m", "v1.1.0")
    git(template, "tag", "v1.1.0")

    newer = make(project, "check-update", COPIER=copier)
    assert newer.returncode == 0, newer.stdout + newer.stderr
    assert "latest version is 1.1.0" in newer.stdout
    # What the CI job does to turn that into a warning: exit code 2.
    quiet = subprocess.run(
        [sys.executable, "-m", "copier", "check-update", "--quiet"], cwd=project, timeout=120
    )
    assert quiet.returncode == 2
