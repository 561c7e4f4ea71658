"""The rendered CI files: they parse, pass their real linter or schema, call only Makefile
targets that exist, pin every action and image, and follow the answers."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from generator.rendering import TEMPLATE_ROOT
from tests.ci_workflow.cases import (
    CI_CASES,
    CI_FILES,
    GITHUB_WORKFLOW,
    GITLAB_PIPELINE,
    case_id,
    cases_for,
    ci_of,
    expects_dashboard,
    expects_kubernetes,
)

# `make` as a command (at the start of a line or after ;, && or ||), not a package name.
MAKE_CALL = re.compile(r"(?:^|[;&|]\s*)make ([a-z0-9-]+)", re.MULTILINE)
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
GITHUB_TEMPLATE = (
    TEMPLATE_ROOT / "template" / "{% if ci == 'github' %}.github{% endif %}" / "workflows"
)


@pytest.fixture(params=CI_CASES, ids=case_id)
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


@pytest.fixture
def project(answers: dict[str, Any], render) -> Path:
    return render(answers)


@pytest.fixture(params=cases_for("github"), ids=case_id)
def github_project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


@pytest.fixture(params=cases_for("gitlab"), ids=case_id)
def gitlab_project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


def ci_file(project: Path, answers: dict[str, Any]) -> Path:
    return project / CI_FILES[ci_of(answers)]


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def commands(project: Path, answers: dict[str, Any]) -> list[str]:
    """Every shell line the CI file runs."""
    document = load(ci_file(project, answers))
    if ci_of(answers) == "github":
        return [
            step["run"]
            for job in document["jobs"].values()
            for step in job["steps"]
            if "run" in step
        ]
    return [
        line
        for job in document.values()
        if isinstance(job, dict)
        for key in ("before_script", "script")
        for line in job.get(key, [])
    ]


def make_targets(project: Path, answers: dict[str, Any]) -> list[str]:
    return sorted({t for line in commands(project, answers) for t in MAKE_CALL.findall(line)})


def test_ci_file_parses_and_is_the_only_one(project: Path, answers: dict[str, Any]) -> None:
    document = load(ci_file(project, answers))
    assert document
    others = set(CI_FILES.values()) - {CI_FILES[ci_of(answers)]}
    assert not any((project / other).exists() for other in others)


def test_ci_file_and_makefile_are_clean(project: Path, answers: dict[str, Any]) -> None:
    for path in (ci_file(project, answers), project / "Makefile"):
        text = path.read_text()
        assert "\n\n\n" not in text, f"two blank lines in a row in {path}"
        assert text.endswith("\n") and not text.endswith("\n\n"), f"bad file ending in {path}"
        assert not re.search(r"[ \t]+$", text, re.MULTILINE), f"trailing whitespace in {path}"


def test_no_ci_files_with_ci_none(render) -> None:
    project = render({"service_name": "no-ci", "ci": "none"})
    assert not (project / ".github").exists()
    assert not (project / GITLAB_PIPELINE).exists()
    assert (project / "Makefile").is_file()


def test_every_make_target_the_ci_calls_exists(project: Path, answers: dict[str, Any]) -> None:
    targets = make_targets(project, answers)
    expected = {"install", "lint", "test", "image", "validate-collector", "check-rules"}
    assert expected <= set(targets)
    for target in targets:
        # --dry-run prints the recipe without running it, and fails on an unknown target.
        result = subprocess.run(
            ["make", "--dry-run", target], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, f"make {target}: {result.stderr}"


def test_checks_follow_the_answers(project: Path, answers: dict[str, Any]) -> None:
    targets = make_targets(project, answers)
    assert ("validate-k8s" in targets) == expects_kubernetes(answers)
    assert ("check-dashboard" in targets) == expects_dashboard(answers)
    assert "check-update" in targets
    # checkov on the Dockerfile and, with Kubernetes, on the built overlays.
    assert "scan-security" in targets


def test_github_expressions_survive_jinja(github_project: Path) -> None:
    source = (GITHUB_TEMPLATE / "ci.yml.jinja").read_text()
    expressions = re.findall(r"\$\{\{.*?\}\}", source)
    assert expressions, "the template has no GitHub expression left to check"
    rendered = (github_project / GITHUB_WORKFLOW).read_text()
    for expression in expressions:
        assert expression in rendered
    assert "{% raw" not in rendered and "{% endraw" not in rendered
    concurrency = load(github_project / GITHUB_WORKFLOW)["concurrency"]
    assert concurrency["group"] == "ci-${{ github.ref }}"


def test_every_action_is_pinned_to_a_commit(github_project: Path) -> None:
    text = (github_project / GITHUB_WORKFLOW).read_text()
    uses = re.findall(r"uses: (.+)$", text, re.MULTILINE)
    assert uses
    by_action: dict[str, set[str]] = {}
    for reference in uses:
        assert PINNED_ACTION.match(reference), f"not pinned to a SHA with its tag: {reference}"
        action, _, pin = reference.partition("@")
        by_action.setdefault(action, set()).add(pin)
    assert all(len(pins) == 1 for pins in by_action.values()), by_action


def test_python_version_follows_the_answer(project: Path, answers: dict[str, Any]) -> None:
    version = answers.get("python_version", "3.12")
    text = ci_file(project, answers).read_text()
    if ci_of(answers) == "github":
        assert f'python-version: "{version}"' in text
    else:
        assert f"image: python:{version}-trixie" in text


def test_actionlint_finds_nothing(github_project: Path, actionlint: Path) -> None:
    result = subprocess.run(
        [str(actionlint), "-no-color", str(GITHUB_WORKFLOW)],
        cwd=github_project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(render, actionlint: Path, tmp_path: Path) -> None:
    # Proves the lint above can fail: an unknown context and a shell error are reported.
    workflow = (render(cases_for("github")[0]) / GITHUB_WORKFLOW).read_text()
    broken = workflow.replace("${{ github.ref }}", "${{ github.nonsense }}").replace(
        "status=0\n", 'status=0\n          echo $status" \n', 1
    )
    assert broken != workflow
    path = tmp_path / ".github" / "workflows" / "ci.yml"
    path.parent.mkdir(parents=True)
    path.write_text(broken)
    result = subprocess.run(
        [str(actionlint), "-no-color", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "nonsense" in result.stdout
    assert "shellcheck" in result.stdout


@cache
def gitlab_ci_schema() -> dict[str, Any]:
    """GitLab's published CI schema, as check-jsonschema vendors it."""
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "gitlab-ci.json"
    return json.loads(vendored.read_text())


