"""Helpers to read the kustomize output: workloads, containers and the rendered
project's own files that the manifests must agree with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob")


def answers_of(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, [c["name"] for c in containers]
    return containers[0]


def env_value(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The ``env`` entry named ``name`` (its whole mapping), or None."""
    return next((e for e in container.get("env", []) if e["name"] == name), None)


def _number(pattern: str, text: str, where: Path) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in {where}"
    return float(match[1])


def server_graceful_seconds(project: Path) -> float:
    """How long the web server waits for requests in flight after SIGTERM."""
    gunicorn = project / "gunicorn.conf.py"
    if gunicorn.exists():
        pattern = (
            r'graceful_timeout = int\(os\.environ\.get\("GUNICORN_GRACEFUL_TIMEOUT", "(\d+)"\)\)'
        )
        return _number(pattern, gunicorn.read_text(), gunicorn)
    dockerfile = project / "Dockerfile"
    return _number(r"--timeout-graceful-shutdown (\d+)", dockerfile.read_text(), dockerfile)


def telemetry_flush_seconds(project: Path) -> float:
    package = answers_of(project)["package_name"]
    telemetry = project / "src" / package / "telemetry.py"
    return _number(r"SHUTDOWN_TIMEOUT_SECONDS = ([\d.]+)", telemetry.read_text(), telemetry)


def dockerfile_user(project: Path) -> tuple[int, int]:
    text = (project / "Dockerfile").read_text()
    match = re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE)
    assert match, "no numeric USER uid:gid in the Dockerfile"
    return int(match[1]), int(match[2])
