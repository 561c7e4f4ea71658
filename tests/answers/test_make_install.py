"""`make install` in a render: a .venv of the answered python_version, or one line saying
which Python is needed and how to get it, and never a half-made .venv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.venvs import find_python

SYSTEM_PATH = "/usr/bin:/bin"
VERSIONS = ["3.11", "3.12", "3.13"]


def make_install(project: Path, *args: str, path: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PATH": path, "UV_PYTHON_DOWNLOADS": "never", **env}
    return subprocess.run(
        ["make", "install", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def fresh_copy(render, tmp_path: Path, version: str) -> Path:
    project = tmp_path / "svc"
    shutil.copytree(render({"python_version": version, "deploy_targets": []}), project)
    return project


def test_no_matching_python_fails_in_one_line(render, tmp_path: Path) -> None:
    missing = [v for v in VERSIONS if not shutil.which(f"python{v}", path=SYSTEM_PATH)]
    if not missing:
        pytest.skip(f"every python3.x is in {SYSTEM_PATH}: none to miss")
    project = fresh_copy(render, tmp_path, missing[-1])

    result = make_install(project, path=SYSTEM_PATH)

    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert ours == [
        f"make install: Python {missing[-1]} not found: install it (uv python install "
        f"{missing[-1]}, or python{missing[-1]} with its venv module from your OS packages) "
        f"or run make install VENV_PYTHON=/path/to/python{missing[-1]}"
    ], result.stderr
    assert not (project / ".venv").exists()


def test_a_python_of_another_version_is_refused(render, tmp_path: Path) -> None:
    other = find_python("3.11")
    if other is None:
        pytest.skip("no Python 3.11 here to offer as the wrong one")
    project = fresh_copy(render, tmp_path, "3.12")

    result = make_install(project, f"VENV_PYTHON={other}", path=SYSTEM_PATH)

    assert result.returncode != 0
    assert f"make install: {other} is not Python 3.12: point VENV_PYTHON at one" in result.stderr
    assert not (project / ".venv").exists()


def _python_dir(version: str) -> str:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    # pyenv's shims are scripts that may fail for a version not selected: use the real one.
    return str(Path(python).resolve().parent)


def test_a_failed_install_removes_the_half_made_venv(render, tmp_path: Path) -> None:
    project = fresh_copy(render, tmp_path, "3.12")

    result = make_install(
        project, path=f"{_python_dir('3.12')}:{SYSTEM_PATH}", PIP_NO_INDEX="1"
    )  # no index: the service's dependencies cannot be installed

    assert result.returncode != 0
    assert not (project / ".venv").exists()


@pytest.mark.slow
def test_install_uses_the_answered_version_from_path(render, tmp_path: Path) -> None:
    project = fresh_copy(render, tmp_path, "3.12")
    path = f"{_python_dir('3.12')}:{SYSTEM_PATH}"

    result = make_install(project, path=path)

    assert result.returncode == 0, result.stderr
    version = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == "(3, 12)"
    assert (project / ".venv/bin/pytest").exists()
