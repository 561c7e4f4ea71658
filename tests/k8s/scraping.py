"""What a Prometheus in the monitoring namespace would scrape from a built overlay, read the
way the Prometheus Operator and the cluster read the objects: PodMonitors select pod
templates and name container ports, NetworkPolicies admit (or not) the scraper, and the
collector configs in the ConfigMaps say which port serves which metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from tests.collector.configs import ENV_REFERENCE
from tests.k8s.conftest import Build
from tests.k8s.workloads import WORKLOAD_KINDS, mounted_config, pod_spec, selects

# Where the scraping Prometheus runs, as a namespaceSelector sees it: the default that
# the metrics-scrape NetworkPolicy names (docs/deploy.md says how to change it).
SCRAPER_NAMESPACE_LABELS = {"kubernetes.io/metadata.name": "monitoring"}
COLLECTOR_IMAGE = "opentelemetry-collector"


@dataclass(frozen=True)
class Target:
    """One port of one workload's pods that a PodMonitor endpoint scrapes."""

    workload: str  # Kind/name
    port_name: str
    port: int
    monitor: str
    honor_labels: bool


def workloads(built: Build) -> list[dict[str, Any]]:
    return [o for o in built.objects if o["kind"] in WORKLOAD_KINDS]


def workload_id(workload: dict[str, Any]) -> str:
    return f"{workload['kind']}/{workload['metadata']['name']}"


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def named_ports(workload: dict[str, Any]) -> dict[str, int]:
    return {
        port["name"]: port["containerPort"]
        for container in pod_spec(workload)["containers"]
        for port in container.get("ports", [])
        if "name" in port
    }


def scrape_targets(built: Build) -> list[Target]:
    """Every (workload, port) a PodMonitor of the build scrapes. An endpoint whose port
    name a selected pod does not have yields no target, as with the Operator."""
    targets = []
    for monitor in built.of_kind("PodMonitor"):
        spec = monitor["spec"]
        # Without a namespaceSelector a PodMonitor looks in its own namespace only.
        assert spec.get("namespaceSelector", {}) in ({}, {"any": False}), monitor["metadata"]
        for workload in workloads(built):
            if not selects(spec["selector"], pod_labels(workload)):
                continue
            ports = named_ports(workload)
            for endpoint in spec["podMetricsEndpoints"]:
                if endpoint.get("port") in ports:
                    targets.append(
                        Target(
                            workload_id(workload),
                            endpoint["port"],
                            ports[endpoint["port"]],
                            f"PodMonitor/{monitor['metadata']['name']}",
                            endpoint.get("honorLabels", False),
                        )
                    )
    return targets


def _peer_is_scraper(peer: dict[str, Any], scraper: dict[str, str]) -> bool:
    # A peer with a podSelector needs pod labels this check does not assume; a bare
    # podSelector or ipBlock means this namespace or addresses, not the scraper's pods.
    if "namespaceSelector" not in peer or peer.get("podSelector"):
        return False
    return selects(peer["namespaceSelector"], scraper)


def _rule_admits(rule: dict[str, Any], port_name: str, port: int, scraper: dict[str, str]) -> bool:
    peers = rule.get("from")
    if peers and not any(_peer_is_scraper(peer, scraper) for peer in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (port_name, port) for p in ports)


def admits_scraper(
    built: Build,
    workload: dict[str, Any],
    port_name: str,
    port: int,
    scraper: dict[str, str] = SCRAPER_NAMESPACE_LABELS,
) -> bool:
    """Whether the NetworkPolicies let pods of a namespace labelled ``scraper`` reach this
    port: a pod no Ingress policy selects accepts everything; otherwise one rule of one
    policy must."""
    policies = [
        policy["spec"]
        for policy in built.of_kind("NetworkPolicy")
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], pod_labels(workload))
    ]
    if not policies:
        return True
    return any(
        _rule_admits(rule, port_name, port, scraper)
        for policy in policies
        for rule in policy.get("ingress", [])
    )


def container_env(built: Build, workload: dict[str, Any]) -> dict[str, str]:
    """The literal variables of the workload's container, ConfigMap envFrom included."""
    (container,) = pod_spec(workload)["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        config_map = next(c for c in built.of_kind("ConfigMap") if c["metadata"]["name"] == name)
        env.update(config_map["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def expand(value: str, env: dict[str, str]) -> str:
    """``${env:NAME:-default}`` as the collector expands it with ``env``."""
    return ENV_REFERENCE.sub(lambda m: env.get(m[1], m[2] if m[2] is not None else ""), value)


@dataclass(frozen=True)
class CollectorListeners:
    """What a collector workload serves, from the config in its ConfigMap."""

    workload: dict[str, Any]
    config: dict[str, Any]
    telemetry: list[tuple[str, int]]  # (host, port) of the own-metrics readers
    exporter: tuple[str, int] | None  # the prometheus exporter's (host, port)


def collectors(built: Build) -> list[CollectorListeners]:
    found = []
    for workload in workloads(built):
        (container,) = pod_spec(workload)["containers"]
        if COLLECTOR_IMAGE not in container["image"]:
            continue
        _, text = mounted_config(built, workload["kind"], workload["metadata"]["name"])
        config = yaml.safe_load(text)
        env = container_env(built, workload)
        readers = config["service"].get("telemetry", {}).get("metrics", {}).get("readers", [])
        telemetry = [
            (
                expand(str(reader["pull"]["exporter"]["prometheus"]["host"]), env),
                int(expand(str(reader["pull"]["exporter"]["prometheus"]["port"]), env)),
            )
            for reader in readers
            if "prometheus" in reader.get("pull", {}).get("exporter", {})
        ]
        exporter = None
        if "prometheus" in config.get("exporters", {}):
            host, _, port = expand(config["exporters"]["prometheus"]["endpoint"], env).rpartition(
                ":"
            )
            exporter = (host, int(port))
        found.append(CollectorListeners(workload, config, telemetry, exporter))
    return found
