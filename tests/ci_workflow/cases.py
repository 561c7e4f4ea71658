"""Answer sets the CI tests render: each CI system with and without Kubernetes manifests
and a dashboard, plus `ci: none`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GITHUB_WORKFLOW = Path(".github/workflows/ci.yml")
GITLAB_PIPELINE = Path(".gitlab-ci.yml")
CI_FILES = {"github": GITHUB_WORKFLOW, "gitlab": GITLAB_PIPELINE}

# The first is the template's defaults (ci: github) under the name every tier's default
# render uses, so the session's render cache serves it once for all of them.
CI_CASES: list[dict[str, Any]] = [
    {"service_name": "demo-svc"},
    {
        "service_name": "gh-bare",
        "ci": "github",
        "deploy_targets": [],
        "dashboard": False,
        "framework": "fastapi",
        "python_version": "3.13",
    },
    {
        "service_name": "gh-k8s",
        "ci": "github",
        "deploy_targets": ["kubernetes"],
        "dashboard": False,
        "framework": "django",
    },
    {"service_name": "gl-full", "ci": "gitlab"},
    {
        "service_name": "gl-compose",
        "ci": "gitlab",
        "deploy_targets": ["compose"],
        "dashboard": False,
        "logs_backend": "none",
    },
]


def case_id(answers: dict[str, Any]) -> str:
    return answers["service_name"]


def ci_of(answers: dict[str, Any]) -> str:
    return answers.get("ci", "github")


def cases_for(ci: str) -> list[dict[str, Any]]:
    return [answers for answers in CI_CASES if ci_of(answers) == ci]


def expects_kubernetes(answers: dict[str, Any]) -> bool:
    return "kubernetes" in answers.get("deploy_targets", ["compose", "kubernetes"])


def expects_dashboard(answers: dict[str, Any]) -> bool:
    return answers.get("dashboard", True)
