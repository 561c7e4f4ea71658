"""Operator mode, live: the service started under `opentelemetry-instrument` (the code path
the OpenTelemetry Operator injects) with exactly the environment the rendered
Instrumentation resource gives it, sending to the real collector. Its application logs
must arrive over OTLP, once each, with the ids of the request's span."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.e2e.stack import collector
from tests.support import otlp_json
from tests.support.http import http_get, http_ok
from tests.support.processes import free_port, running, wait_until
from tests.support.venvs import installed_render, uv_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("flask")]

ANSWERS = {
    "framework": "flask",
    "python_version": "3.11",
    "exporters": ["otlp_http"],
    "deploy_targets": ["kubernetes"],
    "instrumentation": "operator",
}
INSTRUMENTATION = Path("deploy") / "k8s" / "base" / "instrumentation.yaml"
REQUESTS = 20


def operator_environment(project: Path) -> dict[str, str]:
    """What the Operator sets in the pod from the rendered Instrumentation resource."""
    spec = yaml.safe_load((project / INSTRUMENTATION).read_text())["spec"]
    env = {item["name"]: item["value"] for item in spec["python"]["env"]}
    env["OTEL_PROPAGATORS"] = ",".join(spec["propagators"])
    env["OTEL_TRACES_SAMPLER"] = spec["sampler"]["type"]
    # The Operator's own defaults for Python injection.
    env.setdefault("OTEL_TRACES_EXPORTER", "otlp")
    env.setdefault("OTEL_METRICS_EXPORTER", "otlp")
    return env


def test_injected_sdk_exports_every_application_log_once(render, otelcol, tmp_path) -> None:
    project, bin_dir = installed_render(render, {**ANSWERS, "service_name": "operator-logs"})
    # The Operator's image brings the distro; here it is installed next to the app.
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "-p",
            str(bin_dir / "python"),
            "opentelemetry-distro==0.66b1",
        ],
        check=True,
        env=uv_env(),
    )
    config = project / "collector" / "otelcol-config.yaml"
    port = free_port()
    with collector(otelcol, config, tmp_path) as col:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PORT": str(port),
            "OTEL_SERVICE_NAME": "operator-logs",
            **operator_environment(project),
            **col.service_env(),
        }
        command = [
            str(bin_dir / "opentelemetry-instrument"),
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "operator_logs.app:app",
        ]
        with running(command, cwd=project, env=env, log_path=tmp_path / "svc.log") as svc:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "the service")
            # In parallel, so both gunicorn workers serve some: each must export its own.
            with ThreadPoolExecutor(4) as pool:
                statuses = list(
                    pool.map(
                        lambda _: http_get(f"http://127.0.0.1:{port}/hello")[0], range(REQUESTS)
                    )
                )
            assert statuses == [200] * REQUESTS

            def hello_logs() -> list[dict]:
                return [
                    log
                    for log in otlp_json.logs(col.records())
                    if log["body"].get("stringValue") == "saying hello"
                ]

            try:
                wait_until(lambda: len(hello_logs()) >= REQUESTS, 60, f"{REQUESTS} log records")
            except TimeoutError as timeout:
                raise AssertionError(
                    f"{len(hello_logs())} of {REQUESTS} log records arrived; service log:\n"
                    f"{svc.log()[-4000:]}\ncollector log:\n{col.process.log()[-2000:]}"
                ) from timeout
            svc.stop()
        records = col.records()
    logs = hello_logs()
    assert len(logs) == REQUESTS, f"{len(logs)} records for {REQUESTS} requests"
    spans = {(s["traceId"], s["spanId"]) for s in otlp_json.spans(records)}
    assert all((log.get("traceId"), log.get("spanId")) in spans for log in logs), logs
    # Only the injected SDK exports: one server span per request, not two.
    hello_spans = [s for s in otlp_json.spans(records) if s["name"] == "GET /hello"]
    assert len(hello_spans) == REQUESTS
