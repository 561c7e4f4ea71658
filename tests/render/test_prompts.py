"""Every invalid answer is refused with a message naming the answer and the fix, and
nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.rendering import render_service

REFUSALS: list[tuple[dict[str, Any], list[str]]] = [
    ({"service_name": "Checkout"}, ["service_name 'Checkout'", "DNS-1123", "lowercase"]),
    ({"service_name": "1checkout"}, ["service_name '1checkout'", "starting with a letter"]),
    ({"service_name": "checkout-"}, ["service_name 'checkout-'", "ending with a letter or digit"]),
    ({"service_name": "a" * 64}, ["is not a DNS-1123 label", "1-63"]),
    ({"service_name": "check_out"}, ["service_name 'check_out'", "e.g. checkout-api"]),
    ({"service_name": "otel-collector"}, ["service_name 'otel-collector'", "pick another"]),
    ({"service_name": "worker"}, ["service_name 'worker'", "compose.yaml", "worker-api"]),
    ({"service_name": "prometheus"}, ["service_name 'prometheus'", "prometheus-api"]),
    ({"package_name": "Checkout"}, ["package_name 'Checkout'", "lowercase Python identifier"]),
    ({"package_name": "1pkg"}, ["package_name '1pkg'", "not starting with a digit"]),
    ({"package_name": "flask"}, ["package_name 'flask'", "shadow", "flask_service"]),
    ({"package_name": "class"}, ["package_name 'class' is a Python keyword", "class_service"]),
    ({"package_name": "match"}, ["package_name 'match' is a Python keyword"]),
    ({"package_name": "json"}, ["shadow the standard library module json"]),
    ({"package_name": "httpx"}, ["shadow the installed module httpx", "httpx_service"]),
    ({"package_name": "tests"}, ["shadow the project's own tests"]),
    ({"service_name": "class"}, ["package_name 'class' is a Python keyword"]),
    ({"description": "  "}, ["description must not be empty"]),
    ({"description": "two\nlines"}, ["description contains a line break (U+000A)"]),
    ({"description": "ring\x07"}, ["description contains a control character (U+0007)"]),
    ({"description": "tab\tstop"}, ["description contains a tab (U+0009)", "remove it"]),
    ({"owner": "-team"}, ["owner '-team'", "e.g. team-payments"]),
    ({"owner": "team."}, ["owner 'team.'", "ending with a letter or digit"]),
    ({"python_version": "3.9"}, ["python_version", "3.9"]),
    ({"framework": "bottle"}, ["framework", "bottle"]),
    ({"exporters": []}, ["exporters: pick at least one"]),
    ({"exporters": ["otlp_http", "otlp_grpc"]}, ["otlp_http and otlp_grpc", "pick only one"]),
    ({"exporters": ["zipkin"]}, ["exporters", "zipkin"]),
    ({"sampler": "always_off"}, ["sampler", "always_off"]),
    (
        {"sampler": "parentbased_traceidratio", "sampling_ratio": 0},
        ["sampling_ratio 0", "greater than 0"],
    ),
    (
        {"sampler": "parentbased_traceidratio", "sampling_ratio": 1.5},
        ["sampling_ratio 1.5", "at most 1"],
    ),
    (
        {"sampler": "parentbased_traceidratio", "tail_sampling": True},
        ["tail_sampling needs every trace", "choose sampler parentbased_always_on"],
    ),
    (
        {"tail_sampling": True, "slow_trace_threshold_ms": 0},
        ["slow_trace_threshold_ms 0", "from 1 to 600000"],
    ),
    (
        {"tail_sampling": True, "tail_sampling_ratio": 2},
        ["tail_sampling_ratio 2", "from 0"],
    ),
    (
        {"instrumentation": "operator", "exporters": ["otlp_grpc"]},
        ["instrumentation operator", "add otlp_http"],
    ),
    (
        {"instrumentation": "operator", "telemetry_config": "file"},
        [
            "instrumentation operator",
            "telemetry_config file",
            "choose telemetry_config environment",
        ],
    ),
    ({"instrumentation": "agent"}, ["instrumentation", "agent"]),
    ({"telemetry_config": "yaml"}, ["telemetry_config", "yaml"]),
    ({"slo_availability": 100}, ["slo_availability 100", "90"]),
    ({"slo_availability": 50}, ["slo_availability 50", "99.999"]),
    ({"slo_latency_ms": 0}, ["slo_latency_ms 0", "from 1 to 60000"]),
    ({"ci": "jenkins"}, ["ci", "jenkins"]),
    ({"messaging": "zeromq"}, ["messaging", "zeromq"]),
    (
        {"messaging": "kafka", "deploy_targets": ["kubernetes"]},
        ["messaging kafka publishes to a broker", "broker_address is empty", "kafka:9092"],
    ),
    (
        {"messaging": "rabbitmq", "deploy_targets": ["kubernetes"]},
        ["messaging rabbitmq publishes to a broker", "broker_address is empty", "add compose"],
    ),
    (
        {"messaging": "rabbitmq", "deploy_targets": []},
        ["messaging rabbitmq publishes to a broker", "host:port"],
    ),
    (
        {"messaging": "rabbitmq", "broker_address": "amqp://app:s3cret@mq:5672"},
        ["must be a plain host:port", "MESSAGING_URL"],
    ),
    ({"messaging": "rabbitmq", "broker_address": "mq"}, ["broker_address 'mq' is not host:port"]),
    ({"messaging": "rabbitmq", "broker_address": "mq:99999"}, ["from 1 to 65535"]),
    ({"collector_topology": "sidecar"}, ["collector_topology", "sidecar"]),
    ({"project_kind": "library"}, ["project_kind", "library"]),
    (
        {"platform_otlp_endpoint": "otel-agent.observability:4318"},
        ["platform_otlp_endpoint 'otel-agent.observability:4318'", "scheme://host:port"],
    ),
    (
        {"platform_otlp_endpoint": "http://otel-agent.observability:4318/v1/traces"},
        ["platform_otlp_endpoint", "nothing after it"],
    ),
    ({"platform_otlp_endpoint": "http://Agent:4318"}, ["lowercase host name or $(HOST_IP)"]),
    ({"platform_otlp_endpoint": "http://otel-agent:70000"}, ["a port from 1 to 65535"]),
    ({"platform_otlp_endpoint": "http://otel-agent"}, ["scheme://host:port"]),
    (
        {"project_kind": "platform_collector", "collector_namespace": "Observability"},
        ["collector_namespace 'Observability'", "e.g. observability"],
    ),
]


@pytest.mark.parametrize(("answers", "expected"), REFUSALS, ids=[repr(a)[:60] for a, _ in REFUSALS])
def test_invalid_answer_is_refused_before_anything_is_written(
    tmp_path: Path, answers: dict[str, Any], expected: list[str]
) -> None:
    destination = tmp_path / "out"
    with pytest.raises(ValueError) as refusal:
        render_service(destination, {"service_name": "svc", **answers}, lock=False)

    message = str(refusal.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in refusal: {message}"
    assert not destination.exists() or not any(destination.iterdir())


@pytest.mark.parametrize(
    "answers",
    [
        {"service_name": "a"},
        {"service_name": "a" * 63},
        {"service_name": "order-api-2"},
        {"sampler": "parentbased_traceidratio", "sampling_ratio": 1},
        {"sampler": "parentbased_traceidratio", "sampling_ratio": 0.001},
        {"tail_sampling": True, "slow_trace_threshold_ms": 1, "tail_sampling_ratio": 0},
        {"slo_availability": 90, "slo_latency_ms": 60000},
        {"slo_availability": 99.999, "slo_latency_ms": 1},
        {"deploy_targets": ["kubernetes"], "instrumentation": "operator"},
        {"messaging": "rabbitmq", "deploy_targets": [], "broker_address": "mq.internal:5671"},
        {"messaging": "rabbitmq", "deploy_targets": ["kubernetes"], "broker_address": "mq:1"},
        {"platform_otlp_endpoint": "http://$(HOST_IP):4318"},
        {"platform_otlp_endpoint": "https://collector.example.com:443"},
        {"collector_topology": "bundled"},
    ],
)
def test_boundary_answers_are_accepted(tmp_path: Path, answers: dict[str, Any]) -> None:
    project = render_service(tmp_path / "out", {"service_name": "svc", **answers}, lock=False)
    assert (project / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    "answers",
    [{}, {"tail_sampling": False, "collector_namespace": "o"}, {"collector_namespace": "a" * 63}],
)
def test_the_platform_collector_kit_renders_only_the_kit(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    project = render_service(tmp_path / "out", {"project_kind": "platform_collector", **answers})
    assert (project / "deploy/k8s/base/otel-agent-daemonset.yaml").is_file()
    assert (project / "collector/otelcol-gateway.yaml").is_file()
    assert not (project / "pyproject.toml").exists() and not (project / "src").exists()
    assert not list(project.rglob("*.jinja")) and not (project / "collector/macros").exists()
