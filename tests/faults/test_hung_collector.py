"""A collector that accepts connections but never answers (stopped with SIGSTOP: the
kernel still takes its connections and requests), on every live case, the configuration
file's included. The exporters' 2 s timeout (the file's own in file mode) shows in the
first failed export; requests stay as fast as before; SIGTERM exits within the telemetry
flush's bound. A refused connection fails at once (test_sigterm.py,
test_collector_down.py); a hung one costs a full timeout every time."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.k8s.workloads import telemetry_flush_seconds
from tests.support.collector import CollectorPorts
from tests.support.faults import (
    FAST_EXPORT,
    collector_at,
    hung,
    item_path,
    looked_up_item_ids,
    service,
    telemetry_warnings,
    terminate,
    timed_requests,
)
from tests.support.http import http_get
from tests.support.otlp_json import read_records
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow

HANG_SECONDS = 6.0
EXPORT_TIMEOUT_SECONDS = 2.0
# The first export after the hang started fails one timeout later; the exporters send
# every 200 ms (FAST_EXPORT), and the log record takes a moment on a busy machine.
FIRST_FAILURE_WITHIN_SECONDS = EXPORT_TIMEOUT_SECONDS + 1.5
# Well below the timeout: a request that waited on an export would take at least that.
SLOWEST_REQUEST_SECONDS = 1.0
# A hung collector takes the flush's whole bound (each batch of the final flush waits a
# full timeout, so it gives up); the server's own stop comes on top (< 1 s measured).
SERVER_STOP_SECONDS = 2.0


def test_a_hung_collector_slows_no_request_and_no_shutdown(
    framework_service: tuple[str, Path, Path], otelcol: Path, tmp_path: Path
) -> None:
    framework, project, bin_dir = framework_service
    mode = yaml.safe_load((project / ".copier-answers.yml").read_text())["telemetry_config"]
    ports = CollectorPorts()
    env = {**FAST_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_endpoint}
    config = project / "collector" / "otelcol-config.yaml"
    output = tmp_path / "collector-output.jsonl"
    with collector_at(otelcol, config, tmp_path, ports) as collector:
        with service(project, bin_dir, tmp_path, env) as (server, base):
            # Exporting before the hang, so the exporters hold open connections to it.
            assert http_get(f"{base}{item_path(1)}")[0] == 200
            wait_until(lambda: 1 in looked_up_item_ids(read_records(output)), 30, "a span")
            before = timed_requests(base, "/hello", 1.0)
            with hung(collector):
                hang_started = time.time()
                during = timed_requests(base, "/hello", HANG_SECONDS)
                exit_seconds = terminate(server)
    log = server.log()
    failures = [
        datetime.fromisoformat(w["asctime"]).timestamp() - hang_started
        for w in telemetry_warnings(log)
        if w["logger"].startswith("opentelemetry.exporter")
    ]
    exit_limit = telemetry_flush_seconds(project) + SERVER_STOP_SECONDS
    figures = (
        f"{framework} ({mode}): median {statistics.median(before) * 1000:.1f} ms before, "
        f"{statistics.median(during) * 1000:.1f} ms hung ({len(during)} requests, slowest "
        f"{max(during) * 1000:.0f} ms); first failed export "
        f"{min(failures, default=float('nan')):.1f} s into the hang; exit {exit_seconds:.1f} s"
    )
    print(figures)
    assert len(during) > 20, figures
    assert max(during) < SLOWEST_REQUEST_SECONDS, figures
    assert failures and min(failures) < FIRST_FAILURE_WITHIN_SECONDS, f"{figures}\n{log[-3000:]}"
    assert exit_seconds <= exit_limit, f"{figures} (limit {exit_limit:.0f} s)\n{log[-3000:]}"