def gitlab_errors(document: dict[str, Any]) -> list[str]:
    schema = gitlab_ci_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = validator_class(schema).iter_errors(document)
    return sorted(f"{error.json_path}: {error.message}" for error in errors)


def test_gitlab_pipeline_matches_gitlabs_schema(gitlab_project: Path) -> None:
    errors = gitlab_errors(load(gitlab_project / GITLAB_PIPELINE))
    assert not errors, "\n".join(errors)


def test_gitlab_schema_rejects_a_broken_pipeline(render) -> None:
    # A job named like a global keyword is the mistake the schema caught in this file.
    document = load(render(cases_for("gitlab")[0]) / GITLAB_PIPELINE)
    document["image"] = document.pop("container-image")
    assert gitlab_errors(document)


def test_gitlab_jobs_that_run_make_have_make(gitlab_project: Path) -> None:
    document = load(gitlab_project / GITLAB_PIPELINE)
    for name, job in document.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
            continue
        templates = [document[parent] for parent in job.get("extends", [])]
        image = job.get("image") or next(t["image"] for t in templates if "image" in t)
        setup = [line for t in templates for line in t.get("before_script", [])]
        assert image.startswith(("python:", "golang:")) or any(
            line.startswith("apk add --no-cache make") for line in setup
        ), f"{name}: {image} has no make"


def test_gitlab_images_are_pinned(gitlab_project: Path) -> None:
    document = load(gitlab_project / GITLAB_PIPELINE)
    jobs = [job for job in document.values() if isinstance(job, dict)]
    images = [job["image"] for job in jobs if "image" in job]
    images += [service for job in jobs for service in job.get("services", [])]
    assert len(images) >= 3, images
    for image in images:
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?(-[a-z]+)?", tag), f"{image} is not pinned"


def test_validation_images_come_from_copier_yml(project: Path) -> None:
    images = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())["images"]["default"]
    makefile = (project / "Makefile").read_text()
    otelcol_version = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())["otelcol_version"][
        "default"
    ]
    assert f"OTELCOL_IMAGE := otel/opentelemetry-collector-contrib:{otelcol_version}" in makefile
    prometheus = re.search(r'"prometheus": "([^"]+)"', images)
    assert prometheus and f"PROMETHEUS_IMAGE := {prometheus.group(1)}" in makefile
