"""The compose tier runs the live cases: each framework's stack, and the configuration file's."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def framework(live_case: tuple[str, str]) -> str:
    """Each live case's framework; ``telemetry_config`` says how its SDK is configured."""
    return live_case[0]
