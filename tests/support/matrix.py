"""The option combinations the test tiers render: every framework with several exporter
and sampler answers. One list, so every tier covers the same combinations."""

from __future__ import annotations

from typing import Any

FRAMEWORKS = ("flask", "fastapi", "django")

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


def matrix_id(answers: dict[str, Any]) -> str:
    return f"{answers['framework']}-{'+'.join(answers['exporters'])}-{answers['sampler']}"
