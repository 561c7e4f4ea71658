"""Presets: YAML files of answers a platform team maintains; a few ship built in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator.errors import CliError

BUILTIN_DIR = Path(__file__).resolve().parent / "presets"


def builtin_presets() -> dict[str, Path]:
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.yml"))}


def describe(path: Path) -> str:
    """The preset's first comment line, shown when choosing one interactively."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def load_preset(name_or_path: str) -> tuple[str, dict[str, Any]]:
    """(label, answers) for a built-in preset name or a preset file."""
    builtins = builtin_presets()
    if name_or_path in builtins:
        path = builtins[name_or_path]
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise CliError(
                f"unknown preset {name_or_path!r}: not a file and not a built-in preset "
                f"({', '.join(builtins)})"
            )
    try:
        answers = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise CliError(f"preset {path} is not valid YAML: {reason}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CliError(f"preset {path} cannot be read ({reason})") from None
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        raise CliError(f"preset {path} must be a mapping of answers (name: value)")
    return f"preset {path.name}", answers
