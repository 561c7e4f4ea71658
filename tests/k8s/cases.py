"""Answer combinations the Kubernetes tier renders: every framework, OTLP over HTTP and
gRPC and none, tail sampling on and off, both backends, Operator injection, and a kubernetes-only
project. Every tier of tests/k8s takes its renders from here (the admission tier applies
all of them into one API server, kube-score scores each): a new topology or kit added here
is checked by all of them."""

from __future__ import annotations

from typing import Any

OVERLAYS = ("dev", "prod")

K8S_CASES: list[dict[str, Any]] = [
    {
        "service_name": "k8s-flask-http",
        "framework": "flask",
        "exporters": ["otlp_http"],
    },
    {
        "service_name": "k8s-fastapi-grpc-tail",
        "framework": "fastapi",
        "exporters": ["otlp_grpc", "prometheus"],
        "traces_backend": "tempo",
        "logs_backend": "none",
        "tail_sampling": True,
        "slow_trace_threshold_ms": 250,
        "tail_sampling_ratio": 0.05,
    },
    {
        "service_name": "k8s-django-http-tail",
        "framework": "django",
        "exporters": ["otlp_http", "prometheus"],
        "tail_sampling": True,
    },
    {
        "service_name": "k8s-flask-console",
        "framework": "flask",
        "exporters": ["console"],
        "sampler": "parentbased_traceidratio",
        "sampling_ratio": 0.5,
        "logs_backend": "none",
    },
    {
        "service_name": "k8s-fastapi-http-only-k8s",
        "framework": "fastapi",
        "exporters": ["otlp_http"],
        "traces_backend": "tempo",
        "deploy_targets": ["kubernetes"],
    },
    {
        "service_name": "k8s-flask-operator",
        "framework": "flask",
        "exporters": ["otlp_http"],
        "instrumentation": "operator",
        "logs_backend": "none",
        "python_version": "3.12",
    },
    {
        "service_name": "k8s-django-grpc",
        "framework": "django",
        "exporters": ["otlp_grpc"],
        "traces_backend": "jaeger",
        "logs_backend": "none",
    },
    {
        "service_name": "k8s-flask-rabbitmq",
        "framework": "flask",
        "exporters": ["otlp_http"],
        "messaging": "rabbitmq",
        "broker_address": "rabbitmq.messaging.svc:5672",
    },
    {
        "service_name": "k8s-fastapi-kafka",
        "framework": "fastapi",
        "exporters": ["otlp_http"],
        "messaging": "kafka",
        "broker_address": "kafka-bootstrap.messaging.svc:9092",
    },
]


def case_id(answers: dict[str, Any]) -> str:
    return answers["service_name"].removeprefix("k8s-")
