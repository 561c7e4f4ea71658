"""copier update from every released version to the working tree keeps the team's edits.

The history (releases.yml tags plus the working tree as the upcoming version) is rebuilt in
a temporary clone; updates go through `otel-service update`, as a team would run them.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from generator.cli import main as otel_service
from generator.project import find_conflicts
from generator.tasks.lock_dependencies import find_uv
from tests.support.template_history import History, read_releases
from tests.support.venvs import find_python, install_project, run_project_tests
from tests.update.projects import (
    commit_all,
    recorded_answers,
    render_version,
    tree_differences,
    user_answers,
)
from tests.update.team_edits import apply_team_edits, missing_team_edits

TEAM_ANSWERS: dict[str, Any] = {
    "service_name": "orders",
    "owner": "team-orders",
    "framework": "flask",
    "exporters": ["otlp_http"],
}
RELEASED = [f"v{version}" for version in read_releases()[0]]


def team_project(history: History, tag: str, root: Path, **answers: Any) -> Path:
    """A project rendered at ``tag``, committed, edited by the team and committed again."""
    project = render_version(history.repository, tag, root / "orders", {**TEAM_ANSWERS, **answers})
    commit_all(project, f"Generated at {tag}")
    apply_team_edits(project, "orders")
    commit_all(project, "Team edits")
    return project


def fresh_with_team_edits(history: History, project: Path, root: Path) -> Path:
    """The newest version rendered with the project's recorded answers, plus the team edits."""
    fresh = render_version(
        history.repository, history.newest, root / "orders", user_answers(project)
    )
    apply_team_edits(fresh, "orders")
    # A team that adds a dependency relocks; the update relocks the merged pyproject.toml.
    relock(fresh)
    if (project / "src/orders/logging_setup.py").exists():
        # Updated from before 0.5.0: the migration kept the team's edited old module.
        expect_kept_moved_module(project, fresh)
    return fresh


def relock(project: Path) -> None:
    subprocess.run([find_uv(), "lock", "--quiet"], cwd=project, check=True, timeout=300)


