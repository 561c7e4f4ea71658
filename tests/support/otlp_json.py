"""Reading what the collector's `file` exporter writes: one OTLP JSON payload per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_records(output: Path) -> list[dict[str, Any]]:
    """Every complete payload in ``output`` so far (none if the file does not exist yet)."""
    if not output.exists():
        return []
    text = output.read_text()
    complete = text[: text.rfind("\n") + 1]  # the collector may be half way through a line
    return [json.loads(line) for line in complete.splitlines() if line]


def attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP key/value attributes as a plain dict (array values as lists)."""

    def value(v: dict[str, Any]) -> Any:
        if "arrayValue" in v:
            return [value(x) for x in v["arrayValue"].get("values", [])]
        return next(iter(v.values()), None)

    return {a["key"]: value(a["value"]) for a in items}


def spans(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every span, with its resource's attributes under "resource", its service name under
    "service" and its own attributes under "attrs"."""
    found = []
    for record in records:
        for resource_spans in record.get("resourceSpans", []):
            resource = attributes(resource_spans["resource"].get("attributes", []))
            for scope in resource_spans.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    found.append(
                        {
                            **span,
                            "resource": resource,
                            "service": resource.get("service.name"),
                            "attrs": attributes(span.get("attributes", [])),
                        }
                    )
    return found


def logs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every log record, with its service name under "service"."""
    return [
        {**log, "service": attributes(rl["resource"].get("attributes", [])).get("service.name")}
        for record in records
        for rl in record.get("resourceLogs", [])
        for scope in rl.get("scopeLogs", [])
        for log in scope.get("logRecords", [])
    ]


def metric_points(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Data points of metric ``name`` (sums and gauges), with attributes flattened."""
    points = []
    for record in records:
        for resource_metrics in record.get("resourceMetrics", []):
            for scope in resource_metrics.get("scopeMetrics", []):
                for metric in scope.get("metrics", []):
                    if metric["name"] != name:
                        continue
                    data = metric.get("sum") or metric.get("gauge") or {}
                    for point in data.get("dataPoints", []):
                        attrs = attributes(point.get("attributes", []))
                        points.append({**point, "attrs": attrs})
    return points
