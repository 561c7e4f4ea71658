"""Every series the shipped alerts, recording rules and dashboard read has a scrape target
in the Kubernetes render: the collectors' own metrics (otelcol_*) on the telemetry port of
every collector pod, the service's metrics on the gateway's Prometheus exporter, each a
named container port that a PodMonitor scrapes and the NetworkPolicies open to the
monitoring namespace, at the port the collector config really listens on."""

from __future__ import annotations

import copy
import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.cases import K8S_CASES, OVERLAYS, case_id
from tests.k8s.conftest import Build, BuildOverlay
from tests.k8s.scraping import (
    CollectorListeners,
    Target,
    admits_scraper,
    collectors,
    scrape_targets,
    workload_id,
)
from tests.k8s.workloads import pod_spec
from tests.observability.queries import (
    Query,
    dashboard_queries,
    series_names,
    variable_queries,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Labels the queries filter or group service metrics by that only exist when the
# exporter turns resource attributes into labels.
RESOURCE_LABELS = re.compile(r"\b(service_name|deployment_environment_name)\b")
# Which receiver of the exporting metrics pipeline produces a series, by name prefix;
# anything else arrives from the services over OTLP.
PRODUCERS = {"traces_span_metrics_": "span_metrics", "traces_service_graph_": "service_graph"}


def rule_queries(built: Build) -> tuple[list[Query], set[str]]:
    """The PrometheusRule's expressions and the names of its recording rules."""
    (rule,) = built.of_kind("PrometheusRule")
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    queries = [Query(r.get("record") or r["alert"], r["expr"], "prometheus") for r in rules]
    return queries, {r["record"] for r in rules if "record" in r}


def dashboard_prometheus_queries(built: Build) -> list[Query]:
    found = []
    for config_map in built.of_kind("ConfigMap"):
        if config_map["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
            continue
        for text in config_map["data"].values():
            dashboard = json.loads(text)
            found += [q for q in dashboard_queries(dashboard) if q.datasource == "prometheus"]
            found += variable_queries(dashboard)
    return found


def _served(
    built: Build, targets: list[Target], collector: CollectorListeners, host: str, port: int
) -> list[str]:
    where = workload_id(collector.workload)
    if host in LOOPBACK:
        return [f"{where}: listens on {host}:{port}, unreachable from Prometheus"]
    scraped = [t for t in targets if t.workload == where and t.port == port]
    if not scraped:
        return [f"{where}: port {port} is not a named container port any PodMonitor scrapes"]
    if not any(admits_scraper(built, collector.workload, t.port_name, port) for t in scraped):
        return [f"{where}: the NetworkPolicies keep the monitoring namespace from port {port}"]
    return []


def missing_targets(built: Build) -> list[str]:
    """Why some series a query reads would have no scrape target (empty: none)."""
    rules, recorded = rule_queries(built)
    queries = rules + dashboard_prometheus_queries(built)
    names = {name for q in queries for name in series_names(q.expr)} - recorded
    own_metrics = {n for n in names if n.startswith("otelcol_")}
    service_metrics = names - own_metrics
    targets = scrape_targets(built)
    listeners = collectors(built)
    assert listeners, "no collector workload in the build"
    problems = []
    if own_metrics:
        for collector in listeners:
            if not collector.telemetry:
                problems.append(f"{workload_id(collector.workload)}: no own-metrics reader")
            for host, port in collector.telemetry:
                problems += _served(built, targets, collector, host, port)
    if service_metrics:
        exporting = [
            c
            for c in listeners
            if c.exporter and any("prometheus" in p["exporters"] for p in _metrics_pipelines(c))
        ]
        if not exporting:
            problems.append(f"no collector exports {sorted(service_metrics)} to Prometheus")
        for collector in exporting:
            host, port = collector.exporter
            problems += _served(built, targets, collector, host, port)
            problems += _produced(collector, service_metrics, queries)
    return problems


def _metrics_pipelines(collector: CollectorListeners) -> list[dict[str, Any]]:
    pipelines = collector.config["service"]["pipelines"]
    return [p for pid, p in pipelines.items() if pid.split("/")[0] == "metrics"]


def _produced(collector: CollectorListeners, names: set[str], queries: list[Query]) -> list[str]:
    where = workload_id(collector.workload)
    receivers = {
        r
        for p in _metrics_pipelines(collector)
        if "prometheus" in p["exporters"]
        for r in p["receivers"]
    }
    problems = []
    for name in sorted(names):
        producer = next((c for prefix, c in PRODUCERS.items() if name.startswith(prefix)), "otlp")
        if producer not in receivers:
            problems.append(f"{where}: {name} needs {producer} in the exported metrics pipeline")
    exporter = collector.config["exporters"]["prometheus"]
    if any(RESOURCE_LABELS.search(q.expr) for q in queries) and not exporter.get(
        "resource_to_telemetry_conversion", {}
    ).get("enabled"):
        problems.append(f"{where}: queries filter on service_name, a resource attribute label")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("answers", K8S_CASES, ids=case_id)
def test_every_queried_series_has_a_scrape_target(
    answers: dict[str, Any], overlay: str, render, build_overlay: BuildOverlay
) -> None:
    built = build_overlay(render(answers), overlay)
    # The check below has something to check: collector alerts and service SLO rules.
    names = {n for q in rule_queries(built)[0] for n in series_names(q.expr)}
    assert any(n.startswith("otelcol_") for n in names)
    assert any(not n.startswith(("otelcol_", "service:")) for n in names)
    assert missing_targets(built) == []


def _without(kind: str, name: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        objects[:] = [o for o in objects if (o["kind"], o["metadata"]["name"]) != (kind, name)]

    return mutate


def _workload(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if (o["kind"], o["metadata"]["name"]) == (kind, name))


def _drop_agent_telemetry_port(objects: list[dict[str, Any]]) -> None:
    (container,) = pod_spec(_workload(objects, "DaemonSet", "otel-agent"))["containers"]
    container["ports"] = [p for p in container["ports"] if p["name"] != "telemetry"]


def _move_gateway_telemetry_port(objects: list[dict[str, Any]]) -> None:
    (container,) = pod_spec(_workload(objects, "Deployment", "otel-gateway"))["containers"]
    container.setdefault("env", []).append(
        {"name": "OTEL_COLLECTOR_TELEMETRY_PORT", "value": "9999"}
    )


def _scraper_elsewhere(objects: list[dict[str, Any]]) -> None:
    policy = _workload(objects, "NetworkPolicy", "metrics-scrape")
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            peer["namespaceSelector"]["matchLabels"] = {"kubernetes.io/metadata.name": "other"}


def _gateway_config(
    objects: list[dict[str, Any]], change: Callable[[dict[str, Any]], None]
) -> None:
    for config_map in objects:
        if config_map["kind"] == "ConfigMap" and "otelcol-config.yaml" in config_map["data"]:
            config = yaml.safe_load(config_map["data"]["otelcol-config.yaml"])
            change(config)
            config_map["data"]["otelcol-config.yaml"] = yaml.safe_dump(config)


def _no_resource_labels(objects: list[dict[str, Any]]) -> None:
    def change(config: dict[str, Any]) -> None:
        config["exporters"]["prometheus"].pop("resource_to_telemetry_conversion")

    _gateway_config(objects, change)


def _no_span_metrics_into_prometheus(objects: list[dict[str, Any]]) -> None:
    def change(config: dict[str, Any]) -> None:
        for pid, pipeline in config["service"]["pipelines"].items():
            if pid.startswith("metrics"):
                pipeline["receivers"].remove("span_metrics")

    _gateway_config(objects, change)


def _telemetry_on_loopback(objects: list[dict[str, Any]]) -> None:
    (container,) = pod_spec(_workload(objects, "DaemonSet", "otel-agent"))["containers"]
    container.setdefault("env", []).append({"name": "OTEL_COLLECTOR_HOST", "value": "127.0.0.1"})


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (_without("PodMonitor", "otel-collector"), "DaemonSet/otel-agent: port 8888"),
        (_without("PodMonitor", "otel-gateway"), "Deployment/otel-gateway: port 8889"),
        (_drop_agent_telemetry_port, "DaemonSet/otel-agent: port 8888"),
        (_move_gateway_telemetry_port, "Deployment/otel-gateway: port 9999"),
        (_scraper_elsewhere, "keep the monitoring namespace from port"),
        (_telemetry_on_loopback, "listens on 127.0.0.1"),
        (_no_resource_labels, "queries filter on service_name"),
        (_no_span_metrics_into_prometheus, "needs span_metrics in the exported metrics pipeline"),
    ],
    ids=[
        "no-collector-monitor",
        "no-exporter-monitor",
        "no-agent-port",
        "telemetry-port-moved",
        "scraper-blocked",
        "loopback",
        "no-resource-labels",
        "no-span-metrics",
    ],
)
def test_a_missing_target_is_reported(
    render, build_overlay: BuildOverlay, mutation: Callable[[list[Any]], None], expected: str
) -> None:
    # Proves the check above can fail: each way of losing a target is named.
    built = build_overlay(render(K8S_CASES[0]), "prod")
    objects = copy.deepcopy(built.objects)
    mutation(objects)
    problems = missing_targets(Build(built.text, objects))
    assert any(expected in problem for problem in problems), problems


DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def documented_overlay_patches() -> list[dict[str, Any]]:
    """The ``patches:`` blocks of the docs' scraping section, as one list."""
    section = DOCS.read_text().split("## Scraping the collectors on Kubernetes", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    patches = [yaml.safe_load(textwrap.dedent(b)) for b in blocks]
    found = [p for block in patches if "patches" in block for p in block["patches"]]
    assert len(found) == 2, found
    return found


def test_documented_overlay_patches_do_what_the_docs_say(
    render, build_overlay: BuildOverlay
) -> None:
    project = render(K8S_CASES[0])
    overlay = project / "deploy/k8s/overlays/docs-scraping"
    overlay.mkdir(exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../prod"],
        "patches": documented_overlay_patches(),
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    built = build_overlay(project, "docs-scraping")
    # The Operator's objects carry the label kube-prometheus-stack selects by.
    for kind in ("PodMonitor", "PrometheusRule"):
        assert built.of_kind(kind)
        for obj in built.of_kind(kind):
            assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The metrics ports are open to the namespace named in the patch, and only to it.
    observability = {"kubernetes.io/metadata.name": "observability"}
    gateway = built.get("Deployment", "otel-gateway")
    for port_name, port in (("telemetry", 8888), ("prom-exporter", 8889)):
        assert admits_scraper(built, gateway, port_name, port, observability)
        assert not admits_scraper(built, gateway, port_name, port)
