"""Fault tests: rendered services on their real servers, the real collector, loopback only.

Each framework's tests share one render and one installed venv, in their own xdist group
so they run next to the other tiers rather than behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import installed_service
from tests.support.matrix import LIVE_CASES


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            case,
            id=case[0] if case[1] == "environment" else f"{case[0]}-file",
            marks=pytest.mark.xdist_group(f"faults-{case[0]}-{case[1]}"),
        )
        for case in LIVE_CASES
    ],
)
def framework_service(request: pytest.FixtureRequest, render) -> tuple[str, Path, Path]:
    framework, telemetry_config = request.param
    return (framework, *installed_service(render, framework, telemetry_config))
