"""SIGTERM under load, on each framework's production server: every request that got a
2xx has its span at the collector, and the server exits within 5 s, also when the
collector is unreachable (the Kubernetes grace period is 30 s; the pod's budget for the
rest of its shutdown is what is left)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.collector import CollectorPorts
from tests.support.faults import (
    EXIT_LIMIT_SECONDS,
    FAST_EXPORT,
    Load,
    collector_at,
    item_path,
    looked_up_item_ids,
    service,
    terminate,
)
from tests.support.otlp_json import read_records
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.slow

LOAD_SECONDS = 2.0


def _item_id(path: str) -> int:
    return int(path.rsplit("/", 1)[1])


def test_sigterm_under_load_loses_no_completed_request(
    framework_service: tuple[str, Path, Path], otelcol: Path, tmp_path: Path
) -> None:
    framework, project, bin_dir = framework_service
    ports = CollectorPorts()
    # Export only on shutdown: spans still queued at SIGTERM must be flushed by it.
    env = {**FAST_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_endpoint}
    env["OTEL_BSP_SCHEDULE_DELAY"] = "600000"
    config = project / "collector" / "otelcol-config.yaml"
    with collector_at(otelcol, config, tmp_path, ports):
        with service(project, bin_dir, tmp_path, env) as (server, base):
            with Load(base, item_path, threads=4) as load:
                time.sleep(LOAD_SECONDS)
                exit_seconds = terminate(server)
        completed = {_item_id(path) for path in load.completed()}
        assert len(completed) > 20, f"only {len(completed)} requests completed before SIGTERM"
        assert all(item_id <= 1000 for item_id in completed), "ran past the catalogue"
        assert exit_seconds <= EXIT_LIMIT_SECONDS, f"{framework} took {exit_seconds:.1f} s"

        output = tmp_path / "collector-output.jsonl"

        def all_spans_arrived() -> bool:
            return completed <= looked_up_item_ids(read_records(output))

        try:
            wait_until(all_spans_arrived, 15, "the spans of every completed request")
        except TimeoutError:
            missing = completed - looked_up_item_ids(read_records(output))
            pytest.fail(f"{len(missing)} of {len(completed)} completed requests have no span")


def test_sigterm_with_the_collector_down_exits_in_time(
    framework_service: tuple[str, Path, Path], tmp_path: Path
) -> None:
    framework, project, bin_dir = framework_service
    env = {**FAST_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    with service(project, bin_dir, tmp_path, env) as (server, base):
        with Load(base, item_path, threads=4) as load:
            time.sleep(LOAD_SECONDS)
            exit_seconds = terminate(server)
    assert load.completed(), "no request completed before SIGTERM"
    assert exit_seconds <= EXIT_LIMIT_SECONDS, (
        f"{framework} took {exit_seconds:.1f} s to exit with the collector down\n"
        + server.log()[-3000:]
    )
