"""A refused answer as a user meets it: plain `copier copy` and `otel-service new`, each in
its own process (exit code, one line on stderr, nothing written), and copier's interactive
prompt on a terminal, which re-asks with the message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from generator.rendering import TEMPLATE_ROOT
from tests.support.template_history import History

COPIER = str(Path(sys.executable).parent / "copier")


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TEMPLATE_ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def one_line_refusal(
    result: subprocess.CompletedProcess[str], prefix: str, *fragments: str
) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


REFUSED = [
    ("package_name=class", "package_name 'class' is a Python keyword"),
    ("package_name=httpx", "would shadow the installed module httpx"),
    ("service_name=Checkout", "service_name 'Checkout' is not a DNS-1123 label"),
    ("description=ring\x07", "description contains a control character (U+0007)"),
    ("owner=team.", "owner 'team.' must be"),
]


@pytest.mark.parametrize(("data", "message"), REFUSED, ids=[d for d, _ in REFUSED])
def test_plain_copier_refuses_in_one_line(
    history: History, tmp_path: Path, data: str, message: str
) -> None:
    destination = tmp_path / "svc"
    result = run(
        COPIER, "copy", "--trust", "--defaults", "--vcs-ref", history.newest,
        "--data", data, str(history.repository), str(destination),
    )  # fmt: skip

    one_line_refusal(result, "copier: Validation error for question ", message)
    assert result.returncode == 1
    assert not destination.exists()


@pytest.mark.parametrize(("data", "message"), REFUSED, ids=[d for d, _ in REFUSED])
def test_otel_service_new_refuses_in_one_line(
    history: History, tmp_path: Path, data: str, message: str
) -> None:
    destination = tmp_path / "svc"
    result = run(
        sys.executable, "-m", "generator", "new", str(destination),
        "--template", str(history.repository), "--data", data,
    )  # fmt: skip

    one_line_refusal(result, "otel-service: error: ", message)
    assert result.returncode == 2
    assert not destination.exists() or not any(destination.iterdir())


def test_plain_copier_defaults_name_the_service_after_its_folder(
    history: History, tmp_path: Path
) -> None:
    result = run(
        COPIER, "copy", "--trust", "--defaults", "--vcs-ref", history.newest,
        str(history.repository), "Checkout API",
        cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "Checkout API" / ".copier-answers.yml").read_text())
    assert answers["service_name"] == "checkout-api"
    assert answers["package_name"] == "checkout_api"


def test_plain_copier_without_trust_says_so(history: History, tmp_path: Path) -> None:
    result = run(
        COPIER, "copy", "--defaults", "--vcs-ref", history.newest,
        str(history.repository), str(tmp_path / "svc"),
    )  # fmt: skip

    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert "--trust" in result.stderr
    assert not (tmp_path / "svc").exists()


def test_the_interactive_prompt_re_asks_with_the_message(history: History, tmp_path: Path) -> None:
    destination = tmp_path / "svc"
    child = pexpect.spawn(
        COPIER,
        ["copy", "--trust", "--vcs-ref", history.newest, str(history.repository), str(destination)],
        env={**os.environ, "NO_COLOR": "1", "TERM": "xterm"},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 400),
    )
    try:
        child.expect("What to render")  # project_kind, asked first: a service by default
        child.sendline("")
        child.expect("a Kubernetes DNS-1123 label")  # the help of the service_name question
        child.send("\x15")  # clear the default (Ctrl-U)
        child.sendline("Bad Name")
        child.expect("is not a DNS-1123 label")
        # Still on the same question: fix the answer and copier moves on.
        child.send("\x15")
        child.sendline("good-name")
        child.expect("Python package name")
        child.expect("good_name")  # its default, derived from the corrected answer
        child.sendcontrol("c")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert not destination.exists() or not any(destination.iterdir())
