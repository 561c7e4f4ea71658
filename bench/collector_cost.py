"""Collector CPU per 1,000 spans for rendered collector configs, side by side.

Runs the test collector (scripts/build-otelcol) with each config in turn, in interleaved
rounds, sends the same OTLP/HTTP batches of request-like spans (a dozen attributes each,
some carrying personal data) and reads the collector's own CPU counter
(otelcol_process_cpu_seconds) before and after. Prints the median per config and its
ratio to the first.

    python3 bench/collector_cost.py before.yaml after.yaml --spans 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.collector import CollectorPorts, running_collector  # noqa: E402

BATCH = 200


def _span(i: int) -> dict:
    attrs = {
        "http.request.method": "GET",
        "http.route": "/items/{item_id}",
        "url.path": f"/items/{i}",
        "url.query": "page=2&sort=asc" if i % 3 else "email=jane.doe@example.com&token=abc",
        "url.scheme": "http",
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        "http.response.status_code": "200",
        "server.address": "checkout.example.internal",
        "client.address": "10.1.2.3",
        "app.item.id": str(i),
        "app.note": "card 4111 1111 1111 1111" if i % 50 == 0 else "looked up item",
        "network.protocol.version": "1.1",
    }
    return {
        "traceId": f"{i:032x}",
        "spanId": f"{i + 1:016x}",
        "name": "GET /items/{item_id}",
        "kind": 2,
        "startTimeUnixNano": str(1_764_498_264_000_000_000 + i),
        "endTimeUnixNano": str(1_764_498_264_001_000_000 + i),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def _payload(start: int) -> bytes:
    spans = [_span(i) for i in range(start, start + BATCH)]
    resource = [{"key": "service.name", "value": {"stringValue": "bench"}}]
    resource_spans = {"resource": {"attributes": resource}, "scopeSpans": [{"spans": spans}]}
    return json.dumps({"resourceSpans": [resource_spans]}).encode()


def _cpu_seconds(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
        for line in response.read().decode().splitlines():
            if line.startswith("otelcol_process_cpu_seconds"):
                return float(line.split()[-1])
    raise RuntimeError("otelcol_process_cpu_seconds not exposed")


def measure(otelcol: Path, config: Path, spans: int, workdir: Path) -> float:
    """CPU milliseconds the collector spent per 1,000 spans with ``config``."""
    ports = CollectorPorts()
    payloads = [_payload(start) for start in range(0, spans, BATCH)]
    with running_collector(otelcol, [config], workdir, ports):
        before = _cpu_seconds(ports.telemetry)
        for payload in payloads:
            request = urllib.request.Request(
                f"{ports.otlp_endpoint}/v1/traces",
                data=payload,
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=30).read()
        time.sleep(2)  # let the batch processor and connectors finish
        after = _cpu_seconds(ports.telemetry)
    return (after - before) * 1000 / (spans / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    otelcol = Path(
        os.environ.get("OTELCOL_BIN")
        or subprocess.run(
            [str(REPO_ROOT / "scripts" / "build-otelcol")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
    )
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / "collector-cost"
    workdir.mkdir(exist_ok=True)
    results: dict[Path, list[float]] = {config: [] for config in args.configs}
    for _ in range(args.rounds):
        for config in args.configs:
            results[config].append(measure(otelcol, config, args.spans, workdir))
    base = statistics.median(results[args.configs[0]])
    print("| config | CPU ms per 1,000 spans (median) | rounds | ratio |")
    print("| --- | --- | --- | --- |")
    for config, values in results.items():
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {config.name} | {median:.0f} | {rounds} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
