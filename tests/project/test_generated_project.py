"""Tier 2: each framework's rendered project installs, passes its own tests and lint, and
its real production server answers real HTTP and stops promptly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.http import http_get, http_ok
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.processes import free_port, port_open, running, wait_until
from tests.support.venvs import find_python, install_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(framework: str, render) -> tuple[Path, Path, str]:
    version = PYTHON_BY_FRAMEWORK[framework]
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine for the {framework} render")
    project = render(
        service_name=f"{framework}-svc",
        framework=framework,
        python_version=version,
        exporters=["otlp_http", "prometheus"],
    )
    return project, install_project(project, python), framework


def test_generated_tests_and_lint_pass(installed: tuple[Path, Path, str]) -> None:
    project, bin_dir, _ = installed
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    outputs = {}
    for target in ("test", "lint"):
        result = subprocess.run(
            ["make", target], cwd=project, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"make {target}:\n{result.stdout}\n{result.stderr}"
        outputs[target] = result.stdout
    # The template ships 9 telemetry tests; fewer passing means some were not collected.
    passed = re.search(r"\b(\d+) passed\b", outputs["test"])
    assert passed and int(passed[1]) >= 9, outputs["test"]


# The /error example route, as each framework's project declares it.
ERROR_ROUTE = {
    "flask": (r'\n    @app\.get\("/error"\)\n.*?raise RuntimeError\([^\n]*\n', "src/{}/app.py"),
    "fastapi": (r'\n    @app\.get\("/error"\)\n.*?raise RuntimeError\([^\n]*\n', "src/{}/app.py"),
    "django": (r'\n    path\("error", views\.fail\),', "src/{}/urls.py"),
}


def _own_tests(project: Path, bin_dir: Path, *paths: str) -> subprocess.CompletedProcess:
    """The project's tests with ``project``'s sources first on the path (the venv has the
    installed render's package, editable, and every dependency)."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    command = [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider", *paths]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)


def test_telemetry_tests_pass_with_the_error_route_deleted(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    project, bin_dir, framework = installed
    copy = tmp_path / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    pattern, module = ERROR_ROUTE[framework]
    source = copy / module.format(project.name.replace("-", "_"))
    text, deleted = re.subn(pattern, "", source.read_text(), count=1, flags=re.DOTALL)
    assert deleted == 1, f"no /error route found in {source}"
    source.write_text(text)

    result = _own_tests(copy, bin_dir, "tests/test_telemetry.py", "tests/test_redaction.py")

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout


def test_a_project_without_the_demo_routes_passes_its_tests(
    installed: tuple[Path, Path, str], render
) -> None:
    _, bin_dir, framework = installed
    project = render(
        service_name=f"{framework}-svc",
        framework=framework,
        python_version=PYTHON_BY_FRAMEWORK[framework],
        exporters=["otlp_http", "prometheus"],
        demo_routes=False,
    )
    assert not (project / "tests" / "test_demo_routes.py").exists()

    result = _own_tests(project, bin_dir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout


def test_real_server_serves_and_stops_on_sigterm(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    project, bin_dir, framework = installed
    port, metrics_port, dead_collector = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PORT": str(port),
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
        # Nothing listens here: the service must serve anyway and stop promptly.
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead_collector}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    with running(["make", "run"], cwd=project, env=env, log_path=tmp_path / "server.log") as make:
        wait_until(lambda: port_open(port), 30, f"{framework} server on port {port}")
        base = f"http://127.0.0.1:{port}"

        status, body = http_get(f"{base}/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok"}
        status, body = http_get(f"{base}/hello")
        assert status == 200 and json.loads(body)["message"] == f"hello from {framework}-svc"
        status, body = http_get(f"{base}/items/5")
        assert status == 200 and json.loads(body) == {"id": 5, "name": "item-5"}
        assert http_get(f"{base}/items/5000")[0] == 404
        status, body = http_get(f"{base}/downstream")
        assert status == 200 and json.loads(body)["status"] == 200
        assert http_get(f"{base}/error")[0] == 500

        scrape = http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1].decode()
        assert "http_server_request_duration_seconds_count{" in scrape
        assert 'http_route="/items/' in scrape or 'http_route="items/' in scrape
        assert "app_items_lookups_total{" in scrape
        assert "healthz" not in scrape

        time.sleep(2.5)  # let a few exports fail against the dead collector
        (server_pid,) = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(make.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        # Signal the server itself, as a container runtime signals PID 1.
        started = time.monotonic()
        os.kill(server_pid, signal.SIGTERM)
        wait_until(lambda: make.process.poll() is not None, 15, f"{framework} server to exit")
        elapsed = time.monotonic() - started

    log = make.log()
    assert elapsed < 5.0, f"{framework} took {elapsed:.1f} s to stop\n{log[-3000:]}"
    assert "Traceback" not in log.replace('"exc_info": "Traceback', ""), log[-3000:]
    json_lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("trace_id") for line in json_lines), "no JSON log line carries a trace_id"
    export_warnings = [
        line for line in json_lines if line.get("logger", "").startswith("opentelemetry.exporter")
    ]
    # One line per exporter (traces, metrics, logs) per 10 s at the most.
    assert len(export_warnings) <= 3, "\n".join(map(str, export_warnings))


def test_prometheus_exporter_never_runs_several_workers(
    installed: tuple[Path, Path, str], tmp_path: Path
) -> None:
    project, bin_dir, framework = installed
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "3",
    }
    if framework == "fastapi":
        # uvicorn would read WEB_CONCURRENCY as its worker count; --workers 1 wins, so it
        # serves from one process and /metrics works instead of crash-looping workers.
        metrics_port = free_port()
        env |= {
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "prometheus",
        }
        log_path = tmp_path / "server.log"
        with running(["make", "run"], cwd=project, env=env, log_path=log_path) as make:
            base = f"http://127.0.0.1:{env['PORT']}"
            wait_until(lambda: http_ok(f"{base}/healthz"), 30, "uvicorn to answer")
            assert http_get(f"{base}/hello")[0] == 200
            scrape = http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1].decode()
            assert "http_server_request_duration_seconds_count{" in scrape
            make.stop()
        log = log_path.read_text()
        assert "Started parent process" not in log and "Traceback" not in log, log[-3000:]
        return
    result = subprocess.run(
        ["make", "run"], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "WEB_CONCURRENCY=3 is not supported with the Prometheus exporter" in result.stderr
    assert "set WEB_CONCURRENCY=1" in result.stderr
