"""The template's release history as a git repository the update tests can point copier at.

CI checks out main without tags (and the working tree has the release under construction),
so the history is rebuilt from releases.yml in a temporary clone: one `v<version>` tag per
release, plus a commit of the working tree tagged with the upcoming version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from generator.rendering import TEMPLATE_ROOT

RELEASES_FILE = TEMPLATE_ROOT / "releases.yml"

# copier commits in scratch repositories during an update: give git an identity on
# machines that have none configured (CI), without touching any git config file.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "otel-service-template tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "otel-service-template tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


@dataclass(frozen=True)
class History:
    repository: Path
    released: list[str]  # tags, oldest first
    newest: str  # the tag of the working-tree snapshot


def read_releases() -> tuple[dict[str, str], str]:
    data = yaml.safe_load(RELEASES_FILE.read_text())
    return {str(version): str(commit) for version, commit in data["releases"].items()}, str(
        data["next"]
    )


def git(repository: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repository, capture_output=True, text=True, env=git_env()
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repository}:\n{result.stderr}")
    return result.stdout


def git_env() -> dict[str, str]:
    return {**os.environ, **GIT_IDENTITY}


def build_history(destination: Path, source: Path = TEMPLATE_ROOT) -> History:
    """Clone ``source`` (this repository) into ``destination``; tag its releases and working
    tree."""
    releases, upcoming = read_releases()
    assert all(Version(upcoming) > Version(version) for version in releases), (
        f"releases.yml: next {upcoming} must be newer than every release"
    )
    missing = [
        f"{version} ({commit})"
        for version, commit in releases.items()
        if subprocess.run(
            ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=source, capture_output=True
        ).returncode
        != 0
    ]
    if missing:
        raise AssertionError(
            f"release commits missing from this checkout: {', '.join(missing)}. The update "
            "tests need the full history: run `git fetch --unshallow` (or check out with "
            "fetch-depth: 0)."
        )
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            str(source),
            str(destination),
        ],
        check=True,
        env=git_env(),
    )
    for tag in git(destination, "tag", "--list").split():
        git(destination, "tag", "--delete", tag)
    for version, commit in releases.items():
        git(destination, "tag", f"v{version}", commit)
    _commit_working_tree(source, destination, f"v{upcoming}")
    released = [f"v{version}" for version in sorted(releases, key=Version)]
    return History(repository=destination, released=released, newest=f"v{upcoming}")


def _commit_working_tree(source_repo: Path, destination: Path, tag: str) -> None:
    """Commit exactly the working tree's files (tracked or new, not ignored), then tag it."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=source_repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        original = source_repo / name
        if not original.is_file():  # deleted in the working tree, not yet committed
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(original, target)
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--allow-empty", "-m", f"working tree as {tag}")
    git(destination, "tag", tag)


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """The session's template history (one per pytest worker); import it in a conftest."""
    saved = {key: os.environ.get(key) for key in GIT_IDENTITY}
    # copier commits in scratch repositories during updates and needs a git identity.
    os.environ.update(GIT_IDENTITY)
    try:
        yield build_history(tmp_path_factory.mktemp("template-history") / "template")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
