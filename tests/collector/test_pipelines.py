"""The shape of the rendered collector config: processor order, connectors before any
sampling, PII handling, backends, listeners, and no debug output by default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.configs import (
    COLLECTOR_ANSWERS,
    CONFIG,
    answers_id,
    backends,
    component_type,
    env_references,
    load_config,
)

SAMPLERS = {"tail_sampling", "probabilistic_sampler"}
CONNECTORS = ("span_metrics", "service_graph")


@pytest.fixture(params=COLLECTOR_ANSWERS, ids=answers_id)
def case(request: pytest.FixtureRequest, render) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    project = render(request.param)
    return request.param, project, load_config(project)


def pipelines(config: dict[str, Any], signal: str | None = None) -> dict[str, dict[str, Any]]:
    every = config["service"]["pipelines"]
    return {pid: p for pid, p in every.items() if signal in (None, component_type(pid))}


def processors_of(config: dict[str, Any], pipeline: dict[str, Any], kind: str) -> list[dict]:
    """The settings of the pipeline's processors of one type, in pipeline order."""
    ids = [pid for pid in pipeline.get("processors", []) if component_type(pid) == kind]
    return [config["processors"][pid] or {} for pid in ids]


def test_rendered_file_is_clean(case) -> None:
    _, project, _ = case
    text = (project / CONFIG).read_text()
    assert "\n\n\n" not in text, "two blank lines in a row"
    assert not re.search(r"[ \t]+$", text, re.MULTILINE), "trailing whitespace"
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert not text.startswith("\n")


def test_memory_limiter_first_and_batch_last_in_every_pipeline(case) -> None:
    _, _, config = case
    assert set(pipelines(config)) >= {"traces", "metrics"}
    for pid, pipeline in pipelines(config).items():
        kinds = [component_type(p) for p in pipeline.get("processors", [])]
        assert kinds, f"pipeline {pid} has no processors"
        assert kinds[0] == "memory_limiter", f"{pid}: {kinds}"
        assert kinds[-1] == "batch", f"{pid}: {kinds}"
        assert kinds.count("memory_limiter") == kinds.count("batch") == 1, f"{pid}: {kinds}"


def test_debug_exporter_is_defined_but_in_no_pipeline(case) -> None:
    _, _, config = case
    assert "debug" in config["exporters"]
    for pid, pipeline in pipelines(config).items():
        used = [component_type(e) for e in pipeline.get("exporters", [])]
        assert "debug" not in used, f"debug exporter in pipeline {pid}"


def test_connectors_take_every_span_from_the_traces_pipeline(case) -> None:
    _, _, config = case
    for connector in CONNECTORS:
        assert connector in config["connectors"]
        feeding = {pid: p for pid, p in pipelines(config).items() if connector in p["exporters"]}
        assert set(feeding) == {"traces"}, f"{connector} is fed by {sorted(feeding)}"
        for pid, pipeline in feeding.items():
            assert pipeline["receivers"] == ["otlp"], f"{pid} must take spans as received"
            kinds = {component_type(p) for p in pipeline["processors"]}
            assert not kinds & SAMPLERS, f"{pid} samples before {connector}: {sorted(kinds)}"
        reading = {pid for pid, p in pipelines(config).items() if connector in p["receivers"]}
        assert reading == {"metrics"}, f"{connector} output goes to {sorted(reading)}"


def test_metrics_reach_prometheus_with_service_labels(case) -> None:
    _, _, config = case
    metrics = config["service"]["pipelines"]["metrics"]
    assert metrics["exporters"] == ["prometheus"]
    assert set(metrics["receivers"]) == {"otlp", *CONNECTORS}
    prometheus = config["exporters"]["prometheus"]
    assert prometheus["endpoint"] == "0.0.0.0:8889"
    # service.name -> service_name (and deployment.environment.name, ...) on every series.
    assert prometheus["resource_to_telemetry_conversion"]["enabled"] is True
    # Collector-side default for deployment.environment.name; `insert` keeps the sender's.
    resource_actions = config["processors"]["resource"]["attributes"]
    assert {"key": "deployment.environment.name", "value": "local", "action": "insert"} in (
        resource_actions
    )


