"""otel-service: every subcommand, every refusal (exit code, one clear line, no traceback)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tomllib
from contextlib import chdir, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from generator import questions, template_source
from generator.cli import main
from generator.presets import builtin_presets
from generator.rendering import TEMPLATE_ROOT
from tests.support.template_history import History, git
from tests.update.projects import commit_all, recorded_answers, render_version


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def otel_service(*args: str, cwd: Path | None = None) -> Outcome:
    """The CLI in this process (fast); an exception escaping main() fails the test, so a
    refusal that would print a traceback cannot pass."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), chdir(cwd or Path.cwd()):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse usage errors
            code = int(exit_.code or 0)
    return Outcome(code, out.getvalue(), err.getvalue())


def otel_service_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as users run it, in its own process."""
    env = {**os.environ, "PYTHONPATH": str(TEMPLATE_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def refused(
    result: Outcome | subprocess.CompletedProcess[str], *fragments: str, code: int = 2
) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("otel-service: error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"


# --- new -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(builtin_presets()))
def test_new_with_each_builtin_preset_records_an_absolute_source_and_the_newest_tag(
    history: History, tmp_path: Path, preset: str
) -> None:
    relative_template = os.path.relpath(history.repository, tmp_path)

    result = otel_service(
        "new", "checkout-api", "--preset", preset, "--template", relative_template, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    project = tmp_path / "checkout-api"
    answers = recorded_answers(project)
    assert answers["_src_path"] == str(history.repository)
    assert answers["_commit"] == history.newest
    assert answers["service_name"] == "checkout-api"  # from the destination's name
    preset_answers = yaml.safe_load(builtin_presets()[preset].read_text())
    for key, value in preset_answers.items():
        assert answers[key] == value, key
    assert "Next steps:" in result.stdout and "make install && make test" in result.stdout
    assert git(project, "status", "--porcelain") == ""
    assert len(git(project, "log", "--oneline").splitlines()) == 1


def test_new_data_overrides_the_preset_and_is_typed(history: History, tmp_path: Path) -> None:
    result = otel_service(
        "new",
        str(tmp_path / "svc"),
        "--template",
        str(history.repository),
        "--preset",
        "kubernetes-tail-sampling",
        "--data",
        "service_name=payments",
        "--data",
        "tail_sampling_ratio=0.5",
        "--data",
        "slow_trace_threshold_ms=250",
        "--data",
        "exporters=otlp_http,prometheus",
        "--no-git",
    )

    assert result.returncode == 0, result.stderr
    answers = recorded_answers(tmp_path / "svc")
    assert answers["service_name"] == "payments"
    assert answers["tail_sampling_ratio"] == 0.5
    assert answers["slow_trace_threshold_ms"] == 250
    assert answers["exporters"] == ["otlp_http", "prometheus"]
    assert not (tmp_path / "svc" / ".git").exists()


def test_new_renders_the_platform_collector_kit(history: History, tmp_path: Path) -> None:
    result = otel_service(
        "new",
        str(tmp_path / "kit"),
        "--template",
        str(history.repository),
        "--data",
        "project_kind=platform_collector",
        "--no-git",
    )

    assert result.returncode == 0, result.stderr
    assert recorded_answers(tmp_path / "kit")["project_kind"] == "platform_collector"
    assert (tmp_path / "kit" / "deploy/k8s/base/otel-agent-daemonset.yaml").is_file()
    assert "kubectl apply -k deploy/k8s/overlays/prod" in result.stdout
    assert "make install" not in result.stdout


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ("tail_sampling=maybe", ["--data: tail_sampling must be true or false, got 'maybe'"]),
        ("colour=blue", ["unknown answer 'colour'", "valid answers are: project_kind,"]),
        ("framework=bottle", ["framework 'bottle' is not one of: flask, fastapi, django"]),
        ("exporters=otlp_http,zipkin", ["exporters 'zipkin' is not one of"]),
        ("slo_latency_ms=fast", ["slo_latency_ms must be a whole number, got 'fast'"]),
        ("slo_availability=high", ["slo_availability must be a number, got 'high'"]),
        ("images={}", ["unknown answer 'images'"]),
        ("framework", ["--data 'framework' is not key=value"]),
        # copier's own validator, reached once the types are right
        ("service_name=Bad_Name", ["service_name 'Bad_Name' is not a DNS-1123 label"]),
    ],
)
def test_new_refuses_bad_answers_before_writing_anything(
    history: History, tmp_path: Path, data: str, fragments: list[str]
) -> None:
    result = otel_service(
        "new", str(tmp_path / "svc"), "--template", str(history.repository), "--data", data
    )

    refused(result, *fragments)
    assert not (tmp_path / "svc").exists() or not any((tmp_path / "svc").iterdir())


@pytest.mark.parametrize(
    ("preset_text", "fragments"),
    [
        ("python_version: 3.12\n", ["python_version must be text", "python_version: '3.12'"]),
        ("dashboard: maybe\n", ["dashboard must be true or false, got the text 'maybe'"]),
        ("slo_latency_ms: true\n", ["slo_latency_ms must be a whole number, got True"]),
        ("deploy_targets: compose\n", ["deploy_targets must be a list", "[a, b]"]),
        ('dashboard: "true"\n', ["dashboard must be true or false, got the text 'true'"]),
        ("tracing: on\n", ["preset team.yml: unknown answer 'tracing'"]),
        ("- a\n- b\n", ["must be a mapping of answers"]),
        ("framework: [unclosed\n", ["is not valid YAML"]),
    ],
)
def test_preset_files_are_checked_strictly(
    history: History, tmp_path: Path, preset_text: str, fragments: list[str]
) -> None:
    preset = tmp_path / "team.yml"
    preset.write_text(preset_text)

    result = otel_service(
        "new", str(tmp_path / "svc"), "--template", str(history.repository), "--preset", str(preset)
    )

    refused(result, *fragments)


def test_a_preset_for_a_newer_release_names_the_version_it_was_checked_against(
    history: History, tmp_path: Path
) -> None:
    oldest = history.released[0]
    result = otel_service(
        "new",
        str(tmp_path / "svc"),
        "--template",
        str(history.repository),
        "--vcs-ref",
        oldest,
        "--preset",
        "minimal",
    )
    refused(result, f"unknown answer 'deploy_targets' in template version {oldest}")


def test_unknown_preset_names_the_builtin_ones(history: History, tmp_path: Path) -> None:
    result = otel_service(
        "new", str(tmp_path / "svc"), "--template", str(history.repository), "--preset", "golden"
    )
    refused(result, "unknown preset 'golden'", *builtin_presets())


def test_new_refuses_a_non_empty_destination(history: History, tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "notes.txt").write_text("mine")
    result = otel_service("new", str(tmp_path / "svc"), "--template", str(history.repository))
    refused(result, "exists and is not empty", "otel-service update")


def test_new_refuses_a_missing_template_or_version(history: History, tmp_path: Path) -> None:
    refused(
        otel_service("new", str(tmp_path / "a"), "--template", str(tmp_path / "nowhere")),
        "template not found",
        "--template",
    )
    refused(
        otel_service(
            "new", str(tmp_path / "b"), "--template", str(history.repository), "--vcs-ref", "v9.9.9"
        ),
        "template version 'v9.9.9' not found",
    )


# --- update ----------------------------------------------------------------------------


def test_update_refuses_a_dirty_tree(old_project: Path) -> None:
    (old_project / "README.md").write_text("edited, not committed\n")
    (old_project / "scratch.py").write_text("")
    refused(
        otel_service("update", str(old_project)), "uncommitted changes", "README.md", "scratch.py"
    )


def test_update_refuses_a_project_without_answers_file(tmp_path: Path) -> None:
    refused(otel_service("update", str(tmp_path)), ".copier-answers.yml not found")


def test_update_refuses_a_project_outside_git(history: History, tmp_path: Path) -> None:
    project = render_version(
        history.repository, history.released[-1], tmp_path / "p", {"service_name": "p"}
    )
    refused(otel_service("update", str(project)), "is not a git repository", "git init")


def test_update_checks_data_against_the_target_version(old_project: Path) -> None:
    refused(
        otel_service("update", str(old_project), "--data", "tail_sampling=maybe"),
        "tail_sampling must be true or false",
    )
    assert git(old_project, "status", "--porcelain") == ""


def test_update_reports_an_unreachable_template(old_project: Path, tmp_path: Path) -> None:
    answers_file = old_project / ".copier-answers.yml"
    answers = recorded_answers(old_project)
    answers["_src_path"] = str(tmp_path / "moved-away")
    answers_file.write_text(yaml.safe_dump(answers))
    commit_all(old_project, "Template moved")
    refused(otel_service("update", str(old_project)), "does not exist (moved or deleted?)")


# --- doctor ----------------------------------------------------------------------------


def test_doctor_on_an_untouched_older_project(history: History, old_project: Path) -> None:
    result = otel_service("doctor", str(old_project))

    assert result.returncode == 0, result.stderr
    assert f"ok    _commit {history.released[-1]} is a release tag" in result.stdout
    assert f"note  newer template release {history.newest}" in result.stdout
    assert "ok    no drift" in result.stdout
    assert otel_service("doctor", str(old_project), "--strict").returncode == 1


def test_doctor_lists_drifted_files(old_project: Path) -> None:
    (old_project / "Makefile").write_text("# ours now\n")
    (old_project / "Dockerfile").unlink()
    (old_project / "NOTES.md").write_text("added by the team: not drift\n")

    result = otel_service("doctor", str(old_project))

    assert result.returncode == 0, result.stderr
    assert "note  2 file(s) differ" in result.stdout
    assert "        Makefile (changed)" in result.stdout
    assert "        Dockerfile (deleted)" in result.stdout
    assert "NOTES.md" not in result.stdout


def test_doctor_on_the_newest_release(history: History, tmp_path: Path) -> None:
    project = render_version(
        history.repository, history.newest, tmp_path / "p", {"service_name": "p"}
    )
    result = otel_service("doctor", str(project), "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    on the latest template release" in result.stdout


def test_doctor_refusals(history: History, old_project: Path, tmp_path: Path) -> None:
    refused(otel_service("doctor", str(tmp_path)), ".copier-answers.yml not found")

    answers_file = old_project / ".copier-answers.yml"
    answers_file.write_text("_commit: [unclosed\n")
    refused(otel_service("doctor", str(old_project)), "is not valid YAML")

    answers = {"_commit": "abc1234", "_src_path": str(history.repository), "service_name": "shop"}
    answers_file.write_text(yaml.safe_dump(answers))
    refused(
        otel_service("doctor", str(old_project)), "_commit 'abc1234' is not a release tag", code=1
    )

    answers["_src_path"] = str(tmp_path / "gone")
    answers_file.write_text(yaml.safe_dump(answers))
    refused(otel_service("doctor", str(old_project)), "does not exist (moved or deleted?)")


# --- options ---------------------------------------------------------------------------


def test_options_lists_every_prompt_with_type_choices_default_and_condition() -> None:
    result = otel_service("options")

    assert result.returncode == 0, result.stderr
    config = template_source.copier_config(str(TEMPLATE_ROOT), "HEAD")
    for name, question in questions.prompts(config).items():
        assert f"\n{name} (" in "\n" + result.stdout, name
        for value in question.choices.values():
            assert str(value) in result.stdout
    assert (
        "asked when: project_kind == 'service' and sampler == 'parentbased_traceidratio'"
        in result.stdout
    )
    assert "images" not in result.stdout.split()  # computed, not a prompt


def test_docs_options_md_is_current() -> None:
    result = otel_service("options", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    checked_in = (TEMPLATE_ROOT / "docs" / "options.md").read_text()
    assert result.stdout == checked_in, (
        "docs/options.md is stale: run `otel-service options --format markdown > docs/options.md`"
    )


# --- packaging -------------------------------------------------------------------------


def test_console_script_and_module_entry_point(history: History, tmp_path: Path) -> None:
    pyproject = tomllib.loads((TEMPLATE_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["otel-service"] == "generator.cli:main"
    result = otel_service_process("--help")
    assert result.returncode == 0
    for command in ("new", "update", "doctor", "options"):
        assert command in result.stdout
    assert otel_service_process().returncode == 2  # a command is required
    # A refusal from a real process: one line on stderr, no traceback.
    refusal = otel_service_process(
        "new", str(tmp_path / "svc"), "--template", str(history.repository), "--data", "ci=maybe"
    )
    refused(refusal, "--data: ci 'maybe' is not one of: github, gitlab, none")
