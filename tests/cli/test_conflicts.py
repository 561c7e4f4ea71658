"""find_conflicts sees every kind of conflict an update can leave behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

from generator.project import find_conflicts
from tests.support.template_history import git, git_env


def repository(tmp_path: Path) -> Path:
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    (tmp_path / "app.py").write_text("value = 1\n")
    (tmp_path / ".gitignore").write_text("*.rej\n.venv/\n")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "base")
    return tmp_path


def test_clean_tree_has_no_conflicts(tmp_path: Path) -> None:
    project = repository(tmp_path)
    (project / ".venv").mkdir()
    (project / ".venv" / "vendored.py").write_text("<<<<<<< not ours, ignored\n")
    assert find_conflicts(project) == []


def test_inline_markers_and_ignored_rej_files(tmp_path: Path) -> None:
    project = repository(tmp_path)
    (project / "app.py").write_text(
        "<<<<<<< before updating\nvalue = 2\n=======\nvalue = 3\n>>>>>>> after updating\n"
    )
    (project / "Makefile.rej").write_text("@@ -1 +1 @@\n")
    assert find_conflicts(project) == ["Makefile.rej", "app.py"]


def test_unmerged_index_entries(tmp_path: Path) -> None:
    project = repository(tmp_path)
    git(project, "checkout", "--quiet", "-b", "other")
    (project / "app.py").write_text("value = 'other'\n")
    git(project, "commit", "--quiet", "-am", "other")
    git(project, "checkout", "--quiet", "main")
    (project / "app.py").write_text("value = 'main'\n")
    git(project, "commit", "--quiet", "-am", "main")
    merge = subprocess.run(
        ["git", "merge", "--quiet", "other"], cwd=project, capture_output=True, env=git_env()
    )
    assert merge.returncode != 0
    # Resolve the text by hand but leave the index unmerged: still a conflict.
    (project / "app.py").write_text("value = 'both'\n")
    assert find_conflicts(project) == ["app.py"]
