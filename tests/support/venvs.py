"""Virtualenvs for rendered projects, installed with uv from their lock and a shared cache."""

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


def lock_project(project: Path, python: str | None = None) -> Path:
    """``project/uv.lock``, made with the same `uv lock` the copy task runs when the render
    skipped that task (the tests' renders do: faster)."""
    lock = project / "uv.lock"
    if not lock.exists():
        version = (project / ".python-version").read_text().strip()
        python = python or find_python(version)
        if python is None:
            pytest.fail(f"no Python {version} on this machine to lock {project.name}")
        subprocess.run(
            ["uv", "lock", "--quiet", "-p", python], cwd=project, check=True, env=uv_env()
        )
    return lock


def install_project(project: Path, python: str, *, dev: bool = True) -> Path:
    """Install the project into ``project/.venv`` from its uv.lock, as `make install` does
    (with its dev group) or, with ``dev=False``, as the image does; returns bin/. Both
    steps reuse uv's cache: a warm install takes about a second."""
    lock_project(project, python)
    subprocess.run(
        ["uv", "sync", "--quiet", "--locked", *([] if dev else ["--no-dev"]), "-p", python],
        cwd=project,
        check=True,
        env=uv_env(),
    )
    return project / ".venv" / "bin"


def installed_render(render: Callable[..., Path], answers: Mapping[str, Any]) -> tuple[Path, Path]:
    """Render ``answers`` and install the project with the Python version they name; a
    machine without that Python fails the test (scripts/test's machines have them all)."""
    version = answers["python_version"]
    python = find_python(version)
    if python is None:
        pytest.fail(f"no Python {version} on this machine for {answers.get('service_name')}")
    project = render(answers)
    return project, install_project(project, python)


def run_project_tests(project: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """The project's own test suite with its installed pytest; fails the test when it fails."""
    result = subprocess.run(
        [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result
