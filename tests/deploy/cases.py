"""Answer combinations the deployment tests render: each framework, each traces and logs
backend, OTLP over HTTP and gRPC, and a service without OTLP at all."""

from __future__ import annotations

from typing import Any

COMPOSE_CASES: list[dict[str, Any]] = [
    {
        "service_name": "flask-jaeger-loki",
        "framework": "flask",
        "traces_backend": "jaeger",
        "logs_backend": "loki",
        "exporters": ["otlp_http"],
    },
    {
        "service_name": "fastapi-tempo-none",
        "framework": "fastapi",
        "traces_backend": "tempo",
        "logs_backend": "none",
        "exporters": ["otlp_grpc", "prometheus"],
    },
    {
        "service_name": "django-tempo-loki",
        "framework": "django",
        "traces_backend": "tempo",
        "logs_backend": "loki",
        "exporters": ["otlp_http", "prometheus"],
    },
    {
        "service_name": "flask-jaeger-none",
        "framework": "flask",
        "traces_backend": "jaeger",
        "logs_backend": "none",
        "exporters": ["console"],
    },
    {
        "service_name": "django-rabbitmq",
        "framework": "django",
        "traces_backend": "jaeger",
        "logs_backend": "loki",
        "exporters": ["otlp_grpc"],
        "messaging": "rabbitmq",
    },
    {
        "service_name": "fastapi-kafka",
        "framework": "fastapi",
        # The worker's own exporter scraped by compose's Prometheus.
        "exporters": ["otlp_http", "prometheus"],
        "messaging": "kafka",
    },
]


def case_id(answers: dict[str, Any]) -> str:
    return answers["service_name"]
