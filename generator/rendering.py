"""Render the template with Copier's public API."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import copier

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent


def render_service(
    destination: Path,
    answers: Mapping[str, Any],
    *,
    template: Path | str = TEMPLATE_ROOT,
    vcs_ref: str | None = "HEAD",
    lock: bool = True,
) -> Path:
    """Render a service into ``destination`` from the given answers, defaults elsewhere.

    ``vcs_ref="HEAD"`` renders the working tree (uncommitted edits included), which is
    what tests and the demo want; releases pass a tag. ``lock=False`` skips the copy task
    that writes uv.lock (`uv lock`, a second or more): for renders nobody installs.
    """
    with warnings.catch_warnings():
        # Rendering a working tree with uncommitted edits is the point here, not a mistake.
        warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
        copier.run_copy(
            str(template),
            destination,
            data=dict(answers),
            defaults=True,
            overwrite=True,
            quiet=True,
            vcs_ref=vcs_ref,
            # The template's own Jinja extension and its lock task are code copier runs.
            unsafe=True,
            skip_tasks=not lock,
        )
    return destination
