"""Where the template lives, which versions it has, and its copier.yml at a version."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from generator.errors import CliError
from generator.rendering import TEMPLATE_ROOT

# The same shortcuts copier expands, so a recorded `_src_path` resolves here too.
_SHORTCUTS = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}


def default_source() -> str:
    """This checkout of the template, when the generator runs from one."""
    if (TEMPLATE_ROOT / "copier.yml").is_file():
        return str(TEMPLATE_ROOT)
    raise CliError(
        "no template source: this installation does not contain the template; "
        "pass --template PATH_OR_GIT_URL"
    )


def normalize(source: str) -> str:
    """An absolute path for a local template (a relative one breaks later updates), else a URL."""
    for prefix, base in _SHORTCUTS.items():
        if source.startswith(prefix):
            return base + source.removeprefix(prefix).removesuffix(".git") + ".git"
    if _is_url(source):
        return source
    path = Path(source).expanduser().resolve()
    if not (path / "copier.yml").is_file():
        raise CliError(
            f"template not found: {source} has no copier.yml; "
            "pass --template with the template repository's path or git URL"
        )
    return str(path)


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def parse_version(tag: str) -> Version | None:
    try:
        return Version(tag)
    except InvalidVersion:
        return None


def _is_url(source: str) -> bool:
    return "://" in source or source.startswith("git@")


def _git_reason(stderr: str) -> str:
    """git's own reason, its first `fatal:` line (the last ones are generic advice)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line.removeprefix("fatal:").strip() for line in lines if line.startswith("fatal:")]
    return (fatal or lines or ["unknown error"])[0]


def release_tags(source: str) -> list[str]:
    """The template's PEP 440 tags, oldest first (what copier considers releases)."""
    if not _is_url(source) and not Path(source).exists():
        raise CliError(
            f"template source {source} does not exist (moved or deleted?): restore it, or "
            "point the project's .copier-answers.yml _src_path at the template's new place"
        )
    result = _git("ls-remote", "--tags", "--refs", source)
    if result.returncode != 0:
        raise CliError(
            f"template source {source} does not resolve ({_git_reason(result.stderr)}); "
            "check the path or URL, or pass --template"
        )
    names = [line.split("refs/tags/", 1)[1] for line in result.stdout.splitlines() if line]
    versioned = [(version, name) for name in names if (version := parse_version(name))]
    return [name for version, name in sorted(versioned) if not version.is_prerelease]


def latest_tag(source: str) -> str | None:
    tags = release_tags(source)
    return tags[-1] if tags else None


def copier_config(source: str, ref: str | None) -> dict[str, Any]:
    """copier.yml as copier will read it for ``ref`` (None: the latest tag, like copier)."""
    ref = ref or latest_tag(source) or "HEAD"
    local = Path(source)
    if local.is_dir() and ref == "HEAD":
        # copier renders a local template's working tree for HEAD, uncommitted edits included.
        text = (local / "copier.yml").read_text()
    elif local.is_dir():
        text = _show(local, ref)
    else:
        with tempfile.TemporaryDirectory(prefix="otel-service-template.") as clone:
            fetched = _git("clone", "--quiet", "--no-checkout", "--filter=blob:none", source, clone)
            if fetched.returncode != 0:
                reason = _git_reason(fetched.stderr)
                raise CliError(f"template source {source} cannot be cloned ({reason})")
            text = _show(Path(clone), ref)
    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise CliError(f"copier.yml of {source} at {ref} is not a mapping")
    return config


def _show(repository: Path, ref: str) -> str:
    shown = _git("show", f"{ref}:copier.yml", cwd=repository)
    if shown.returncode != 0:
        raise CliError(
            f"template version {ref!r} not found in {repository}: "
            "pass --vcs-ref with one of its tags (git tag --list)"
        )
    return shown.stdout
