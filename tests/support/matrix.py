"""The option combinations the test tiers render: every framework with several exporter
and sampler answers. One list, so every tier covers the same combinations."""

from __future__ import annotations

from typing import Any

import pytest

FRAMEWORKS = ("flask", "fastapi", "django")

# The tiers that install and run a service use one Python per framework, so the three
# supported versions are all exercised without tripling the installs.
PYTHON_BY_FRAMEWORK = {"flask": "3.11", "fastapi": "3.12", "django": "3.13"}

# One xdist group per framework: a module's tests for a framework share one render and
# one installed venv, on one worker.
FRAMEWORK_PARAMS = [
    pytest.param(f, marks=pytest.mark.xdist_group(f)) for f in sorted(PYTHON_BY_FRAMEWORK)
]

_VARIANTS: list[dict[str, Any]] = [
    {"exporters": ["otlp_http"], "sampler": "parentbased_always_on"},
    {
        "exporters": ["otlp_grpc", "prometheus"],
        "sampler": "parentbased_traceidratio",
        "sampling_ratio": 0.25,
    },
    {"exporters": ["console"], "sampler": "always_on"},
    {
        "exporters": ["otlp_http", "prometheus", "console"],
        "sampler": "parentbased_traceidratio",
        "sampling_ratio": 1,
    },
]

MATRIX: list[dict[str, Any]] = [
    {"service_name": f"{framework}-{index}", "framework": framework, **variant}
    for framework in FRAMEWORKS
    for index, variant in enumerate(_VARIANTS)
]


# With a message broker: the publish route and the worker in every framework, the worker
# next to a Prometheus scrape endpoint of its own.
MESSAGING_MATRIX: list[dict[str, Any]] = [
    {
        "service_name": f"{framework}-{broker}",
        "framework": framework,
        "messaging": broker,
        "exporters": ["otlp_http", "prometheus"],
        "sampler": "parentbased_always_on",
    }
    for framework in FRAMEWORKS
    for broker in ("rabbitmq", "kafka")
]


def matrix_id(answers: dict[str, Any]) -> str:
    messaging = answers.get("messaging", "none")
    suffix = "" if messaging == "none" else f"-{messaging}"
    return f"{answers['framework']}-{'+'.join(answers['exporters'])}-{answers['sampler']}{suffix}"
