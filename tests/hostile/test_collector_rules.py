"""The collector's redaction, alone: every carrier a sender can write text into, through the
real collector with the rendered config; then each rule removed in turn, to show the
values it covers leak without it (so no rule is dead weight, and the test can fail)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.e2e.stack import collector
from tests.hostile.payloads import (
    ALL_PLANTED,
    LOOK_ALIKES,
    PLANTED,
    leaked,
    otlp_log_payload,
    otlp_metric_payload,
    otlp_span_payload,
    post_otlp,
    redaction_rules,
)
from tests.hostile.strategies import look_alikes, secrets_in_text
from tests.support import otlp_json
from tests.support.processes import wait_until

CONFIG = Path("collector") / "otelcol-config.yaml"
SERVICE = "hostile-probe"


def send_everything(endpoint: str, texts: list[str]) -> None:
    post_otlp(endpoint, "traces", otlp_span_payload(SERVICE, texts))
    post_otlp(endpoint, "logs", otlp_log_payload(SERVICE, texts))
    post_otlp(endpoint, "metrics", otlp_metric_payload(SERVICE, texts))


def arrived(col) -> bool:
    records = col.records()
    return bool(
        otlp_json.spans(records)
        and otlp_json.logs(records)
        and otlp_json.metric_points(records, "hostile.probe")
    )


def exposition(col) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{col.prometheus_port}/metrics") as response:
        return response.read().decode()


def run_collector(otelcol: Path, config: Path, workdir: Path, texts: list[str]) -> str:
    """Everything the collector let out (file exporter output and the :8889 exposition)."""
    with collector(otelcol, config, workdir) as col:
        send_everything(col.otlp_endpoint, texts)
        wait_until(lambda: arrived(col), 30, "the probe's spans, logs and metrics")
        wait_until(lambda: "hostile_probe" in exposition(col), 30, "the probe metric on :8889")
        return col.output.read_text() + exposition(col)


@pytest.fixture(scope="module")
def rendered_config(render) -> Path:
    return render({"framework": "flask"}, service_name="hostile-config") / CONFIG


def test_rules_fit_ottl_yaml_and_python_verbatim() -> None:
    for rule in redaction_rules():
        assert not set(rule["regex"]) & set("\\\"'"), rule["name"]
        # The collector would expand ${...} and $$; a lone $ (end of text) stays as it is.
        assert "${" not in rule["regex"] and "$$" not in rule["regex"], rule["name"]
        assert not rule["regex"].startswith("(?i)"), "use a scoped (?i:...) flag"


def test_nothing_planted_leaves_the_collector(
    otelcol: Path, rendered_config: Path, tmp_path: Path
) -> None:
    out = run_collector(otelcol, rendered_config, tmp_path, [v.text for v in ALL_PLANTED])

    assert leaked(out) == []
    records = [line for line in out.splitlines() if line.startswith("{")]
    spans = otlp_json.spans([json.loads(line) for line in records])
    (span,) = [s for s in spans if s["service"] == SERVICE]
    # Masked, not dropped: the span and its attributes are still there.
    assert "****" in span["name"] and "****" in span["status"]["message"]
    assert span.get("traceState", "") == ""
    for look_alike in LOOK_ALIKES:
        assert look_alike in out, f"{look_alike!r} was changed"


def test_server_spans_without_a_route_are_named_by_method(
    otelcol: Path, rendered_config: Path, tmp_path: Path
) -> None:
    """Whatever a sender named them: a client's URL must never become a span name."""
    payload = otlp_span_payload(SERVICE, ["harmless"])
    span = payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["name"] = "GET /random/x7k2p9"
    span["attributes"] = [a for a in span["attributes"] if a["key"] != "http.route"]
    odd = {**span, "spanId": "eee19b7ec3c1b175", "name": "PURGE /random/q8w3e1"}
    odd["attributes"] = [
        {"key": "http.request.method", "value": {"stringValue": "_OTHER"}},
    ]
    payload["resourceSpans"][0]["scopeSpans"][0]["spans"].append(odd)
    with collector(otelcol, rendered_config, tmp_path) as col:
        post_otlp(col.otlp_endpoint, "traces", payload)
        wait_until(lambda: len(otlp_json.spans(col.records())) == 2, 30, "both spans")
        names = sorted(s["name"] for s in otlp_json.spans(col.records()))
    assert names == ["GET", "HTTP"]


def without_rule(config: dict[str, Any], regex: str) -> dict[str, Any]:
    """The rendered config with one rule taken out of both processors."""
    processors = config["processors"]
    blocked = processors["redaction"]["blocked_values"]
    processors["redaction"]["blocked_values"] = [v for v in blocked if v != regex]
    for signal in ("trace_statements", "log_statements", "metric_statements"):
        for group in processors["transform/redact"][signal]:
            group["statements"] = [
                s.replace(f"|{regex}", "").replace(f"{regex}|", "") for s in group["statements"]
            ]
    return config


@pytest.mark.parametrize("rule", sorted(PLANTED))
def test_each_rule_is_needed(
    rule: str, otelcol: Path, rendered_config: Path, tmp_path: Path
) -> None:
    (regex,) = [r["regex"] for r in redaction_rules() if r["name"] == rule]
    config = without_rule(yaml.safe_load(rendered_config.read_text()), regex)
    assert regex not in yaml.safe_dump(config, width=10**6)
    mutated = tmp_path / "without-rule.yaml"
    mutated.write_text(yaml.safe_dump(config, width=10**6))

    out = run_collector(otelcol, mutated, tmp_path, [v.text for v in PLANTED[rule]])

    assert leaked(out), f"without the {rule} rule nothing leaked: the test cannot see it"


@pytest.fixture(scope="module")
def live_collector(otelcol: Path, rendered_config: Path, tmp_path_factory):
    with collector(otelcol, rendered_config, tmp_path_factory.mktemp("hypothesis")) as col:
        yield col


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    # Each example is a round trip through the collector: report the first failure as
    # found rather than spend minutes shrinking it.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    secrets=st.lists(secrets_in_text(), min_size=5, max_size=15),
    harmless=st.lists(look_alikes(), min_size=5, max_size=15),
)
def test_generated_secrets_and_look_alikes(live_collector, secrets, harmless) -> None:
    """Generated values, one log record each: every secret masked, every look-alike intact."""
    marker = f"batch-{uuid.uuid4().hex}"
    values = [(text, secret) for text, secret in secrets] + [(t, None) for t in harmless]
    payload = otlp_log_payload(SERVICE, [marker])
    record = payload["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["attributes"] = [
        {"key": f"v{i}", "value": {"stringValue": text}} for i, (text, _) in enumerate(values)
    ]
    post_otlp(live_collector.otlp_endpoint, "logs", payload)

    def mine() -> list[dict[str, Any]]:
        return [
            log
            for log in otlp_json.logs(live_collector.records())
            if marker in log["body"].get("stringValue", "")
        ]

    wait_until(lambda: bool(mine()), 20, "the generated log record")
    attributes = otlp_json.attributes(mine()[0]["attributes"])
    for i, (text, secret) in enumerate(values):
        out = attributes[f"v{i}"]
        if secret is None:
            assert out == text, f"look-alike {text!r} became {out!r}"
        else:
            assert secret not in out, f"{secret!r} survived in {out!r}"
