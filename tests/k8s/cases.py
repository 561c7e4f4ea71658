"""Answer combinations the Kubernetes tier renders: every framework, OTLP over HTTP and
gRPC and none, tail sampling on and off, both backends, Operator injection, the
configuration file, and a kubernetes-only project, each with its own collector
(K8S_CASES); services sending to the platform's shared collector (PLATFORM_CASES); and
that collector's kit (KIT_CASES). ALL_RENDERS is every one. The tiers of tests/k8s take
their renders from here (the admission tier applies ALL_RENDERS into one API server,
kube-score scores each)."""

from __future__ import annotations

from typing import Any

OVERLAYS = ("dev", "prod")

# Services with their own collector agent and gateway.
K8S_CASES: list[dict[str, Any]] = [
    {
        "service_name": "k8s-flask-http",
        "collector_topology": "bundled",
        "framework": "flask",
        "exporters": ["otlp_http"],
    },
    {
        "service_name": "k8s-fastapi-grpc-tail",
        "collector_topology": "bundled",
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
        "collector_topology": "bundled",
        "framework": "django",
        "exporters": ["otlp_http", "prometheus"],
        "tail_sampling": True,
    },
    {
        "service_name": "k8s-flask-console",
        "collector_topology": "bundled",
        "framework": "flask",
        "exporters": ["console"],
        "sampler": "parentbased_traceidratio",
        "sampling_ratio": 0.5,
        "logs_backend": "none",
    },
    {
        "service_name": "k8s-fastapi-http-only-k8s",
        "collector_topology": "bundled",
        "framework": "fastapi",
        "exporters": ["otlp_http"],
        "traces_backend": "tempo",
        "deploy_targets": ["kubernetes"],
    },
    {
        "service_name": "k8s-flask-operator",
        "collector_topology": "bundled",
        "framework": "flask",
        "exporters": ["otlp_http"],
        "instrumentation": "operator",
        "logs_backend": "none",
        "python_version": "3.12",
    },
    {
        "service_name": "k8s-django-grpc",
        "collector_topology": "bundled",
        "framework": "django",
        "exporters": ["otlp_grpc"],
        "traces_backend": "jaeger",
        "logs_backend": "none",
    },
    {
        "service_name": "k8s-flask-rabbitmq",
        "collector_topology": "bundled",
        "framework": "flask",
        # The worker's metrics scraped from its own exporter too.
        "exporters": ["otlp_http", "prometheus"],
        "messaging": "rabbitmq",
        "broker_address": "rabbitmq.messaging.svc:5672",
    },
    # The configuration file in charge (test_file_mode_env.py: every OTEL_* variable the
    # manifests set is one the file reads).
    {
        "service_name": "k8s-django-file",
        "collector_topology": "bundled",
        "framework": "django",
        "exporters": ["otlp_http", "prometheus"],
        "telemetry_config": "file",
    },
]


# Services sending to the platform's shared collector: its agent Service (HTTP and gRPC),
# the node's address (downward API), and Operator injection.
PLATFORM_CASES: list[dict[str, Any]] = [
    # The worker follows the topology too: it sends to the node's agent like the web pod.
    {
        "service_name": "k8s-fastapi-kafka",
        "framework": "fastapi",
        "exporters": ["otlp_http"],
        "messaging": "kafka",
        "broker_address": "kafka-bootstrap.messaging.svc:9092",
        "platform_otlp_endpoint": "http://$(HOST_IP):4318",
    },
    {"service_name": "k8s-flask-platform", "framework": "flask", "exporters": ["otlp_http"]},
    {
        "service_name": "k8s-fastapi-platform-grpc",
        "framework": "fastapi",
        "exporters": ["otlp_grpc", "prometheus"],
        "logs_backend": "none",
    },
    {
        "service_name": "k8s-django-platform-hostip",
        "framework": "django",
        "exporters": ["otlp_http"],
        "platform_otlp_endpoint": "http://$(HOST_IP):4318",
    },
    {
        "service_name": "k8s-flask-platform-operator",
        "framework": "flask",
        "exporters": ["otlp_http"],
        "instrumentation": "operator",
        "deploy_targets": ["kubernetes"],
    },
    # The configuration file with the node's agent (downward API) and a worker.
    {
        "service_name": "k8s-flask-file-hostip",
        "framework": "flask",
        "exporters": ["otlp_grpc"],
        "telemetry_config": "file",
        "messaging": "rabbitmq",
        "broker_address": "rabbitmq.messaging.svc:5672",
        "platform_otlp_endpoint": "http://$(HOST_IP):4317",
    },
]

# The platform's collector kit, once per cluster.
KIT_CASES: list[dict[str, Any]] = [
    {"service_name": "k8s-platform-kit", "project_kind": "platform_collector"},
    {
        "service_name": "k8s-platform-kit-plain",
        "project_kind": "platform_collector",
        # A second kit in the same cluster (the admission tier applies every render into
        # one): its own namespace.
        "collector_namespace": "otel-platform",
        "tail_sampling": False,
        "traces_backend": "tempo",
        "logs_backend": "none",
    },
]

ALL_RENDERS = K8S_CASES + PLATFORM_CASES + KIT_CASES


def case_id(answers: dict[str, Any]) -> str:
    return answers["service_name"].removeprefix("k8s-")
