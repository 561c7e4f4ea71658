"""Fault tests: rendered services on their real servers, the real collector, loopback only.

Each framework's tests share one render and one installed venv, in their own xdist group
so they run next to the other tiers rather than behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import installed_service
from tests.support.matrix import PYTHON_BY_FRAMEWORK


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(f, marks=pytest.mark.xdist_group(f"faults-{f}"))
        for f in sorted(PYTHON_BY_FRAMEWORK)
    ],
)
def framework_service(request: pytest.FixtureRequest, render) -> tuple[str, Path, Path]:
    return (request.param, *installed_service(render, request.param))
