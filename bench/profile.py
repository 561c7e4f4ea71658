"""Where the CPU goes: summarise a py-spy raw (collapsed stacks) profile of a service
under load, by thread role and by the innermost component on each stack.

    py-spy record -p PID -d 8 -r 200 --nonblocking --gil --full-filenames --format raw -o prof.txt
    python3 bench/profile.py prof.txt [more.txt ...]

A sample is charged to the innermost frame (leaf side) that belongs to a known component,
so "OTel SDK: spans" is time spent inside the SDK's span code itself, not in what it calls.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (component, regex on the frame's file) tried in order on each frame from the leaf up.
COMPONENTS = (
    ("OTLP encoding (protobuf)", r"exporter/otlp/proto/common|google/protobuf|opentelemetry/proto"),
    ("OTLP HTTP transport", r"exporter/otlp/proto/http|requests/|urllib3/|http/client|socket"),
    ("OTel SDK: spans", r"opentelemetry/sdk/trace"),
    ("OTel SDK: metrics", r"opentelemetry/sdk/metrics"),
    ("OTel SDK: logs", r"opentelemetry/sdk/_logs|instrumentation/logging/handler"),
    ("OTel SDK: batching", r"opentelemetry/sdk/_shared_internal"),
    ("OTel instrumentation", r"opentelemetry/instrumentation|opentelemetry/util"),
    ("OTel API / context", r"opentelemetry/(trace|metrics|context|propagat|baggage|attributes)"),
    ("OTel (other)", r"opentelemetry/"),
    ("JSON log formatter", r"pythonjsonlogger"),
    ("stdlib json", r"^json/"),
    ("stdlib logging", r"logging/__init__"),
    ("framework", r"flask/|werkzeug/|fastapi/|starlette/|django/|pydantic"),
    ("server", r"gunicorn/|uvicorn/|h11/|httptools|asyncio/"),
    ("the app", r"bench_svc/"),
)
FRAME = re.compile(r"^(.*) \((.*):\d+\)$")


def thread_role(stack: list[str]) -> str:
    text = ";".join(stack)
    if "BatchProcessor.worker" in text or "_shared_internal" in text and "worker" in text:
        return "export threads (batch span/log processors)"
    if "PeriodicExportingMetricReader" in text:
        return "export threads (metric reader)"
    return "request handling"


def component(stack: list[str]) -> str:
    for frame in reversed(stack):
        match = FRAME.match(frame)
        # Only the part inside site-packages (or the stdlib) names the component.
        path = re.split(r"site-packages/|lib/python3\.\d+/", match.group(2) if match else frame)[-1]
        for name, pattern in COMPONENTS:
            if re.search(pattern, path):
                return name
    return "other (interpreter, threading, stdlib)"


def summarise(path: Path) -> str:
    roles: Counter[str] = Counter()
    components: Counter[tuple[str, str]] = Counter()
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        stack = stack_text.split(";")[1:]  # the first entry names the thread
        role = thread_role(stack)
        roles[role] += int(count_text)
        components[(role, component(stack))] += int(count_text)
    total = sum(roles.values()) or 1
    lines = [
        f"{path.name}: {total} samples",
        "",
        "| thread | component | share |",
        "| --- | --- | --- |",
    ]
    for (role, name), count in sorted(components.items(), key=lambda kv: (kv[0][0], -kv[1])):
        if count / total >= 0.01:
            lines.append(f"| {role} | {name} | {100 * count / total:.0f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(summarise(Path(argument)), end="\n\n")
