"""Tier 1: every combination renders clean, parseable, lint-free files."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.matrix import MATRIX, MESSAGING_MATRIX, matrix_id

UNRENDERED = re.compile(r"{{|}}|{%|%}")
# Templates of other tools that rendered files legitimately carry: GitHub Actions
# expressions and Go templates (kubeconform's schema location).
FOREIGN_TEMPLATES = re.compile(r"\$\{\{.*?\}\}|\{\{\.[A-Za-z]+\}\}")


# What only a template's author knows: its answers, copier.yml, "the template". A team
# reads its project as its own code; the one exception is the header of the files the
# template keeps current, which says so.
TEMPLATE_VOCABULARY = re.compile(
    r"copier\.yml"
    r"|\bthe template\b"
    r"|\b(?:the|this|that|which|an?|your|its) (?:`[^`]+` |[a-z]+_[a-z_]+ )?answers?\b",
    re.IGNORECASE,
)
MAINTAINED_HEADER = "Maintained by the service template: `copier update` keeps this file current."


def rendered_files(project: Path) -> list[Path]:
    return [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts]


@pytest.fixture(params=MATRIX + MESSAGING_MATRIX, ids=matrix_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


def test_no_unrendered_jinja_and_no_template_suffix(project: Path) -> None:
    for path in rendered_files(project):
        assert not path.name.endswith(".jinja"), path
        text = path.read_text()
        assert not UNRENDERED.search(FOREIGN_TEMPLATES.sub("", text)), f"unrendered Jinja in {path}"


def test_no_template_vocabulary(project: Path) -> None:
    found = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in rendered_files(project)
        if path.name != ".copier-answers.yml"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if TEMPLATE_VOCABULARY.search(line.replace(MAINTAINED_HEADER, ""))
    ]
    assert not found, "template vocabulary in the project:\n" + "\n".join(found)


def test_template_maintained_files_say_so(project: Path) -> None:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    package = project / "src" / answers["package_name"]
    maintained = [p for p in (package / "telemetry").iterdir() if p.is_file()]
    assert len(maintained) >= 4, maintained
    maintained.append(project / "tests" / "test_telemetry.py")
    for path in maintained:
        assert MAINTAINED_HEADER in path.read_text().splitlines()[0], path


def test_no_blank_line_litter(project: Path) -> None:
    for path in rendered_files(project):
        text = path.read_text()
        assert "\n\n\n\n" not in text, f"three blank lines in a row in {path}"
        assert text.endswith("\n") and not text.endswith("\n\n"), f"bad file ending in {path}"
        assert not re.search(r"[ \t]+$", text, re.MULTILINE), f"trailing whitespace in {path}"


def test_structured_files_parse(project: Path) -> None:
    parsers: dict[str, Any] = {
        ".yaml": yaml.safe_load,
        ".yml": yaml.safe_load,
        ".json": json.loads,
        ".toml": tomllib.loads,
    }
    checked = 0
    for path in rendered_files(project):
        if parser := parsers.get(path.suffix):
            parser(path.read_text())
            checked += 1
    assert checked >= 2  # pyproject.toml and the answers file at least


def test_ruff_check_and_format_pass(project: Path) -> None:
    for command in (
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--check", "--no-cache", "."],
    ):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_answers_file_records_the_answers(project: Path, request: pytest.FixtureRequest) -> None:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    for key, value in request.node.callspec.params["project"].items():
        assert answers[key] == value
    assert "otlp_protocol" not in answers  # derived values are recomputed, never stored


def test_framework_files_are_exclusive(project: Path, request: pytest.FixtureRequest) -> None:
    answers = request.node.callspec.params["project"]
    package = project / "src" / answers["service_name"].replace("-", "_")
    assert (project / "gunicorn.conf.py").exists() == (answers["framework"] != "fastapi")
    assert (project / "manage.py").exists() == (answers["framework"] == "django")
    assert (package / "app.py").exists() == (answers["framework"] != "django")
    assert (package / "wsgi.py").exists() == (answers["framework"] == "django")
