"""Rendered projects as the update and CLI tests handle them: render a template version,
commit it like a team would, compare two trees."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import copier
import yaml

from generator import questions, template_source
from tests.support.template_history import git

ANSWERS_FILE = ".copier-answers.yml"


def render_version(template: Path, tag: str, destination: Path, answers: Mapping[str, Any]) -> Path:
    """Render ``tag`` with the answers that version asks (older ones lack newer prompts)."""
    asked = questions.prompts(template_source.copier_config(str(template), tag))
    copier.run_copy(
        str(template),
        destination,
        data={key: value for key, value in answers.items() if key in asked},
        vcs_ref=tag,
        defaults=True,
        quiet=True,
        unsafe=True,
    )
    return destination


def commit_all(project: Path, message: str) -> None:
    if not (project / ".git").exists():
        git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", message)


def recorded_answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ANSWERS_FILE).read_text())


def user_answers(project: Path) -> dict[str, Any]:
    return {k: v for k, v in recorded_answers(project).items() if not k.startswith("_")}


def tree_differences(actual: Path, expected: Path) -> list[str]:
    """Paths that differ between two project trees (ignoring .git and the answers' _commit),
    each with a short diff."""
    differences = []
    names = {_relative(path, actual) for path in _files(actual)}
    names |= {_relative(path, expected) for path in _files(expected)}
    for name in sorted(names):
        mine, theirs = actual / name, expected / name
        if not mine.is_file() or not theirs.is_file():
            differences.append(f"{name}: only in {'expected' if theirs.is_file() else 'actual'}")
            continue
        left, right = mine.read_text(), theirs.read_text()
        if name == ANSWERS_FILE:
            left, right = _without_commit(left), _without_commit(right)
        if left != right:
            diff = difflib.unified_diff(
                right.splitlines(), left.splitlines(), "expected", "actual", lineterm="", n=1
            )
            differences.append(f"{name}:\n" + "\n".join(list(diff)[:30]))
    return differences


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and ".git" not in path.parts]


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _without_commit(answers: str) -> str:
    return "\n".join(line for line in answers.splitlines() if not line.startswith("_commit:"))
