"""Helpers for the fault tests: a rendered service on its real server, a collector that can
be stopped and started again on the same ports, a small threaded load generator, and
readers for what the collector's file exporter wrote."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.stack import _file_exporter_overlay
from tests.support.collector import CollectorPorts, running_collector
from tests.support.http import http_get, http_ok
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.otlp_json import spans
from tests.support.processes import RunningProcess, free_port, running, wait_until
from tests.support.venvs import find_python, install_project

# Exporter timeouts, retries and flushes are what the fault tests exercise, not the
# defaults' minute-long metric interval: metrics every second, spans and logs every 200 ms.
# SIGTERM to exit, also with the collector down or hung: the Kubernetes grace period is
# 30 s, and the pod's budget for the rest of its shutdown is what is left.
EXIT_LIMIT_SECONDS = 5.0

FAST_EXPORT = {
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
}


def installed_service(
    render: Callable[..., Path], framework: str, telemetry_config: str = "environment"
) -> tuple[Path, Path]:
    """The default answers for ``framework`` (OTLP/HTTP) and ``telemetry_config``, rendered
    and installed once per test session; returns (project, venv bin directory)."""
    version = PYTHON_BY_FRAMEWORK[framework]
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine for {framework}")
    project = render(
        service_name=f"{framework}-faults",
        framework=framework,
        python_version=version,
        telemetry_config=telemetry_config,
    )
    bin_dir = project / ".venv" / "bin"
    if not (bin_dir / "python").exists():
        install_project(project, python)
    return project, bin_dir


@contextmanager
def collector_at(
    otelcol: Path, rendered_config: Path, workdir: Path, ports: CollectorPorts
) -> Iterator[RunningProcess]:
    """The rendered collector config plus the e2e file exporter, on ``ports``; every
    payload lands in ``workdir/collector-output.jsonl`` (appended across restarts)."""
    output = workdir / "collector-output.jsonl"
    overlay = workdir / "collector-overlay.yaml"
    overlay.write_text(yaml.safe_dump(_file_exporter_overlay(rendered_config, output)))
    log_name = f"collector-{time.monotonic_ns()}.log"
    with running_collector(
        otelcol, [rendered_config, overlay], workdir, ports, log_name=log_name
    ) as process:
        yield process


@contextmanager
def service(
    project: Path, bin_dir: Path, workdir: Path, env: dict[str, str]
) -> Iterator[tuple[RunningProcess, str]]:
    """``make run`` (the rendered server command) on a free port; yields (process, base URL)
    once /healthz answers."""
    port = free_port()
    full_env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PORT": str(port),
        **env,
    }
    log = workdir / f"service-{port}.log"
    with running(["make", "run"], cwd=project, env=full_env, log_path=log) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: process.process.poll() is not None or http_ok(f"{base}/healthz"),
            60,
            "the service to answer /healthz",
        )
        assert process.process.poll() is None, f"service exited:\n{process.log()[-4000:]}"
        yield process, base


class Load:
    """``threads`` clients sending GETs back to back, one new connection per request.

    Paths come from ``paths`` (called with a unique sequence number); every outcome is
    kept as (path, status), status 0 meaning the request failed without a response.
    """

    def __init__(self, base: str, paths: Callable[[int], str], threads: int = 4) -> None:
        self.base = base
        self.paths = paths
        self.results: list[tuple[str, int]] = []
        self._counter = itertools.count(1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                path = self.paths(next(self._counter))
            try:
                status = http_get(f"{self.base}{path}")[0]
            except OSError:
                status = 0
            with self._lock:
                self.results.append((path, status))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def completed(self) -> list[str]:
        with self._lock:
            return [path for path, status in self.results if 200 <= status < 300]

    def failures(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(path, status) for path, status in self.results if not 200 <= status < 300]


def item_path(sequence: int) -> str:
    """/items/N with N unique per request (existing items only, so every answer is 200)."""
    return f"/items/{sequence}"


@contextmanager
def hung(process: RunningProcess) -> Iterator[None]:
    """``process`` stopped (SIGSTOP) and continued on exit: its listening sockets still
    accept connections (the kernel completes the handshake) and take requests, but
    nothing ever answers, like a collector stuck in a pause or behind a dead proxy."""
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGCONT)


def timed_requests(base: str, path: str, seconds: float) -> list[float]:
    """``path`` requested back to back for ``seconds``; the seconds each took (all 2xx)."""
    took = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        status, body = http_get(f"{base}{path}")
        took.append(time.monotonic() - started)
        assert 200 <= status < 300, f"{path}: {status} {body[:300]!r}"
    return took


def terminate(process: RunningProcess, timeout: float = 30.0) -> float:
    """SIGTERM to the server process alone, as a container runtime sends it to PID 1;
    returns the seconds until it exited (SIGKILL after ``timeout``)."""
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.process.wait()
        raise
    return time.monotonic() - started


def looked_up_item_ids(records: list[dict[str, Any]]) -> set[int]:
    """app.item.id of every items.lookup span (the route's own child span)."""
    return {
        int(span["attrs"]["app.item.id"])
        for span in spans(records)
        if span["name"] == "items.lookup"
    }


def telemetry_warnings(log_text: str) -> list[dict[str, Any]]:
    """The service's JSON log lines from OpenTelemetry loggers at WARNING or above."""
    warnings = []
    for line in log_text.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        from_otel = str(record.get("logger", "")).startswith("opentelemetry")
        if from_otel and record.get("level") in {"WARNING", "ERROR", "CRITICAL"}:
            warnings.append(record)
    return warnings
