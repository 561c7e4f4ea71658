"""The rendered Prometheus rules: `promtool check rules`, the rendered `promtool test rules`
unit tests (and proof that they can fail), and the PrometheusRule carrying the same groups."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.observability.cases import OBSERVABILITY_CASES, case_id
from tests.observability.queries import rendered


@pytest.fixture(scope="module", params=OBSERVABILITY_CASES, ids=case_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not on PATH: scripts/test installs Debian's prometheus package")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules(project: Path) -> None:
    rules_file, _ = rendered(project)
    result = promtool("check", "rules", rules_file.name, cwd=rules_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_unit_tests_pass(project: Path) -> None:
    rules_file, _ = rendered(project)
    tests_file = rules_file.with_name(rules_file.name.replace(".rules.yml", ".rules.test.yml"))
    result = promtool("test", "rules", tests_file.name, cwd=rules_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("mutation", "why"),
    [
        # Every threshold out of reach: the firing expectations must fail.
        (lambda expr: re.sub(r">= [0-9.e-]+", ">= 2", expr), "alerts that never fire"),
        # Every threshold at zero: the silent expectations must fail.
        (lambda expr: re.sub(r">= [0-9.e-]+", ">= 0", expr), "alerts that always fire"),
    ],
    ids=["never-fire", "always-fire"],
)
def test_unit_tests_fail_on_broken_thresholds(render, tmp_path: Path, mutation, why: str) -> None:
    rules_file, _ = rendered(render(OBSERVABILITY_CASES[0]))
    rules = yaml.safe_load(rules_file.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["expr"] = mutation(rule["expr"])
    (tmp_path / rules_file.name).write_text(yaml.safe_dump(rules, sort_keys=False))
    tests_file = rules_file.with_name(rules_file.name.replace(".rules.yml", ".rules.test.yml"))
    shutil.copy(tests_file, tmp_path / tests_file.name)
    result = promtool("test", "rules", tests_file.name, cwd=tmp_path)
    assert result.returncode != 0, f"the unit tests still pass with {why}:\n{result.stdout}"


def test_prometheus_rule_has_the_same_groups(project: Path) -> None:
    rules_file, _ = rendered(project)
    operator_rule = project / "observability/prometheusrule.yaml"
    kustomization = project / "observability/kustomization.yaml"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    if "kubernetes" not in answers["deploy_targets"]:
        assert not operator_rule.exists() and not kustomization.exists()
        return
    resource = yaml.safe_load(operator_rule.read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    expected = yaml.safe_load(rules_file.read_text())["groups"]
    if answers.get("collector_topology") == "platform":
        # The collector's alerts come with the platform's collector kit instead
        # (tests/k8s/test_platform_collector.py); compose's own collector keeps them.
        expected = [group for group in expected if not group["name"].endswith("-otel-collector")]
    assert resource["spec"]["groups"] == expected
    assert "prometheusrule.yaml" in yaml.safe_load(kustomization.read_text())["resources"]


def test_compose_prometheus_loads_the_rules(project: Path) -> None:
    config = project / "deploy/compose/prometheus.yml"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    if "compose" not in answers["deploy_targets"]:
        assert not config.exists()
        return
    rules_file, _ = rendered(project)
    (rule_file,) = yaml.safe_load(config.read_text())["rule_files"]
    assert (config.parent / rule_file).resolve() == rules_file.resolve()
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./observability/rules:/observability/rules:ro" in volumes
    # promtool resolves rule_files relative to the config, as Prometheus does in the container.
    result = promtool("check", "config", config.name, cwd=config.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout
