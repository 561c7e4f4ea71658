"""The collectors' egress NetworkPolicies let through what their configs send: the agent
reaches DNS, the gateway's pods on the port its exporters name and the Kubernetes API
(k8s_attributes); the gateway reaches DNS and every backend otel-gateway.env names, in
that backend's namespace, on its port. Checked with NetworkPolicy semantics (rules are
OR-ed, a rule without `to` or `ports` allows any), on every overlay of every case."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.k8s.conftest import Build

DNS = ({"k8s-app": "kube-dns"}, "kube-system")
KUBERNETES_API_PORT = 443
# A default in the collector config: ${env:NAME:-host:port} or ${env:NAME:-scheme://host:port/...}
_ENDPOINT_PORT = re.compile(r"^(?:[a-z]+://)?(?P<host>[^:/]+):(?P<port>\d+)")


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector this test cannot read: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def egress_policies(built: Build, workload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p
        for p in built.of_kind("NetworkPolicy")
        if "Egress" in p["spec"].get("policyTypes", [])
        and _selects(p["spec"]["podSelector"], pod_labels(workload))
    ]


def _peer_matches(
    peer: dict[str, Any], labels: dict[str, str] | None, namespace: str | None, own_namespace: str
) -> bool:
    if labels is None:  # an address outside the cluster's pods
        return "ipBlock" in peer
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not _selects(
            peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace or ""}
        ):
            return False
    elif namespace != own_namespace:
        return False
    return _selects(peer.get("podSelector", {}), labels)


def allows(
    policies: list[dict[str, Any]],
    port: int,
    protocol: str,
    labels: dict[str, str] | None,
    namespace: str | None,
) -> bool:
    """Whether any rule lets TCP/UDP ``port`` out to a pod with ``labels`` in ``namespace``
    (``labels`` None: to an address that is no pod, such as the API server)."""
    for policy in policies:
        own = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("egress", []):
            ports = rule.get("ports")
            port_ok = not ports or any(
                p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
            )
            peers = rule.get("to")
            peer_ok = not peers or any(
                _peer_matches(peer, labels, namespace, own) for peer in peers
            )
            if port_ok and peer_ok:
                return True
    return False


def config_of(built: Build, name: str, key: str) -> dict[str, Any]:
    return yaml.safe_load(built.get("ConfigMap", name)["data"][key])


def _default_port(endpoint: str) -> int:
    default = re.sub(r"^\$\{env:[A-Z_]+:-(.*)\}$", r"\1", str(endpoint))
    match = _ENDPOINT_PORT.match(default)
    assert match, f"no port in {endpoint!r}"
    return int(match["port"])


def test_agent_may_reach_dns_the_gateway_and_the_kubernetes_api(built: Build) -> None:
    agent = built.get("DaemonSet", "otel-agent")
    gateway = built.get("Deployment", "otel-gateway")
    namespace = agent["metadata"]["namespace"]
    policies = egress_policies(built, agent)
    assert policies, "no egress NetworkPolicy selects the agent"
    exporters = config_of(built, "otel-agent-config", "otelcol-agent.yaml")["exporters"]
    gateway_ports = {
        _default_port(e["endpoint"]) for e in exporters.values() if e and "endpoint" in e
    } | {
        int(e["resolver"]["dns"]["port"])
        for e in exporters.values()
        if e and "dns" in e.get("resolver", {})
    }
    assert gateway_ports
    missing = [
        f"{port}/TCP to the gateway"
        for port in sorted(gateway_ports)
        if not allows(policies, port, "TCP", pod_labels(gateway), namespace)
    ]
    missing += [
        f"53/{protocol} to DNS"
        for protocol in ("UDP", "TCP")
        if not allows(policies, 53, protocol, *DNS)
    ]
    if not allows(policies, KUBERNETES_API_PORT, "TCP", None, None):
        missing.append(f"{KUBERNETES_API_PORT}/TCP to the Kubernetes API")
    assert not missing, missing


def test_gateway_may_reach_dns_and_every_backend(built: Build) -> None:
    gateway = built.get("Deployment", "otel-gateway")
    policies = egress_policies(built, gateway)
    assert policies, "no egress NetworkPolicy selects the gateway"
    env = built.get("ConfigMap", "otel-gateway-env")["data"]
    backends = {k: v for k, v in env.items() if k.endswith("_BACKEND_ENDPOINT")}
    assert "TRACES_BACKEND_ENDPOINT" in backends
    missing = []
    for name, endpoint in sorted(backends.items()):
        match = _ENDPOINT_PORT.match(endpoint)
        assert match, f"{name}={endpoint}"
        # <service>.<namespace>.svc.cluster.local
        namespace = match["host"].split(".")[1]
        if not allows(policies, int(match["port"]), "TCP", {}, namespace):
            missing.append(f"{name}: {match['port']}/TCP to namespace {namespace}")
    missing += [
        f"53/{protocol} to DNS"
        for protocol in ("UDP", "TCP")
        if not allows(policies, 53, protocol, *DNS)
    ]
    assert not missing, missing
