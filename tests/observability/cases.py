"""Answer sets the observability tests render: the default objectives, both extremes of
each objective, a whole number of seconds as the latency bucket, and each backend."""

from __future__ import annotations

from typing import Any

OBSERVABILITY_CASES: list[dict[str, Any]] = [
    {"service_name": "obs-default"},
    {
        "service_name": "obs-loose",
        "slo_availability": 90,
        "slo_latency_ms": 1,
        "traces_backend": "tempo",
        "logs_backend": "none",
        "deploy_targets": ["kubernetes"],
    },
    {
        "service_name": "obs-strict",
        "slo_availability": 99.999,
        "slo_latency_ms": 60000,
        "framework": "django",
        "deploy_targets": ["compose"],
    },
    {
        "service_name": "obs-whole-second",
        "slo_availability": 99.5,
        "slo_latency_ms": 1000,
        "framework": "fastapi",
        "dashboard": False,
        "collector_topology": "bundled",
    },
]


def case_id(answers: dict[str, Any]) -> str:
    return answers["service_name"]
