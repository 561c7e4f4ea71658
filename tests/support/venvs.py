"""Virtualenvs for rendered projects, built with uv from a shared cache."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest


def find_python(version: str) -> str | None:
    """An interpreter for ``version`` (e.g. "3.12") on this machine, or None."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for candidate in candidates:
        if (
            candidate
            and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0
        ):
            return candidate
    return None


def uv_env() -> dict[str, str]:
    # Never try to download an interpreter: this machine reaches package registries only.
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}


def install_project(project: Path, python: str) -> Path:
    """Create ``project/.venv`` and install the project with its dev extras; returns bin/."""
    venv = project / ".venv"
    subprocess.run(["uv", "venv", "--quiet", "-p", python, str(venv)], check=True, env=uv_env())
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "-p", str(venv / "bin" / "python"), "-e", ".[dev]"],
        cwd=project,
        check=True,
        env=uv_env(),
    )
    return venv / "bin"


def installed_render(render: Callable[..., Path], answers: Mapping[str, Any]) -> tuple[Path, Path]:
    """Render ``answers`` and install the project with the Python version they name; a
    machine without that Python fails the test (scripts/test's machines have them all)."""
    version = answers["python_version"]
    python = find_python(version)
    if python is None:
        pytest.fail(f"no Python {version} on this machine for {answers.get('service_name')}")
    project = render(answers)
    return project, install_project(project, python)
