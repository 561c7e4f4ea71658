"""Shared fixtures: rendering the template, once per set of answers per test session."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.rendering import TEMPLATE_ROOT, render_service

Render = Callable[..., Path]


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory) -> Render:
    """Render the working tree's template with ``answers``; the same answers reuse one render."""
    cache: dict[str, Path] = {}

    def _render(answers: Mapping[str, Any] | None = None, **more: Any) -> Path:
        all_answers = {"service_name": "demo-svc", **(answers or {}), **more}
        key = json.dumps(all_answers, sort_keys=True)
        if key not in cache:
            destination = tmp_path_factory.mktemp("render") / all_answers["service_name"]
            cache[key] = render_service(destination, all_answers)
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """The collector built from collector/builder-manifest.yaml.

    scripts/test builds it once and passes OTELCOL_BIN; otherwise scripts/build-otelcol
    builds it here (minutes on a cold cache, then reused by manifest hash).
    """
    if binary := os.environ.get("OTELCOL_BIN"):
        return Path(binary)
    result = subprocess.run(
        [str(TEMPLATE_ROOT / "scripts" / "build-otelcol")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(f"scripts/build-otelcol failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    binary = Path(lines[-1])
    assert binary.is_file(), f"scripts/build-otelcol printed {binary}, which is not a file"
    return binary
