"""A service rendered by the last release gets messaging with `copier update` and a changed
answer: the publish route, the worker and its deployment files arrive, the team's edits
stay, the result equals a fresh copy plus the edits, and the project's own tests pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.cli import main as otel_service
from tests.support.template_history import History
from tests.support.venvs import find_python, install_project, run_project_tests
from tests.update.projects import recorded_answers, tree_differences
from tests.update.team_edits import missing_team_edits
from tests.update.test_update import fresh_with_team_edits, team_project


@pytest.mark.slow
@pytest.mark.parametrize(
    ("broker", "address"), [("rabbitmq", "rabbitmq:5672"), ("kafka", "kafka:9092")]
)
def test_update_from_the_last_release_adds_messaging(
    history: History,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    broker: str,
    address: str,
) -> None:
    project = team_project(history, history.released[-1], tmp_path / "team")
    assert not (project / "src" / "orders" / "worker.py").exists()

    exit_code = otel_service(
        ["update", str(project), "--defaults", "--data", f"messaging={broker}"]
    )

    assert exit_code == 0, capsys.readouterr().err
    answers = recorded_answers(project)
    assert answers["messaging"] == broker
    assert answers["broker_address"] == address
    package = project / "src" / "orders"
    for module in ("messaging.py", f"messaging_{broker}.py", "messages.py", "worker.py"):
        assert (package / module).is_file(), module
    assert "worker:" in (project / "Makefile").read_text()
    assert f"{broker}:" in (project / "compose.yaml").read_text()
    base = project / "deploy" / "k8s" / "base"
    assert "worker-deployment.yaml" in (base / "kustomization.yaml").read_text()
    assert missing_team_edits(project, "orders") == []
    expected = fresh_with_team_edits(history, project, tmp_path / "fresh")
    assert tree_differences(project, expected) == []

    python = find_python("3.12")
    assert python, "Python 3.12 is needed for the rendered project (python_version default)"
    bin_dir = install_project(project, python)
    run_project_tests(project, bin_dir)
    imported = subprocess.run(
        [str(bin_dir / "python"), "-c", "import orders.app, orders.worker"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
