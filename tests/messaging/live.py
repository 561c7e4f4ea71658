"""The rendered service and its worker as real processes, and what the tests read back:
the worker's JSON log lines and the broker's queues (through pika in the service's venv)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.stack import Collector
from tests.messaging.broker import RabbitMQ
from tests.support.http import http_ok
from tests.support.processes import RunningProcess, free_port, running, wait_until


@dataclass
class Stack:
    project: Path
    bin_dir: Path
    package: str
    env: dict[str, str]
    workdir: Path

    @property
    def destination(self) -> str:
        return self.env["MESSAGING_DESTINATION"]


def stack_env(
    bin_dir: Path, broker: RabbitMQ, live_collector: Collector, destination: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        **live_collector.service_env(),
        "MESSAGING_URL": broker.url,
        "MESSAGING_DESTINATION": destination,
        # The web process and the worker each serve Prometheus metrics: free ports.
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
    }


@contextmanager
def web(stack: Stack, name: str = "web") -> Iterator[str]:
    """The service on its real server (make run); yields its base URL."""
    port = free_port()
    env = {**stack.env, "PORT": str(port)}
    log = stack.workdir / f"{name}.log"
    with running(["make", "run"], cwd=stack.project, env=env, log_path=log) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{base}/healthz"), 60, f"{name} to answer")
        yield base
        process.stop()


@contextmanager
def worker(stack: Stack, name: str = "worker") -> Iterator[RunningProcess]:
    """The worker process (what make worker runs), signalled on its own."""
    env = {**stack.env, "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port())}
    command = [str(stack.bin_dir / "python"), "-m", f"{stack.package}.worker"]
    log = stack.workdir / f"{name}.log"
    with running(command, cwd=stack.project, env=env, log_path=log) as process:
        wait_until(lambda: '"consuming"' in process.log(), 30, f"{name} to consume")
        yield process
        process.stop()


def publish(
    base: str, payload: Any, key: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], float]:
    """POST /messages; returns (status, JSON body, seconds taken)."""
    request = urllib.request.Request(
        f"{base}/messages",
        data=json.dumps({"key": key, "payload": payload}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body or b"{}"), time.monotonic() - started


def log_lines(process: RunningProcess) -> list[dict[str, Any]]:
    """The JSON lines a process wrote (anything else, such as make's echo, is skipped)."""
    return json_lines(process.log())


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of ``text``, one per line; other lines are skipped."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def processed_ids(*processes: RunningProcess) -> list[str]:
    return [
        line["message_id"]
        for process in processes
        for line in log_lines(process)
        if line.get("message") == "processed message"
    ]


_BROKER_SCRIPT = """
import json, sys, pika
url, action, queue = sys.argv[1:4]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
if action == "count":
    print(channel.queue_declare(queue, passive=True).method.message_count)
elif action == "peek":
    method, properties, body = channel.basic_get(queue)
    channel.basic_nack(method.delivery_tag, requeue=True)
    print(body.decode())
elif action == "publish-raw":
    properties = pika.BasicProperties(message_id=sys.argv[5], headers=json.loads(sys.argv[6]))
    channel.basic_publish(queue, queue, sys.argv[4].encode(), properties)
connection.close()
"""


def broker_call(stack: Stack, *args: str) -> str:
    """Run pika from the service's venv against the broker (the tests' own venv has none)."""
    result = subprocess.run(
        [str(stack.bin_dir / "python"), "-c", _BROKER_SCRIPT, stack.env["MESSAGING_URL"], *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def queue_depth(stack: Stack, queue: str) -> int:
    return int(broker_call(stack, "count", queue))


def messaging_row_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel in the dashboard's messaging row."""
    queries, in_row = [], False
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            in_row = panel["title"] == "Messages (worker)"
            continue
        if in_row:
            queries += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


def live_expr(expr: str) -> str:
    """The panel's query as Prometheus runs it here, without the `or 0 * ...` fallbacks
    that would answer even when the series the panel is about does not exist."""
    expr = re.sub(r"\n\s*or 0 \* [^\n]*", "", expr)
    return expr.replace("$__rate_interval", "1m").replace('=~"$environment"', '=~".*"')
