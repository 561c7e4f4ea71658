"""The rendered collector config loads in the real collector: `otelcol validate` for every
combination, and one real start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.collector.configs import (
    COLLECTOR_ANSWERS,
    CONFIG,
    REPO_ROOT,
    answers_id,
    env_references,
)
from tests.support.http import http_get, http_ok
from tests.support.processes import free_port, running, wait_until


def validate(otelcol: Path, config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(otelcol), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def env_without(names: list[str]) -> dict[str, str]:
    """This process's environment minus ``names``, so the config's own defaults apply."""
    return {key: value for key, value in os.environ.items() if key not in names}


@pytest.mark.parametrize("answers", COLLECTOR_ANSWERS, ids=answers_id)
def test_rendered_config_validates(answers: dict[str, Any], render, otelcol: Path) -> None:
    config = render(answers) / CONFIG
    env = env_without(list(env_references(config.read_text())))
    result = validate(otelcol, config, env)
    assert result.returncode == 0, (
        f"otelcol validate failed for {config} (exit {result.returncode}):\n"
        f"{result.stderr}{result.stdout}"
    )


def test_validate_rejects_a_broken_config(render, otelcol: Path, tmp_path: Path) -> None:
    # Proves the test above can fail: the same config with one unknown setting is refused.
    text = (render() / CONFIG).read_text()
    assert "    allow_all_keys: true\n" in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("    allow_all_keys: true\n", "    allow_all_keyz: true\n"))
    result = validate(otelcol, broken, env_without(list(env_references(text))))
    assert result.returncode != 0
    assert "allow_all_keyz" in result.stderr + result.stdout


@pytest.mark.parametrize("answers", COLLECTOR_ANSWERS, ids=answers_id)
def test_every_variable_has_a_default(answers: dict[str, Any], render) -> None:
    # The config must run as is in compose and Kubernetes, with no variable set.
    references = env_references((render(answers) / CONFIG).read_text())
    assert references, "the config reads no environment variable: addresses are hard-coded"
    missing = sorted(name for name, default in references.items() if not default)
    assert not missing, f"${{env:...}} without a :-default: {missing}"


def test_every_variable_is_documented(render) -> None:
    docs = (REPO_ROOT / "docs" / "collector.md").read_text()
    names: set[str] = set()
    for answers in COLLECTOR_ANSWERS:
        names |= set(env_references((render(answers) / CONFIG).read_text()))
    undocumented = sorted(name for name in names if f"`{name}`" not in docs)
    assert not undocumented, f"docs/collector.md does not describe {undocumented}"


@pytest.mark.slow
def test_collector_starts_on_loopback_and_reports_healthy(
    render, otelcol: Path, tmp_path: Path
) -> None:
    project = render()
    ports = {
        name: free_port()
        for name in (
            "OTEL_COLLECTOR_OTLP_GRPC_PORT",
            "OTEL_COLLECTOR_OTLP_HTTP_PORT",
            "OTEL_COLLECTOR_HEALTH_PORT",
            "OTEL_COLLECTOR_PROMETHEUS_PORT",
            "OTEL_COLLECTOR_TELEMETRY_PORT",
        )
    }
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        "OTEL_COLLECTOR_HOST": "127.0.0.1",
        "TRACES_BACKEND_ENDPOINT": f"127.0.0.1:{free_port()}",
        "LOGS_BACKEND_ENDPOINT": f"http://127.0.0.1:{free_port()}/otlp",
    }
    unknown = set(ports) - set(env_references((project / CONFIG).read_text()))
    assert not unknown, f"the config does not read {sorted(unknown)}"

    def healthy() -> bool:
        return http_ok(f"http://127.0.0.1:{ports['OTEL_COLLECTOR_HEALTH_PORT']}/")

    def scraped(port_name: str) -> str:
        status, body = http_get(f"http://127.0.0.1:{ports[port_name]}/metrics")
        assert status == 200, f"{port_name}: HTTP {status}"
        return body.decode()

    log_path = tmp_path / "otelcol.log"
    command = [str(otelcol), f"--config={project / CONFIG}"]
    with running(command, cwd=project, env=env, log_path=log_path) as collector:
        try:
            wait_until(healthy, 30, "the collector's health check")
        except TimeoutError:
            pytest.fail(f"collector never became healthy:\n{collector.log()[-4000:]}")
        assert "otelcol_process_uptime" in scraped("OTEL_COLLECTOR_TELEMETRY_PORT")
        scraped("OTEL_COLLECTOR_PROMETHEUS_PORT")  # listening (no series before data)
        collector.stop()
    log = log_path.read_text(errors="replace")
    assert "Everything is ready" in log, log[-4000:]
    # A component named by a deprecated alias (otlp, spanmetrics, ...) only warns at start.
    assert "deprecated" not in log.lower(), log[-4000:]
