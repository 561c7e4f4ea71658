"""The render's own checks, as its team runs them: on a freshly committed render,
`make install`, then `make lint test validate` pass with the pinned tools (the test
collector, promtool, kustomize, and what uv runs: kubernetes-validate, hadolint, checkov), and
`make format` leaves no diff.

By default one matrix entry per framework, chosen so that together they cover every
exporter and sampler variant of tests/support/matrix.py that changes generated code
(OTLP over HTTP and gRPC, Prometheus, console, the ratio sampler); RENDER_CHECKS=all
runs all twelve."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.built_tools import built_tool
from tests.support.matrix import MATRIX, PYTHON_BY_FRAMEWORK, matrix_id
from tests.support.venvs import find_python, lock_project, uv_env

pytestmark = pytest.mark.slow

# flask-0: otlp_http, parentbased_always_on; fastapi-1: otlp_grpc + prometheus, ratio
# sampler; django-3: otlp_http + prometheus + console, ratio 1.
REPRESENTATIVE = {"flask-0", "fastapi-1", "django-3"}
ENTRIES = [
    answers
    for answers in MATRIX
    if os.environ.get("RENDER_CHECKS") == "all" or answers["service_name"] in REPRESENTATIVE
]


def run(project: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        env={**uv_env(), **env},
        timeout=900,
    )


def git(project: Path, *args: str) -> str:
    result = run(project, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def tools(otelcol: Path) -> dict[str, str]:
    """The Makefile's tool variables pointed at this machine's pinned builds."""
    return {
        "OTELCOL": str(otelcol),
        "PROMTOOL": "promtool",
        "KUSTOMIZE": str(built_tool("build-kustomize", "KUSTOMIZE_BIN", timeout=1800)),
    }


@pytest.mark.parametrize("answers", ENTRIES, ids=matrix_id)
def test_make_lint_test_validate_pass_and_format_changes_nothing(
    answers: dict[str, Any], render, tools: dict[str, str], tmp_path: Path
) -> None:
    version = PYTHON_BY_FRAMEWORK[answers["framework"]]
    python = find_python(version)
    if python is None:
        pytest.fail(f"no Python {version} on this machine")
    project = tmp_path / answers["service_name"]
    subprocess.run(
        ["cp", "-r", str(render({**answers, "python_version": version})), str(project)],
        check=True,
    )
    lock_project(project, python)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated")

    installed = run(project, "make", "install", UV_PYTHON=python)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    variables = [f"{name}={value}" for name, value in tools.items()]
    checked = run(project, "make", "--no-print-directory", "lint", "test", "validate", *variables)
    assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr[-5000:]
    for evidence in (
        "All checks passed!",  # ruff
        " passed",  # pytest
        "otelcol validate collector/otelcol-config.yaml",
        "SUCCESS",  # promtool
        "hadolint Dockerfile",
        "kubernetes-validate --strict",
        "checkov Dockerfile deploy/k8s/overlays/dev deploy/k8s/overlays/prod",
        "dockerfile scan results",  # checkov
        "kubernetes scan results",
    ):
        assert evidence in checked.stdout, f"{evidence!r} not in:\n{checked.stdout[-3000:]}"

    formatted = run(project, "make", "format")
    assert formatted.returncode == 0, formatted.stderr
    assert git(project, "status", "--porcelain") == "", git(project, "diff")
