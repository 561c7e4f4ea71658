"""The _migrations scripts on their own: every branch, idempotence, no overwrites.

tests/update/test_update.py runs them through a real copier update; these cover the cases
one template history cannot (e.g. the mount moving while the working tree keeps it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from generator.migrations import keep_edited_telemetry_modules, move_grafana_dashboards
from generator.rendering import TEMPLATE_ROOT
from tests.update.projects import commit_all, render_version

OLD = Path("deploy/compose/grafana/dashboards")
SCRIPT = Path(move_grafana_dashboards.__file__)
KEEP_SCRIPT = Path(keep_edited_telemetry_modules.__file__)


def project_with(tmp_path: Path, dashboards_mount: str | None, files: dict[str, str]) -> Path:
    volumes = ["./deploy/compose/grafana/provisioning:/etc/grafana/provisioning:ro"]
    if dashboards_mount:
        volumes.append(f"{dashboards_mount}:/etc/grafana/dashboards:ro")
    tmp_path.mkdir(parents=True, exist_ok=True)
    compose = {"services": {"grafana": {"image": "grafana/grafana:12.4.3", "volumes": volumes}}}
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(compose))
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def migrate(project: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result


def test_moves_team_dashboards_to_the_newly_mounted_folder_once(tmp_path: Path) -> None:
    project = project_with(
        tmp_path, "./observability/dashboards", {f"{OLD}/team.json": '{"title": "team"}'}
    )

    first = migrate(project)
    second = migrate(project)

    assert (project / "observability/dashboards/team.json").read_text() == '{"title": "team"}'
    assert not (project / OLD).exists()
    assert "moved deploy/compose/grafana/dashboards/team.json" in first.stderr
    assert second.stderr == ""


def test_never_overwrites_a_dashboard_of_the_same_name(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        "./observability/dashboards",
        {
            f"{OLD}/svc.json": "team version",
            "observability/dashboards/svc.json": "template version",
        },
    )

    result = migrate(project)

    assert (project / "observability/dashboards/svc.json").read_text() == "template version"
    assert (project / OLD / "svc.json").read_text() == "team version"
    assert "merge it by hand" in result.stderr


def test_leaves_dashboards_alone_when_the_mount_did_not_move_or_is_gone(tmp_path: Path) -> None:
    same = project_with(
        tmp_path / "same", f"./{OLD}", {f"{OLD}/team.json": "x", f"{OLD}/README.md": ""}
    )
    assert migrate(same).stderr == ""
    assert (same / OLD / "team.json").is_file()

    gone = project_with(tmp_path / "gone", None, {f"{OLD}/team.json": "x"})
    assert "left in" in migrate(gone).stderr
    assert (gone / OLD / "team.json").is_file()


def test_without_compose_or_team_dashboards_nothing_happens(tmp_path: Path) -> None:
    assert migrate(tmp_path).stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_copier_yml_runs_it_after_updates_to_0_4_0() -> None:
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    (migration,) = [m for m in config["_migrations"] if "move_grafana_dashboards" in str(m)]
    assert migration["version"] == "0.4.0"
    assert migration["when"] == "{{ _stage == 'after' }}"
    assert migration["command"][1].endswith("/" + SCRIPT.relative_to(TEMPLATE_ROOT).as_posix())
    # Tasks may only do optional set-up: none of them may rewrite rendered files. The one
    # task there is writes uv.lock, which the template never renders.
    for task in config.get("_tasks", []):
        assert task["command"][1].endswith("/generator/tasks/lock_dependencies.py"), task


# --- 0.5.0: edited telemetry modules kept ------------------------------------------------


def test_an_edited_moved_module_is_kept_and_an_unedited_one_stays_deleted(
    history, tmp_path: Path
) -> None:
    project = render_version(
        history.repository, "v0.4.0", tmp_path / "orders", {"service_name": "orders"}
    )
    logging_setup = project / "src/orders/logging_setup.py"
    logging_setup.write_text(logging_setup.read_text() + "# the team's edit\n")
    commit_all(project, "generated at 0.4.0, then edited")
    for name in ("logging_setup.py", "metric_views.py"):  # as the update deletes them
        (project / "src/orders" / name).unlink()

    first = subprocess.run(
        [sys.executable, str(KEEP_SCRIPT), str(history.repository), "v0.4.0"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    second = subprocess.run(
        [sys.executable, str(KEEP_SCRIPT), str(history.repository), "v0.4.0"],
        cwd=project,
        capture_output=True,
        text=True,
    )

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert logging_setup.read_text().endswith("# the team's edit\n")
    assert not (project / "src/orders/metric_views.py").exists()
    assert "src/orders/logging_setup.py had your edits" in first.stderr
    assert "src/orders/telemetry/logs.py" in first.stderr
    assert second.stderr == ""
