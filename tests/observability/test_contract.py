"""The contract test, per framework: a rendered service on its real server sends telemetry
to the real collector running the rendered config; real Prometheus scrapes the collector
(both its exporter and its own telemetry) and evaluates the rendered rules. After traffic
with 5xx errors and requests slower than the latency objective, every Prometheus query of
the dashboard (template variables substituted), every recording rule and every alert
expression must return data. A query that returns nothing fails with its panel or rule.

Not evaluated live: the Loki logs panel and the traces-backend panel (no Loki, Jaeger or
Tempo binary here); the Grafana models check their shape (test_dashboard.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.stack import services
from tests.observability.live import loopback_server, observed_collector, prometheus_with_rules
from tests.observability.queries import (
    Query,
    dashboard_queries,
    label_value_variables,
    metric_names,
    recording_rules,
    rendered,
    rule_queries,
)
from tests.support.http import http_get, http_ok
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.processes import free_port, wait_until
from tests.support.venvs import find_python, install_project

pytestmark = pytest.mark.slow

# Not a default bucket boundary: data in it proves metric_views.py adds the objective's.
SLO_LATENCY_MS = 200
SLOW_DOWNSTREAM_SECONDS = 0.4
# Grafana's built-in variables, as it would substitute them for a short time range.
BUILTINS = {"$__rate_interval": "1m", "$__range": "5m"}
# A panel's last-resort zero: stripped for the check, so the series themselves must exist.
ZERO_FALLBACK = re.compile(r"\s*or\s+vector\(0\)\s*$")
DURATION = metric_names()["http_server_duration"]
REQUESTS = f"{DURATION}_count"
ALERTS_EXPECTED = ("AvailabilityBudgetBurnFast", "OtelCollectorExportFailing")


@pytest.fixture(scope="module")
def installed(framework: str, telemetry_config: str, render) -> tuple[Path, Path]:
    version = PYTHON_BY_FRAMEWORK[framework]
    python = find_python(version)
    if python is None:
        pytest.fail(f"no Python {version} interpreter for the {framework} contract test")
    answers = {
        "framework": framework,
        "python_version": version,
        "exporters": ["otlp_http"],
        "slo_latency_ms": SLO_LATENCY_MS,
        "logs_backend": "loki",
        "dashboard": True,
        "telemetry_config": telemetry_config,
        # The contract runs the project's own collector, whose alerts it then has
        # (observability/rules/otel-collector.rules.yml).
        "collector_topology": "bundled",
    }
    suffix = "-file" if telemetry_config == "file" else ""
    project = render(answers, service_name=f"{framework}-contract{suffix}")
    return project, install_project(project, python)


def as_condition_value(expr: str) -> str:
    """The alert expression with each threshold comparison as `bool`: it returns the
    series whatever their value, so only the threshold decides whether the alert fires."""
    return re.sub(r"\s(>=|<=|>|<)\s", r" \1 bool ", expr)


def substitute(expr: str, environment: str) -> str:
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    return expr.replace("$environment", re.escape(environment)).replace("$route", ".*")


def test_every_panel_and_rule_returns_live_data(
    framework: str, installed: tuple[Path, Path], otelcol: Path, tmp_path: Path
) -> None:
    project, bin_dir = installed
    rules_files, dashboard_file = rendered(project)
    assert dashboard_file is not None
    dashboard = json.loads(dashboard_file.read_text())
    config = project / "collector" / "otelcol-config.yaml"
    name = project.name  # the service name

    with (
        loopback_server(400) as rejecting_backend,
        loopback_server(200, SLOW_DOWNSTREAM_SECONDS) as slow_downstream,
        observed_collector(otelcol, config, tmp_path, rejecting_backend) as collector,
        prometheus_with_rules(collector, rules_files, tmp_path) as prometheus,
    ):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "DOWNSTREAM_URL": f"{slow_downstream}/slow",
        }
        specs = [("service", project, bin_dir, free_port(), env)]
        with services(specs, tmp_path) as started:
            base = started["service"].base
            # The port opens before a gunicorn worker is ready to answer.
            wait_until(lambda: http_ok(f"{base}/healthz"), 60, f"{framework} to answer")

            def drive_traffic() -> None:
                """One round of requests: rate() needs counters that keep increasing
                while Prometheus scrapes, so every poll below sends another round."""
                assert http_get(f"{base}/hello")[0] == 200
                assert http_get(f"{base}/items/3")[0] == 200
                assert http_get(f"{base}/error")[0] == 500
                assert http_get(f"{base}/downstream")[0] == 200

            # Every variable's label_values() lists something, as Grafana's dropdowns would.
            variables = label_value_variables(dashboard)

            def variable_values() -> dict[str, list[str]]:
                environment = (
                    prometheus.label_values(
                        "deployment_environment_name",
                        f'{{service_name="{name}"}}',
                    )
                    or ["<none>"]
                )[0]
                return {
                    v.variable: prometheus.label_values(
                        v.label, substitute(v.selector, environment)
                    )
                    for v in variables
                }

            def variables_listed() -> bool:
                drive_traffic()
                return all(variable_values().values())

            wait_until(variables_listed, 60, "values of every dashboard variable")
            environment = variable_values()["environment"][0]

            checks: list[Query] = []
            for query in dashboard_queries(dashboard):
                if query.datasource == "prometheus":
                    expr = ZERO_FALLBACK.sub("", substitute(query.expr, environment))
                    checks.append(Query(query.where, expr, "prometheus"))
            for query in rule_queries(rules_files):
                checks.append(Query(query.where, as_condition_value(query.expr), "prometheus"))
            for record in sorted(recording_rules(rules_files)):
                checks.append(Query(f"recorded series '{record}'", record, "prometheus"))
            for alert in ALERTS_EXPECTED:
                checks.append(
                    Query(
                        f"alert '{alert}' pending or firing",
                        f'ALERTS{{alertname="{alert}"}}',
                        "prometheus",
                    )
                )

            def empty() -> list[Query]:
                return [q for q in checks if not prometheus.query(q.expr)]

            def all_answered() -> bool:
                drive_traffic()
                return not empty()

            try:
                wait_until(all_answered, 90, "data for every panel and rule")
            except TimeoutError:
                pass
            missing = empty()
            requests = f'{REQUESTS}{{service_name="{name}"}}'
            context = {
                promql: prometheus.query(promql)
                for promql in (
                    "service:http_request_errors:ratio_rate5m",
                    "service:http_request_slow:ratio_rate5m",
                    f"sum by (http_route, http_response_status_code) (rate({requests}[1m]))",
                )
            }
            assert not missing, (
                f"{framework}: queries without data:\n"
                + "\n".join(f"- {q.where}: {q.expr}" for q in missing)
                + f"\nwith {json.dumps(context, indent=1)}"
            )
            # The latency panels' exemplars: the trace ids Grafana turns into trace links.
            exemplars = prometheus.exemplars(f'{DURATION}_bucket{{service_name="{name}"}}')
            trace_ids = [
                exemplar["labels"].get("trace_id")
                for series in exemplars
                for exemplar in series["exemplars"]
            ]
            assert any(trace_ids), f"{framework}: no exemplar with a trace_id on {DURATION}_bucket"
