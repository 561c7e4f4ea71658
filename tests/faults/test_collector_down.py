"""The collector goes away for 60 s while the service is under load.

One framework: Flask on gunicorn gthread, the riskiest of the three here: request
threads, the batch processors' export threads and gunicorn's worker heartbeat share one
process and one GIL, so an exporter that blocked or spun would show up as failed
requests or a worker killed by gunicorn's timeout. FastAPI and Django use the same
exporters (OTLP/HTTP, 2 s timeout); test_sigterm.py runs them briefly under load with
the collector down.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.collector import CollectorPorts
from tests.support.faults import (
    FAST_EXPORT,
    Load,
    collector_at,
    installed_service,
    item_path,
    looked_up_item_ids,
    service,
    telemetry_warnings,
)
from tests.support.http import http_get
from tests.support.matrix import FLASK_FAULT_CONFIGS
from tests.support.otlp_json import read_records
from tests.support.processes import process_tree, rss_mb, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults-flask")]

OUTAGE_SECONDS = 60
WARNING_INTERVAL_SECONDS = 10
# The batch processors hold at most 2048 spans and 2048 log records, full within seconds
# at this load; after that nothing may accumulate. Keeping every request's span and log
# record (about 2 KB) would add more than 20 MB over the outage.
RSS_GROWTH_LIMIT_MB = 20


@pytest.mark.parametrize("telemetry_config", FLASK_FAULT_CONFIGS)
def test_service_rides_out_a_collector_outage(
    render, otelcol: Path, tmp_path: Path, telemetry_config: str
) -> None:
    project, bin_dir = installed_service(render, "flask", telemetry_config)
    config = project / "collector" / "otelcol-config.yaml"
    ports = CollectorPorts()
    env = {
        **FAST_EXPORT,
        "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_endpoint,
        # One process, so "one warning per 10 s" is read from one rate limiter.
        "WEB_CONCURRENCY": "1",
    }
    with service(project, bin_dir, tmp_path, env) as (server, base):
        with collector_at(otelcol, config, tmp_path, ports):
            wait_until(
                lambda: http_items_exported(base, tmp_path, 1), 30, "telemetry before the outage"
            )
        outage_started = time.monotonic()
        with Load(base, lambda n: "/hello", threads=4) as load:
            time.sleep(5)
            rss_start = rss_mb(process_tree(server.pid))
            rss_samples = []
            while time.monotonic() - outage_started < OUTAGE_SECONDS:
                time.sleep(5)
                rss_samples.append(rss_mb(process_tree(server.pid)))
        outage_seconds = time.monotonic() - outage_started

        assert len(load.results) > 100, f"only {len(load.results)} requests in the outage"
        assert not load.failures(), f"failed requests: {load.failures()[:10]}"
        assert max(rss_samples) - rss_start < RSS_GROWTH_LIMIT_MB, (rss_start, rss_samples)
        warnings = telemetry_warnings(server.log())
        assert warnings, "the outage was never reported in the service's log"
        allowed = int(outage_seconds // WARNING_INTERVAL_SECONDS) + 1
        assert len(warnings) <= allowed, [w["message"] for w in warnings]

        with collector_at(otelcol, config, tmp_path, ports):
            # The outage load used /hello only: this item's span can only be a new one.
            marker = 900
            wait_until(
                lambda: http_items_exported(base, tmp_path, marker), 30, "telemetry to resume"
            )
        assert server.process.poll() is None, "the service died during the test"


def http_items_exported(base: str, workdir: Path, item_id: int) -> bool:
    """Request /items/<item_id> and say whether its span has reached the collector."""
    assert http_get(f"{base}{item_path(item_id)}")[0] == 200
    return item_id in looked_up_item_ids(read_records(workdir / "collector-output.jsonl"))
