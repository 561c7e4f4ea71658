"""releases.yml, the tags and CHANGELOG.md tell the same story."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from generator.rendering import TEMPLATE_ROOT
from tests.support.template_history import History, build_history, read_releases


def test_changelog_has_a_section_per_release_and_the_upcoming_one() -> None:
    releases, upcoming = read_releases()
    changelog = (TEMPLATE_ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (.+)$", changelog, flags=re.MULTILINE)
    # Between releases the top section is "Unreleased (<next>)"; in the commit that is
    # tagged as <next> it carries the version and date instead.
    assert headings[0] == f"Unreleased ({upcoming})" or headings[0].startswith(f"{upcoming} - ")
    listed = [heading.split(" - ")[0] for heading in headings[1:]]
    assert listed == sorted(releases, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_history_has_every_release_tag_and_the_working_tree_as_the_newest(
    history: History,
) -> None:
    releases, upcoming = read_releases()
    assert history.released == [f"v{version}" for version in releases]
    assert history.newest == f"v{upcoming}"


def test_a_shallow_checkout_fails_with_advice_instead_of_skipping(tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{TEMPLATE_ROOT}", str(shallow)],
        check=True,
    )
    with pytest.raises(AssertionError, match="git fetch --unshallow"):
        build_history(tmp_path / "history", source=shallow)
