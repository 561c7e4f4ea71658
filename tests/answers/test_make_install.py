"""`make install` in a render: uv installs the locked dependencies into .venv with the
answered python_version (from .python-version), whatever `python3` is; or one line says
which Python is needed and how to get it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.venvs import find_python

SYSTEM_PATH = "/usr/bin:/bin"
VERSIONS = ["3.11", "3.12", "3.13"]


def uv_dir() -> str:
    uv = shutil.which("uv")
    assert uv, "uv not on PATH: scripts/test installs it with the repo's dependencies"
    return str(Path(uv).parent)


def make_install(project: Path, *, path: str, **env: str) -> subprocess.CompletedProcess:
    # No interpreter downloads: this machine reaches package registries only. UV_PYTHON
    # from the caller's environment would pick the interpreter for the project.
    environment = {k: v for k, v in os.environ.items() if k != "UV_PYTHON"}
    environment |= {"PATH": path, "UV_PYTHON_DOWNLOADS": "never", **env}
    return subprocess.run(
        ["make", "install"],
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


def python_on(path: str) -> str:
    found = shutil.which("python3", path=path)
    assert found, f"no python3 on {path}"
    result = subprocess.run(
        [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_no_matching_python_fails_in_one_line(render, tmp_path: Path) -> None:
    path = f"{uv_dir()}:{SYSTEM_PATH}"
    missing = [v for v in VERSIONS if not shutil.which(f"python{v}", path=path)]
    if not missing:
        pytest.skip(f"every python3.x is on {path}: none to miss")
    project = fresh_copy(render, tmp_path, missing[-1])

    result = make_install(project, path=path)

    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    version = missing[-1]
    assert ours == [
        f"make install: Python {version} (.python-version) is neither installed nor downloadable "
        f"here: install it (uv python install {version} where python.org downloads work, or "
        f"python{version} from your OS packages) or run make install "
        f"UV_PYTHON=/path/to/python{version}"
    ], result.stderr
    assert not (project / ".venv").exists()


def test_without_uv_fails_in_one_line(render, tmp_path: Path) -> None:
    project = fresh_copy(render, tmp_path, "3.12")

    result = make_install(project, path=SYSTEM_PATH)

    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert ours == [
        "make install: uv not found: install it (pip install uv, or see docs.astral.sh/uv)"
    ]


def _python_dir(version: str) -> str:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    # pyenv's shims are scripts that may fail for a version not selected: use the real one.
    return str(Path(python).resolve().parent)


@pytest.mark.slow
def test_install_uses_the_answered_version_not_python3(render, tmp_path: Path) -> None:
    project = fresh_copy(render, tmp_path, "3.12")
    project.joinpath("uv.lock").unlink(missing_ok=True)
    # python3 first on PATH is another version; the answered one is on PATH further on.
    path = f"{uv_dir()}:{SYSTEM_PATH}:{_python_dir('3.12')}"
    assert python_on(path) != "3.12"

    result = make_install(project, path=path)

    assert result.returncode == 0, result.stderr
    version = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == "(3, 12)"
    assert (project / ".venv/bin/pytest").exists()
    # uv sync locked the dependencies on the way (the copy had no lock).
    assert "opentelemetry-sdk" in project.joinpath("uv.lock").read_text()
