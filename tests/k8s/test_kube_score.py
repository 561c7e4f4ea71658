"""kube-score on every overlay of every render in cases.py (both collector topologies and
the platform collector kit): no CRITICAL finding. A check the
manifests skip is skipped in the manifests themselves (a `kube-score/ignore` annotation
under a comment saying why), never on this command line."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.rendering import TEMPLATE_ROOT
from tests.k8s.cases import ALL_RENDERS, OVERLAYS, case_id
from tests.k8s.conftest import BuildOverlay
from tests.support.built_tools import built_tool

# kube-score's grades (scorecard.Grade).
CRITICAL = 1
IGNORE_ANNOTATION = "kube-score/ignore"


@pytest.fixture(scope="session")
def kube_score() -> Path:
    return built_tool("build-kube-score", "KUBE_SCORE_BIN", timeout=1800)


def critical_findings(report: list[dict[str, Any]]) -> list[str]:
    findings = []
    for scored in report:
        name = f"{scored['type_meta']['kind']}/{scored['object_meta']['name']}"
        for check in scored["checks"]:
            if check["grade"] == CRITICAL and not check.get("skipped"):
                comments = "; ".join(
                    f"{c.get('path') or ''} {c['summary']}: {c.get('description') or ''}".strip()
                    for c in check.get("comments") or []
                )
                findings.append(f"{name}: {check['check']['id']}: {comments}")
    return findings


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("case", ALL_RENDERS, ids=case_id)
def test_kube_score_finds_nothing_critical(
    kube_score: Path,
    render,
    build_overlay: BuildOverlay,
    tmp_path: Path,
    case: dict[str, Any],
    overlay: str,
) -> None:
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(build_overlay(render(case), overlay).text)
    result = subprocess.run(
        [str(kube_score), "score", "--output-format", "json", str(manifests)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # kube-score exits 1 when it finds something critical; the report says what.
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report, "kube-score scored nothing"
    findings = critical_findings(report)
    assert not findings, "\n".join(findings)


def test_every_ignored_check_is_explained_where_it_is_ignored() -> None:
    """Each `kube-score/ignore` in the template sits right under a comment (the reason)."""
    unexplained = []
    for path in sorted(
        p
        for p in [*TEMPLATE_ROOT.glob("template/**/*"), *TEMPLATE_ROOT.glob("platform/**/*")]
        if p.is_file()
    ):
        lines = path.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if IGNORE_ANNOTATION in line and not re.match(r"\s*#", lines[number - 1]):
                unexplained.append(
                    f"{path.relative_to(TEMPLATE_ROOT)}:{number + 1}: {line.strip()}"
                )
    assert not unexplained, "\n".join(unexplained)
