"""Every error path of `otel-service new`, `update`, `doctor` and `options` that a path or
the template source can take: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import Outcome, otel_service, otel_service_process, refused
from tests.support.template_history import History, git
from tests.update.projects import commit_all, recorded_answers, render_version


def one_line(result: Outcome) -> None:
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a project\n")
    return path


@pytest.fixture
def a_loop(tmp_path: Path) -> Path:
    """A path no one can read, even root: a symbolic link to itself."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    return loop


def test_new_into_a_file(history: History, a_file: Path) -> None:
    result = otel_service("new", str(a_file), "--template", str(history.repository))
    refused(result, f"{a_file} exists and is not a directory")
    one_line(result)
    assert a_file.read_text() == "not a project\n"


def test_new_below_a_file(history: History, a_file: Path) -> None:
    result = otel_service("new", str(a_file / "svc"), "--template", str(history.repository))
    refused(result, f"{a_file} is a file, so {a_file / 'svc'} cannot be created")
    one_line(result)


def test_new_into_an_unreadable_path(history: History, a_loop: Path) -> None:
    result = otel_service("new", str(a_loop / "svc"), "--template", str(history.repository))
    refused(result, "cannot be resolved", "pass another path")
    one_line(result)


def test_new_from_a_template_that_is_a_file(a_file: Path, tmp_path: Path) -> None:
    result = otel_service("new", str(tmp_path / "svc"), "--template", str(a_file))
    refused(result, "template not found", "has no copier.yml")
    one_line(result)


def test_new_from_an_unreachable_git_url(tmp_path: Path) -> None:
    result = otel_service(
        "new", str(tmp_path / "svc"), "--template", f"file://{tmp_path}/missing.git"
    )
    refused(result, "does not resolve")
    one_line(result)


@pytest.mark.parametrize("command", ["update", "doctor"])
def test_update_and_doctor_on_a_file(command: str, a_file: Path) -> None:
    result = otel_service(command, str(a_file))
    refused(result, f"{a_file} is not a directory", "pass the folder of a generated project")
    one_line(result)


@pytest.mark.parametrize("command", ["update", "doctor"])
def test_update_and_doctor_on_a_missing_folder(command: str, tmp_path: Path) -> None:
    result = otel_service(command, str(tmp_path / "nowhere"))
    refused(result, "does not exist", "pass the folder of a generated project")
    one_line(result)


@pytest.mark.parametrize("command", ["update", "doctor"])
def test_update_and_doctor_on_an_unreadable_path(command: str, a_loop: Path) -> None:
    result = otel_service(command, str(a_loop))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("otel-service: error:")
    one_line(result)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"\xff\xfe not utf-8", "cannot be read (not UTF-8 text)"), (b"a: [b\n", "not valid YAML")],
)
def test_doctor_on_an_unreadable_answers_file(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    (tmp_path / ".copier-answers.yml").write_bytes(content)
    result = otel_service("doctor", str(tmp_path))
    refused(result, fragment, "restore it from git history")
    one_line(result)


def test_doctor_on_a_project_whose_template_is_gone(
    history: History, old_project: Path, tmp_path: Path
) -> None:
    answers = recorded_answers(old_project)
    answers["_src_path"] = str(tmp_path / "moved-away")
    (old_project / ".copier-answers.yml").write_text(yaml.safe_dump(answers))
    commit_all(old_project, "Template moved")

    for command in ("doctor", "update"):
        result = otel_service(command, str(old_project))
        refused(result, f"template source {tmp_path / 'moved-away'} does not exist")
        one_line(result)
        assert "the repository exists" not in result.stderr


def test_doctor_on_a_template_that_is_not_a_repository(old_project: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain-folder"
    plain.mkdir()
    answers = recorded_answers(old_project)
    answers["_src_path"] = str(plain)
    (old_project / ".copier-answers.yml").write_text(yaml.safe_dump(answers))

    result = otel_service("doctor", str(old_project))

    refused(result, "does not resolve", "does not appear to be a git repository")
    one_line(result)
    assert "the repository exists" not in result.stderr


def test_options_error_paths(history: History, a_file: Path, tmp_path: Path) -> None:
    for args, fragment in [
        (["--template", str(a_file)], "template not found"),
        (["--template", str(tmp_path / "nowhere")], "template not found"),
        (["--template", str(history.repository), "--vcs-ref", "v9.9.9"], "'v9.9.9' not found"),
        (["--template", f"file://{tmp_path}/missing.git"], "cannot be cloned"),
    ]:
        result = otel_service("options", *args)
        refused(result, fragment)
        one_line(result)


def test_a_file_as_destination_in_a_real_process(history: History, a_file: Path) -> None:
    result = otel_service_process("new", str(a_file), "--template", str(history.repository))
    refused(result, "exists and is not a directory")


def test_update_refuses_a_recorded_answer_the_new_release_refuses(
    history: History, tmp_path: Path
) -> None:
    """0.4.0 accepted an owner ending in '.', which is no Backstage entity name; copier
    update would silently replace it with the default."""
    project = render_version(
        history.repository,
        history.released[-1],
        tmp_path / "shop",
        {"service_name": "shop", "owner": "team."},
    )
    commit_all(project, "Generated")
    head = git(project, "rev-parse", "HEAD")

    result = otel_service("update", str(project))

    refused(result, "refuses the recorded answer(s) owner 'team.'", "--data owner=...")
    one_line(result)
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head
    assert recorded_answers(project)["owner"] == "team."

    fixed = otel_service("update", str(project), "--data", "owner=team")
    assert fixed.returncode == 0, fixed.stderr
    assert recorded_answers(project)["owner"] == "team"
