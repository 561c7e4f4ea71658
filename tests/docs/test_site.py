"""The documentation site builds with MkDocs in strict mode: a broken link, a missing
anchor or a page left out fails the build, so it fails this test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.rendering import TEMPLATE_ROOT

DOCS = TEMPLATE_ROOT / "docs"


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    # The theme's notice about its successor is not a finding about these docs.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = mkdocs_build(TEMPLATE_ROOT, site)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def test_every_page_is_built(site: Path) -> None:
    pages = sorted(path.stem for path in DOCS.glob("*.md"))
    assert {"index", "architecture", "troubleshooting"} <= set(pages)
    for page in pages:
        html = site / "index.html" if page == "index" else site / page / "index.html"
        assert html.is_file(), f"docs/{page}.md did not become {html}"


def test_mermaid_diagrams_reach_the_page(site: Path) -> None:
    html = (site / "architecture" / "index.html").read_text()
    assert '<pre class="mermaid"><code>flowchart LR' in html


def test_getting_started_shows_the_readmes_commands() -> None:
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    block = re.search(r"## Set-up: two commands.*?```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md lost its two-command set-up block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    index = (DOCS / "index.md").read_text()
    for command in filter(None, commands):
        assert command in index, f"docs/index.md does not show `{command}`"


def test_strict_build_fails_on_broken_links(tmp_path: Path) -> None:
    # Proves the build above can fail: a missing page and a missing anchor are refused.
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    shutil.copy2(TEMPLATE_ROOT / "mkdocs.yml", project / "mkdocs.yml")
    (project / "docs" / "broken.md").write_text(
        "# Broken\n\n[gone](no-such-page.md) and [nowhere](troubleshooting.md#no-such-anchor)\n"
    )
    result = mkdocs_build(project, tmp_path / "site")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no-such-page.md" in output
    assert "no-such-anchor" in output
