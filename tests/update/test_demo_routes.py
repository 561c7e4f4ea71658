"""The example routes are the team's from the first copy on: a team that deleted them does
not get them back from `copier update`, even from a release that changed them, while a
team that kept them gets the change merged like any other."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.cli import main as otel_service
from generator.project import find_conflicts
from tests.support.template_history import History, git, git_env
from tests.update.projects import commit_all, render_version

ANSWERS = {"service_name": "orders", "framework": "flask", "exporters": ["otlp_http"]}
# The example routes' own files, and the line the newer release adds to each.
DEMO_FILES = {
    "src/orders/items.py": "src/{{package_name}}/{% if demo_routes %}items.py{% endif %}.jinja",
    "src/orders/config.py": "src/{{package_name}}/{% if demo_routes %}config.py{% endif %}.jinja",
    "tests/test_demo_routes.py": "tests/{% if demo_routes %}test_demo_routes.py{% endif %}.jinja",
}
NEWER_LINE = "# Changed by a newer release.\n"


@pytest.fixture
def newer_template(history: History, tmp_path: Path) -> tuple[Path, str, str]:
    """A clone of the history with one more release that changes every demo file; returns
    (repository, the working tree's tag, the newer tag)."""
    repository = tmp_path / "template"
    subprocess.run(
        ["git", "clone", "--quiet", "--shared", str(history.repository), str(repository)],
        check=True,
        env=git_env(),
    )
    git(repository, "checkout", "--quiet", history.newest)
    for source in DEMO_FILES.values():
        path = repository / "template" / source
        path.write_text(path.read_text() + NEWER_LINE)
    git(repository, "commit", "--quiet", "--all", "-m", "a release that changes the demo")
    git(repository, "tag", "v99.0.0")
    return repository, history.newest, "v99.0.0"


def _team_project(template: Path, tag: str, root: Path) -> Path:
    project = render_version(template, tag, root / "orders", ANSWERS)
    commit_all(project, f"Generated at {tag}")
    return project


def test_deleted_demo_files_stay_deleted(
    newer_template: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, first, newer = newer_template
    project = _team_project(template, first, tmp_path / "deleted")
    for name in DEMO_FILES:
        (project / name).unlink()
    commit_all(project, "Our own routes replace the examples")

    exit_code = otel_service(["update", str(project), "--defaults", "--vcs-ref", newer])

    assert exit_code == 0, capsys.readouterr().err
    assert [name for name in DEMO_FILES if (project / name).exists()] == []
    assert find_conflicts(project) == []
    assert not list(project.rglob("*.rej"))


def test_kept_demo_files_get_the_newer_release(
    newer_template: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, first, newer = newer_template
    project = _team_project(template, first, tmp_path / "kept")

    exit_code = otel_service(["update", str(project), "--defaults", "--vcs-ref", newer])

    assert exit_code == 0, capsys.readouterr().err
    for name in DEMO_FILES:
        assert (project / name).read_text().endswith(NEWER_LINE), name
