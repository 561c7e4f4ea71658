"""Helpers to read the kustomize output: workloads, containers and the rendered
project's own files that the manifests must agree with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tests.k8s.conftest import Build

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
    telemetry = project / "src" / package / "telemetry" / "__init__.py"
    return _number(r"SHUTDOWN_TIMEOUT_SECONDS = ([\d.]+)", telemetry.read_text(), telemetry)


def dockerfile_user(project: Path) -> tuple[int, int]:
    text = (project / "Dockerfile").read_text()
    match = re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE)
    assert match, "no numeric USER uid:gid in the Dockerfile"
    return int(match[1]), int(match[2])


def mounted_config(built: Build, workload_kind: str, name: str) -> tuple[str, str]:
    """(file name, text) of the collector config a collector workload starts with."""
    workload = built.get(workload_kind, name)
    container = only_container(workload)
    [config_arg] = [a for a in container["args"] if a.startswith("--config=")]
    path = Path(config_arg.removeprefix("--config="))
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"])
    config_map = next(
        cm
        for cm in built.of_kind("ConfigMap")
        if cm["metadata"]["name"] == volume["configMap"]["name"]
    )
    return path.name, config_map["data"][path.name]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) selects
    ``labels``; the empty selector selects everything."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True