def assert_lock_is_current(project: Path) -> None:
    """uv.lock matches pyproject.toml: `make install` (uv sync --locked in CI) accepts it."""
    result = subprocess.run(
        [find_uv(), "lock", "--check"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tag", RELEASED)
def test_update_keeps_team_edits_and_equals_a_fresh_copy_plus_edits(
    history: History, tmp_path: Path, tag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = team_project(history, tag, tmp_path / "team")

    exit_code = otel_service(["update", str(project), "--defaults"])

    output = capsys.readouterr()
    assert exit_code == 0, output.err
    assert f"from {tag} to {history.newest}, no conflicts" in output.out
    assert recorded_answers(project)["_commit"] == history.newest
    assert find_conflicts(project) == []
    assert not list(project.rglob("*.rej"))
    assert missing_team_edits(project, "orders") == []
    assert_lock_is_current(project)
    expected = fresh_with_team_edits(history, project, tmp_path / "fresh")
    assert (project / "src/orders/logging_setup.py").exists() == (
        Version(tag.removeprefix("v")) < Version("0.5.0")
    )
    assert tree_differences(project, expected) == []


def expect_kept_moved_module(project: Path, expected: Path) -> None:
    """0.5.0 moved logging_setup.py to telemetry/logs.py. Copier would delete the team's
    edited old file; the 0.5.0 migration keeps it as committed, and the new module is as
    released: that is what the updated project must hold."""
    old, new = "src/orders/logging_setup.py", "src/orders/telemetry/logs.py"
    committed = subprocess.run(
        ["git", "show", f"HEAD:{old}"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    (expected / old).write_text(committed)
    logs = expected / new
    logs.write_text(logs.read_text().replace('"LOG_LEVEL", "DEBUG"', '"LOG_LEVEL", "INFO"', 1))


def test_overlapping_edit_is_reported_as_a_conflict_with_a_non_zero_exit(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oldest = history.released[0]
    project = team_project(history, oldest, tmp_path / "team")
    newest = fresh_with_team_edits(history, project, tmp_path / "fresh")
    name, line = _a_line_the_template_changed(project, newest)
    path = project / name
    path.write_text(path.read_text().replace(line, line.rstrip("\n") + "  # team change\n", 1))
    commit_all(project, "Team edit on a line the template changes")

    exit_code = otel_service(["update", str(project), "--defaults"])

    output = capsys.readouterr()
    assert exit_code == 1
    assert "conflicted file(s)" in output.err
    assert f"  {name}" in output.err.splitlines()
    assert "Traceback" not in output.err
    assert "<<<<<<< before updating" in path.read_text()


def _a_line_the_template_changed(project: Path, newest: Path) -> tuple[str, str]:
    """A (file, line) of the old render that the newest version replaces."""
    for path in sorted(project.rglob("*")):
        name = path.relative_to(project).as_posix()
        if ".git" in path.parts or not path.is_file() or name.startswith("."):
            continue
        counterpart = newest / name
        if not counterpart.is_file():
            continue
        old_lines = path.read_text().splitlines(keepends=True)
        new_lines = counterpart.read_text().splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        for operation, start, _end, _, _ in matcher.get_opcodes():
            if operation == "replace" and old_lines[start].strip():
                return name, old_lines[start]
    raise AssertionError("no line of the oldest release changes in the newest: nothing to overlap")


def test_changing_answers_on_update(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # deploy_targets exists from 0.3.0 on.
    project = team_project(history, "v0.3.0", tmp_path / "team", deploy_targets=["compose"])

    exit_code = otel_service(
        [
            "update",
            str(project),
            "--defaults",
            "--data",
            "deploy_targets=compose,kubernetes",
            "--data",
            "sampler=parentbased_traceidratio",
            "--data",
            "sampling_ratio=0.25",
        ]
    )

    assert exit_code == 0, capsys.readouterr().err
    answers = recorded_answers(project)
    assert answers["deploy_targets"] == ["compose", "kubernetes"]
    assert answers["sampler"] == "parentbased_traceidratio"
    assert answers["sampling_ratio"] == 0.25
    assert missing_team_edits(project, "orders") == []
    expected = fresh_with_team_edits(history, project, tmp_path / "fresh")
    assert tree_differences(project, expected) == []


def test_team_dashboard_stays_provisioned_across_the_update(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 0.4.0 migration: dashboards saved where 0.3.0's README said keep loading."""
    project = team_project(history, "v0.3.0", tmp_path / "team", deploy_targets=["compose"])
    dashboard = '{"title": "Orders (team)", "panels": []}\n'
    (project / "deploy/compose/grafana/dashboards/team-orders.json").write_text(dashboard)
    commit_all(project, "Team dashboard")

    assert otel_service(["update", str(project), "--defaults"]) == 0, capsys.readouterr().err

    mounted = _grafana_dashboards_folder(project)
    assert (project / mounted / "team-orders.json").read_text() == dashboard
    assert find_conflicts(project) == []
    status_after_update = _status(project)
    # Idempotent: running the migration again changes nothing.
    _run_dashboard_migration(project)
    assert _status(project) == status_after_update


def _grafana_dashboards_folder(project: Path) -> Path:
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    for volume in compose["services"]["grafana"]["volumes"]:
        source, target = volume.split(":")[:2]
        if target == "/etc/grafana/dashboards":
            return Path(source)
    raise AssertionError("compose.yaml mounts no dashboards folder into Grafana")


def _status(project: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _run_dashboard_migration(project: Path) -> None:
    from generator.migrations import move_grafana_dashboards

    script = Path(move_grafana_dashboards.__file__)
    subprocess.run([sys.executable, str(script)], cwd=project, check=True)


@pytest.mark.slow
def test_project_tests_pass_after_updating_the_oldest_release(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = find_python("3.12")
    assert python, "Python 3.12 is needed for the rendered project (python_version default)"
    project = team_project(history, history.released[0], tmp_path / "team")
    assert otel_service(["update", str(project), "--defaults"]) == 0, capsys.readouterr().err

    bin_dir = install_project(project, python)
    result = run_project_tests(project, bin_dir)
    assert " passed" in result.stdout


COLLECTOR_FILES = [
    "collector/otelcol-agent.yaml",
    "collector/kustomization.yaml",
    "deploy/k8s/base/otel-agent-daemonset.yaml",
    "deploy/k8s/base/otel-gateway-deployment.yaml",
    "deploy/k8s/base/otel-gateway.env",
    "observability/otel-collector-podmonitor.yaml",
]


def test_a_service_from_before_topologies_keeps_its_own_collector(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 0.5.0 migration: the new default (platform) is not forced on an existing service."""
    project = team_project(history, "v0.4.0", tmp_path / "team")
    assert "collector_topology" not in recorded_answers(project)

    assert otel_service(["update", str(project), "--defaults"]) == 0, capsys.readouterr().err

    assert recorded_answers(project)["collector_topology"] == "bundled"
    assert [name for name in COLLECTOR_FILES if not (project / name).is_file()] == []
    assert find_conflicts(project) == []


def test_choosing_the_platform_collector_on_update_removes_the_collector_cleanly(
    history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = team_project(history, "v0.4.0", tmp_path / "team")

    exit_code = otel_service(
        ["update", str(project), "--defaults", "--data", "collector_topology=platform"]
    )

    assert exit_code == 0, capsys.readouterr().err
    answers = recorded_answers(project)
    assert answers["collector_topology"] == "platform"
    assert [name for name in COLLECTOR_FILES if (project / name).exists()] == []
    base = project / "deploy/k8s/base"
    assert not list(base.glob("otel-*")), "no collector manifest left behind"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    assert all(
        "otel-" not in resource and resource != "../../../collector"
        for resource in kustomization["resources"]
    )
    env = (base / "otel.env").read_text()
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT={answers['platform_otlp_endpoint']}" in env
    assert find_conflicts(project) == []
    assert not list(project.rglob("*.rej"))
    assert missing_team_edits(project, "orders") == []
    expected = fresh_with_team_edits(history, project, tmp_path / "fresh")
    assert tree_differences(project, expected) == []
