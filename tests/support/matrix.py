"""The option combinations the test tiers render: every framework with several exporter
and sampler answers. One list, so every tier covers the same combinations."""

from __future__ import annotations

import os
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

# The configuration-file mode and a project without the example routes, each with the
# variants above in turn across the frameworks (every exporter and sampler meets each).
_MODES: list[dict[str, Any]] = [
    {"telemetry_config": "file"},
    {"demo_routes": False},
    {"telemetry_config": "file", "demo_routes": False},
]

MATRIX: list[dict[str, Any]] = [
    {"service_name": f"{framework}-{index}", "framework": framework, **variant}
    for framework in FRAMEWORKS
    for index, variant in enumerate(_VARIANTS)
] + [
    {
        "service_name": f"{framework}-mode-{index}",
        "framework": framework,
        **_VARIANTS[(index + offset) % len(_VARIANTS)],
        **mode,
    }
    for offset, framework in enumerate(FRAMEWORKS)
    for index, mode in enumerate(_MODES)
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
] + [
    # The worker with the configuration file and without the example routes (the live
    # messaging tiers take the first entry per framework and broker, above).
    {
        "service_name": "django-rabbitmq-file",
        "framework": "django",
        "messaging": "rabbitmq",
        "exporters": ["otlp_grpc"],
        "sampler": "parentbased_always_on",
        "telemetry_config": "file",
        "demo_routes": False,
    },
    {
        "service_name": "fastapi-kafka-file",
        "framework": "fastapi",
        "messaging": "kafka",
        "exporters": ["otlp_http", "console"],
        "sampler": "always_on",
        "telemetry_config": "file",
    },
]


def matrix_id(answers: dict[str, Any]) -> str:
    messaging = answers.get("messaging", "none")
    broker = "" if messaging == "none" else f"-{messaging}"
    mode = "-file" if answers.get("telemetry_config") == "file" else ""
    demo = "-nodemo" if answers.get("demo_routes") is False else ""
    exporters = "+".join(answers["exporters"])
    return f"{answers['framework']}-{exporters}-{answers['sampler']}{mode}{demo}{broker}"


# The live tiers (e2e, faults, hostile traffic, the observability contract) run every
# framework with the environment configuration and, in CI, one with the configuration
# file: it shares the SDK and the servers, so one framework shows the file works end to
# end. LIVE_FILE_MODE=all runs the file mode for every framework.
FILE_MODE_FRAMEWORKS = FRAMEWORKS if os.environ.get("LIVE_FILE_MODE") == "all" else ("fastapi",)
# The fault tests that run on Flask alone (an outage, several workers) take the file mode
# only with LIVE_FILE_MODE=all: the SIGTERM tests already run it on every live case.
FLASK_FAULT_CONFIGS = (
    ("environment", "file") if os.environ.get("LIVE_FILE_MODE") == "all" else ("environment",)
)
LIVE_CASES: list[tuple[str, str]] = [(f, "environment") for f in sorted(PYTHON_BY_FRAMEWORK)] + [
    (f, "file") for f in FILE_MODE_FRAMEWORKS
]
LIVE_PARAMS = [
    pytest.param(
        (framework, mode),
        id=framework if mode == "environment" else f"{framework}-file",
        # Environment cases share their framework's group with the other tiers (one
        # render and venv per worker); a file case renders and installs its own.
        marks=pytest.mark.xdist_group(framework if mode == "environment" else f"{framework}-file"),
    )
    for framework, mode in LIVE_CASES
]
