"""The rendered Prometheus rules: `promtool check rules`, the rendered `promtool test rules`
unit tests (and proof that they can fail), and the PrometheusRule carrying the same groups."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.cases import OBSERVABILITY_CASES, case_id
from tests.observability.queries import groups_of, rendered


@pytest.fixture(scope="module", params=OBSERVABILITY_CASES, ids=case_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


ALERTS_OF_THE_COLLECTOR = {
    "OtelCollectorRefusingData",
    "OtelCollectorExportFailing",
    "OtelCollectorExportQueueFilling",
}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not on PATH: scripts/test installs Debian's prometheus package")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


COLLECTOR_RULES = "otel-collector.rules.yml"


def answers_of(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def unit_tests_of(rules_file: Path) -> Path:
    return rules_file.with_name(rules_file.name.replace(".rules.yml", ".rules.test.yml"))


def collector_alert_names(groups: list[dict[str, Any]]) -> set[str]:
    return {
        rule["alert"]
        for group in groups
        if group["name"].endswith("-otel-collector")
        for rule in group["rules"]
    }


def assert_generator_agrees(project: Path) -> None:
    """The project's own prometheusrule.py (`make check-rules`) finds the PrometheusRule
    current, file order included."""
    check = subprocess.run(
        [sys.executable, "observability/prometheusrule.py", "--check"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_rules_files_follow_the_collectors(project: Path) -> None:
    """The service's rules always; the collector's whenever the project runs one of its
    own: compose's, Kubernetes bundled, or the collector config alone."""
    answers = answers_of(project)
    rules_files, _ = rendered(project)
    runs_collector = (
        "compose" in answers["deploy_targets"]
        or "kubernetes" not in answers["deploy_targets"]
        or answers.get("collector_topology") == "bundled"
    )
    expected = {f"{answers['service_name']}.rules.yml"} | (
        {COLLECTOR_RULES} if runs_collector else set()
    )
    assert {path.name for path in rules_files} == expected
    collector_groups = [
        g["name"] for g in groups_of(rules_files) if g["name"].endswith("-otel-collector")
    ]
    assert collector_groups == (
        [f"{answers['service_name']}-otel-collector"] if runs_collector else []
    )


def test_promtool_accepts_the_rules(project: Path) -> None:
    rules_files, _ = rendered(project)
    result = promtool("check", "rules", *(p.name for p in rules_files), cwd=rules_files[0].parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_unit_tests_pass(project: Path) -> None:
    rules_files, _ = rendered(project)
    tests_files = [unit_tests_of(rules_file).name for rules_file in rules_files]
    result = promtool("test", "rules", *tests_files, cwd=rules_files[0].parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests_files)


@pytest.mark.parametrize("rules_name", ["obs-default.rules.yml", COLLECTOR_RULES])
@pytest.mark.parametrize(
    ("mutation", "why"),
    [
        # Every threshold out of reach: the firing expectations must fail.
        (lambda expr: re.sub(r">=? [0-9.e-]+", ">= 1e12", expr), "alerts that never fire"),
        # Every threshold at zero: the silent expectations must fail.
        (lambda expr: re.sub(r">=? [0-9.e-]+", ">= 0", expr), "alerts that always fire"),
    ],
    ids=["never-fire", "always-fire"],
)
def test_unit_tests_fail_on_broken_thresholds(
    render, tmp_path: Path, rules_name: str, mutation, why: str
) -> None:
    rules_file = render(OBSERVABILITY_CASES[0]) / "observability/rules" / rules_name
    rules = yaml.safe_load(rules_file.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["expr"] = mutation(rule["expr"])
    (tmp_path / rules_file.name).write_text(yaml.safe_dump(rules, sort_keys=False))
    tests_file = unit_tests_of(rules_file)
    shutil.copy(tests_file, tmp_path / tests_file.name)
    result = promtool("test", "rules", tests_file.name, cwd=tmp_path)
    assert result.returncode != 0, f"the unit tests still pass with {why}:\n{result.stdout}"


def test_prometheus_rule_has_the_same_groups(project: Path) -> None:
    rules_files, _ = rendered(project)
    operator_rule = project / "observability/prometheusrule.yaml"
    kustomization = project / "observability/kustomization.yaml"
    answers = answers_of(project)
    if "kubernetes" not in answers["deploy_targets"]:
        assert not operator_rule.exists() and not kustomization.exists()
        return
    resource = yaml.safe_load(operator_rule.read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    if answers.get("collector_topology") == "platform":
        # The collector's alerts come with the platform's collector kit instead
        # (tests/k8s/test_platform_collector.py); compose's own collector keeps its file.
        rules_files = [path for path in rules_files if path.name != COLLECTOR_RULES]
        assert not collector_alert_names(resource["spec"]["groups"])
    else:
        assert collector_alert_names(resource["spec"]["groups"]) == ALERTS_OF_THE_COLLECTOR
    assert resource["spec"]["groups"] == groups_of(rules_files)
    assert "prometheusrule.yaml" in yaml.safe_load(kustomization.read_text())["resources"]
    assert_generator_agrees(project)


@pytest.mark.parametrize("service_name", ["aa-bundled", "zz-bundled"])
def test_prometheus_rule_orders_the_files_as_its_generator(render, service_name: str) -> None:
    """The collector's group before or after the service's, by file name, as
    prometheusrule.py reads rules/*.rules.yml."""
    project = render(
        {
            "service_name": service_name,
            "deploy_targets": ["kubernetes"],
            "collector_topology": "bundled",
        }
    )
    resource = yaml.safe_load((project / "observability/prometheusrule.yaml").read_text())
    names = [group["name"] for group in resource["spec"]["groups"]]
    collector_first = service_name > "otel-collector"
    assert names[0 if collector_first else -1] == f"{service_name}-otel-collector"
    assert_generator_agrees(project)


def test_compose_prometheus_loads_the_rules(project: Path) -> None:
    config = project / "deploy/compose/prometheus.yml"
    answers = answers_of(project)
    if "compose" not in answers["deploy_targets"]:
        assert not config.exists()
        return
    rules_files, _ = rendered(project)
    loaded = sorted(
        path.resolve()
        for pattern in yaml.safe_load(config.read_text())["rule_files"]
        for path in config.parent.glob(pattern)
    )
    assert loaded == [path.resolve() for path in rules_files]
    # Compose runs a collector whatever the Kubernetes topology: its alerts are loaded.
    assert collector_alert_names(groups_of(loaded)) == ALERTS_OF_THE_COLLECTOR
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./observability/rules:/observability/rules:ro" in volumes
    # promtool resolves rule_files relative to the config, as Prometheus does in the container.
    result = promtool("check", "config", config.name, cwd=config.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules_files)} rule files found" in result.stdout
