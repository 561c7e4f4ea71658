"""Fixtures of the messaging tier: per live case (each framework, and the configuration
file), one rendered service installed once, one RabbitMQ broker of its own and the real
collector with the rendered config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Collector, collector
from tests.messaging.broker import RabbitMQ, rabbitmq
from tests.support.built_tools import built_tool
from tests.support.matrix import MESSAGING_MATRIX, PYTHON_BY_FRAMEWORK
from tests.support.venvs import installed_render


@pytest.fixture(scope="session")
def rabbitmq_server() -> Path:
    """Debian's rabbitmq-server, unpacked and cached by scripts/install-rabbitmq."""
    return built_tool("install-rabbitmq", "RABBITMQ_SERVER", timeout=900)


@pytest.fixture(scope="module")
def framework(live_case: tuple[str, str]) -> str:
    """Each live case's framework; ``telemetry_config`` says how its SDK is configured."""
    return live_case[0]


@pytest.fixture(scope="module")
def installed(render, framework: str, telemetry_config: str) -> tuple[Path, Path]:
    """The rendered service with RabbitMQ messaging, installed: (project, venv bin)."""
    answers = next(
        a for a in MESSAGING_MATRIX if a["framework"] == framework and a["messaging"] == "rabbitmq"
    )
    suffix = "-file" if telemetry_config == "file" else ""
    return installed_render(
        render,
        {
            **answers,
            "service_name": answers["service_name"] + suffix,
            "python_version": PYTHON_BY_FRAMEWORK[framework],
            "telemetry_config": telemetry_config,
        },
    )


@pytest.fixture(scope="module")
def broker(rabbitmq_server: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    with rabbitmq(rabbitmq_server, tmp_path_factory.mktemp("rabbitmq")) as running_broker:
        yield running_broker


@pytest.fixture(scope="module")
def live_collector(
    otelcol: Path, installed: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Collector]:
    project, _ = installed
    workdir = tmp_path_factory.mktemp("collector")
    with collector(otelcol, project / "collector" / "otelcol-config.yaml", workdir) as running:
        yield running
