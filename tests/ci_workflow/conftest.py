"""The workflow linter, built once per session like the test collector."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.built_tools import built_tool


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint from scripts/build-actionlint (ACTIONLINT_BIN when scripts/test built it).

    actionlint runs shellcheck on every `run:` script only when shellcheck is on PATH, so
    its absence is a failure here, not a quieter lint.
    """
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck not on PATH: scripts/test installs Debian's shellcheck package")
    return built_tool("build-actionlint", "ACTIONLINT_BIN", timeout=600)
