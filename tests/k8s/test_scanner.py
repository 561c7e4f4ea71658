"""checkov, a security and best-practice scanner, over the built manifests of every case
and overlay and over the Dockerfiles: no finding, and every suppression gives a reason."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.cases import ALL_RENDERS, OVERLAYS
from tests.k8s.conftest import K8sTools

BAD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: bad
  namespace: bad
spec:
  containers:
    - name: bad
      image: busybox:latest
      securityContext:
        privileged: true
"""


def checkov(tools: K8sTools, directory: Path, config: Path) -> list[dict[str, Any]]:
    """checkov's JSON reports for ``directory`` (one per framework with files), with the
    settings and skips of ``config``."""
    result = subprocess.run(
        [
            str(tools.checkov),
            "--directory",
            str(directory),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--config-file",
            str(config),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Exit 1 means findings; anything else is a failure to run.
    assert result.returncode in (0, 1), result.stderr[-4000:]
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def findings(reports: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [check for report in reports for check in report["results"][key]]


def describe(check: dict[str, Any]) -> str:
    return f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"


@pytest.mark.slow
def test_checkov_finds_nothing_in_manifests_and_dockerfiles(
    render, build_overlay, k8s_tools: K8sTools, tmp_path: Path
) -> None:
    for answers in ALL_RENDERS:
        project = render(answers)
        case_dir = tmp_path / answers["service_name"]
        case_dir.mkdir()
        if (project / "Dockerfile").is_file():
            shutil.copy(project / "Dockerfile", case_dir / "Dockerfile")
        for overlay in OVERLAYS:
            (case_dir / f"{overlay}.yaml").write_text(build_overlay(project, overlay).text)
    # Proves the same scan can fail: an obviously bad pod scanned alongside is reported.
    (tmp_path / "known-bad").mkdir()
    (tmp_path / "known-bad" / "pod.yaml").write_text(BAD_POD)

    # The render's own settings and skips, as its `make scan-security` uses them.
    config = render(ALL_RENDERS[0]) / ".checkov.yaml"
    reports = checkov(k8s_tools, tmp_path, config)
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    failed = findings(reports, "failed_checks")
    bad_pod = {c["check_id"] for c in failed if c["file_path"].startswith("/known-bad/")}
    assert {"CKV_K8S_16", "CKV_K8S_14"} <= bad_pod, bad_pod
    rendered = [c for c in failed if not c["file_path"].startswith("/known-bad/")]
    assert not rendered, "\n".join(describe(check) for check in rendered)
    assert len(findings(reports, "passed_checks")) > 500
    for check in findings(reports, "skipped_checks"):
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason) > 20, f"suppression without a reason: {describe(check)}"