def test_listeners_bind_all_interfaces_by_default_and_read_the_host_variable(case) -> None:
    _, project, config = case
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"
    assert config["service"]["extensions"] == ["health_check"]
    raw = yaml.safe_load((project / CONFIG).read_text())
    for endpoint in (
        raw["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        raw["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
        raw["extensions"]["health_check"]["endpoint"],
        raw["exporters"]["prometheus"]["endpoint"],
    ):
        assert endpoint.startswith("${env:OTEL_COLLECTOR_HOST:-0.0.0.0}:"), endpoint


def test_traces_and_logs_go_to_the_chosen_backends(case) -> None:
    answers, project, config = case
    traces_backend, logs_backend = backends(answers)
    traces_exporter = f"otlp_grpc/{traces_backend}"
    # With tail sampling the backend gets only the kept traces, from traces/sampled.
    exporting = {
        pid for pid, p in pipelines(config, "traces").items() if traces_exporter in p["exporters"]
    }
    assert exporting == {"traces/sampled" if answers.get("tail_sampling") else "traces"}
    assert config["exporters"][traces_exporter]["endpoint"] == f"{traces_backend}:4317"
    assert config["exporters"][traces_exporter]["tls"] == {"insecure": True}
    other = {"jaeger": "tempo", "tempo": "jaeger"}[traces_backend]
    assert f"otlp_grpc/{other}" not in config["exporters"]

    references = env_references((project / CONFIG).read_text())
    assert references["TRACES_BACKEND_ENDPOINT"] == f"{traces_backend}:4317"
    logs = pipelines(config, "logs")
    if logs_backend == "loki":
        assert list(logs) == ["logs"]
        assert logs["logs"]["exporters"] == ["otlp_http/loki"]
        assert config["exporters"]["otlp_http/loki"]["endpoint"] == "http://loki:3100/otlp"
        assert references["LOGS_BACKEND_ENDPOINT"] == "http://loki:3100/otlp"
    else:
        assert logs == {}
        assert not any(component_type(e) == "otlp_http" for e in config["exporters"])
        assert "LOGS_BACKEND_ENDPOINT" not in references


def test_service_sends_otlp_logs_only_where_the_collector_takes_them(case) -> None:
    # Without a logs pipeline the collector answers OTLP log exports with errors.
    answers, project, config = case
    telemetry = project / "src" / answers["service_name"].replace("-", "_") / "telemetry"
    if answers.get("telemetry_config") == "file":
        sdk_config = yaml.safe_load((telemetry / "otel-config.yaml").read_text())
        exporters = [p["batch"]["exporter"] for p in sdk_config["logger_provider"]["processors"]]
        sends_otlp_logs = any(("otlp_http" in e or "otlp_grpc" in e) for e in exporters)
    else:
        bootstrap = (telemetry / "__init__.py").read_text()
        match = re.search(r'"OTEL_LOGS_EXPORTER": "([^"]*)"', bootstrap)
        assert match, f"no OTEL_LOGS_EXPORTER default in {telemetry}"
        sends_otlp_logs = "otlp" in match[1].split(",")
    uses_otlp = any(e in answers["exporters"] for e in ("otlp_http", "otlp_grpc"))
    assert sends_otlp_logs == (uses_otlp and bool(pipelines(config, "logs")))


# --- PII -----------------------------------------------------------------------------------

CARD_NUMBERS = [
    "4111 1111 1111 1111",  # Visa, grouped
    "4111-1111-1111-1111",
    "4012888888881881",
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "3714 496353 98431",
    "6011111111111117",  # Discover
]
NOT_CARD_NUMBERS = [
    "1732190000000",  # a timestamp in milliseconds
    "4bf92f3577b34da6a3ce929d0e0e4736",  # a trace id
    "/items/42",
    "200",
]


def attribute_fate(config: dict[str, Any], pipeline: dict[str, Any], key: str) -> set[str]:
    """What the pipeline's attributes processors do to ``key`` (Go regexps search, unanchored)."""
    fate = set()
    for settings in processors_of(config, pipeline, "attributes"):
        for action in settings.get("actions", []):
            named = action.get("key") == key
            if named or ("pattern" in action and re.search(action["pattern"], key)):
                fate.add(action["action"])
    return fate


def redaction_settings(config: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    found = processors_of(config, pipeline, "redaction")
    assert len(found) == 1, "expected one redaction processor"
    return found[0]


def masked(settings: dict[str, Any], value: str) -> bool:
    return any(re.search(pattern, value) for pattern in settings.get("blocked_values", []))


def pii_pipelines(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The traces and logs pipelines that take data from outside (the otlp receiver); a
    pipeline fed by a connector (traces/sampled) gets spans those have already cleaned."""
    chosen = {
        pid: pipeline
        for pid, pipeline in {**pipelines(config, "traces"), **pipelines(config, "logs")}.items()
        if "otlp" in pipeline["receivers"]
    }
    assert "traces" in chosen
    return chosen


def test_pipelines_fed_by_connectors_only_take_cleaned_data(case) -> None:
    _, _, config = case
    for pid, pipeline in pipelines(config).items():
        for receiver in pipeline["receivers"]:
            if component_type(receiver) == "forward":
                feeding = [q for q, p in pipelines(config).items() if receiver in p["exporters"]]
                assert feeding and all(q in pii_pipelines(config) for q in feeding), (
                    f"{pid} takes {receiver} from {feeding}, which are not cleaned"
                )


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("user.email", {"hash", "delete"}),
        ("http.request.header.authorization", {"delete"}),
        ("http.request.header.cookie", {"delete"}),
        ("http.route", set()),
        ("http.request.method", set()),
    ],
)
def test_personal_attributes_are_hashed_or_deleted(case, key: str, allowed: set[str]) -> None:
    _, _, config = case
    for pid, pipeline in pii_pipelines(config).items():
        fate = attribute_fate(config, pipeline, key)
        if allowed:
            assert fate and fate <= allowed, f"{pid}: {key} gets {fate or 'kept as is'}"
        else:
            assert not fate, f"{pid}: {key} must be kept, gets {fate}"


def test_card_numbers_and_addresses_are_masked_and_other_values_kept(case) -> None:
    _, _, config = case
    for pid, pipeline in pii_pipelines(config).items():
        settings = redaction_settings(config, pipeline)
        # Without it, the redaction processor drops every attribute not in allowed_keys.
        assert settings.get("allow_all_keys") is True, pid
        for value in [*CARD_NUMBERS, "paid by alice@example.com"]:
            assert masked(settings, f"note: {value}."), f"{pid}: {value!r} is not masked"
        for value in NOT_CARD_NUMBERS:
            assert not masked(settings, value), f"{pid}: {value!r} would be masked"
        kinds = [component_type(p) for p in pipeline["processors"]]
        # Hash the e-mail attribute first; masking it afterwards would lose the grouping.
        assert kinds.index("attributes") < kinds.index("redaction"), f"{pid}: {kinds}"
