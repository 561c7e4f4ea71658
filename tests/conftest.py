"""Shared fixtures: rendering the template, once per set of answers per test session."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.rendering import render_service
from tests.support.built_tools import built_tool
from tests.support.matrix import FRAMEWORK_PARAMS, LIVE_PARAMS

Render = Callable[..., Path]


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory) -> Render:
    """Render the working tree's template with ``answers``; the same answers reuse one render.
    Without copier's lock task: the tiers that install a render lock it then (venvs.py)."""
    cache: dict[str, Path] = {}

    def _render(answers: Mapping[str, Any] | None = None, **more: Any) -> Path:
        all_answers = {"service_name": "demo-svc", **(answers or {}), **more}
        key = json.dumps(all_answers, sort_keys=True)
        if key not in cache:
            destination = tmp_path_factory.mktemp("render") / all_answers["service_name"]
            cache[key] = render_service(destination, all_answers, lock=False)
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """The collector built from collector/builder-manifest.yaml (minutes on a cold cache,
    then reused by manifest hash)."""
    return built_tool("build-otelcol", "OTELCOL_BIN", timeout=1800)


@pytest.fixture(scope="module", params=FRAMEWORK_PARAMS)
def framework(request: pytest.FixtureRequest) -> str:
    """Each framework in turn, for the tiers that install and run a service: one xdist
    group per framework, so a module's tests for it share one render and one venv."""
    return request.param


@pytest.fixture(scope="module", params=LIVE_PARAMS)
def live_case(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(framework, telemetry_config) for the live tiers, whose conftest makes ``framework``
    follow it: every framework with environment variables, some with the config file."""
    return request.param


@pytest.fixture(scope="module")
def telemetry_config(live_case: tuple[str, str]) -> str:
    return live_case[1]
