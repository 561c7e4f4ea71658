"""package_name refuses every top-level module a render installs: the list in
generator/copier_extension.py is checked against real installs of each framework."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from generator.copier_extension import DEPENDENCY_MODULES
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.venvs import find_python, install_project

# Together these install every dependency the template can add (both OTLP exporters, the
# Prometheus one, both RabbitMQ clients and the Kafka one, the configuration file's
# package), with each framework's dev dependencies.
RENDERS = {
    "flask": {"exporters": ["otlp_http", "prometheus"]},
    "fastapi": {
        "exporters": ["otlp_grpc", "prometheus"],
        "messaging": "rabbitmq",
        "broker_address": "mq:5672",
    },
    "django": {
        "exporters": ["otlp_grpc", "console"],
        "telemetry_config": "file",
        "messaging": "kafka",
        "broker_address": "mq:9092",
    },
}
TOP_LEVEL = (
    "import importlib.metadata, json; "
    "print(json.dumps(sorted(importlib.metadata.packages_distributions())))"
)


@pytest.mark.slow
@pytest.mark.parametrize("framework", sorted(RENDERS))
def test_every_installed_module_is_refused_as_package_name(
    render, tmp_path: Path, framework: str
) -> None:
    version = PYTHON_BY_FRAMEWORK[framework]
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} here to install {framework}")
    answers = {
        "framework": framework,
        "python_version": version,
        "deploy_targets": [],
        **RENDERS[framework],
    }
    project = tmp_path / "project"
    subprocess.run(["cp", "-r", str(render(answers)), str(project)], check=True)
    bin_dir = install_project(project, python)

    listed = subprocess.run(
        [str(bin_dir / "python"), "-c", TOP_LEVEL], capture_output=True, text=True, check=True
    )
    modules = {name for name in json.loads(listed.stdout) if name.isidentifier()}
    own = "demo_svc"  # the render's own package (service_name demo-svc)
    missing = sorted(modules - DEPENDENCY_MODULES - {own})
    assert not missing, f"add to DEPENDENCY_MODULES in generator/copier_extension.py: {missing}"
