"""The messaging worker on Kubernetes: a Deployment of the service's image running the
worker module, reachable by nothing (no Service, no ingress), probed through its heartbeat,
scaled on CPU in prod, the broker's port its only egress beyond DNS and the agent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.k8s.cases import K8S_CASES, case_id
from tests.k8s.conftest import BuildOverlay
from tests.k8s.workloads import answers_of, env_value, only_container, pod_spec


def worker_prometheus_port(project: Path) -> int:
    """The port the worker's exporter listens on, as its own code says."""
    package = answers_of(project)["package_name"]
    source = (project / "src" / package / "worker.py").read_text()
    (port,) = re.findall(r'^WORKER_PROMETHEUS_PORT = "(\d+)"$', source, re.MULTILINE)
    return int(port)


MESSAGING_CASES = [a for a in K8S_CASES if a.get("messaging", "none") != "none"]


@pytest.fixture(params=MESSAGING_CASES, ids=case_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


def test_worker_runs_the_worker_module_with_heartbeat_probes(
    project: Path, build_overlay: BuildOverlay
) -> None:
    answers = answers_of(project)
    name, package = answers["service_name"], answers["package_name"]
    built = build_overlay(project, "prod")
    worker = built.get("Deployment", f"{name}-worker")
    container = only_container(worker)
    app_image = only_container(built.get("Deployment", name))["image"]
    assert container["image"] == app_image
    assert container["command"] == ["python", "-m", f"{package}.worker"]
    check = ["python", "-m", f"{package}.worker", "--check"]
    assert container["livenessProbe"]["exec"]["command"] == check
    # Nothing routes to the worker: an identical readiness probe would only unready it.
    assert "readinessProbe" not in container
    if "prometheus" in answers["exporters"]:
        ports = [(p["name"], p["containerPort"]) for p in container["ports"]]
        assert ports == [("metrics", worker_prometheus_port(project))]
    else:
        assert "ports" not in container
    secret = env_value(container, "MESSAGING_URL")["valueFrom"]["secretKeyRef"]
    assert secret == {"name": f"{name}-messaging", "key": "MESSAGING_URL", "optional": True}
    # Same Secret for the publishing side.
    app_secret = env_value(only_container(built.get("Deployment", name)), "MESSAGING_URL")
    assert app_secret["valueFrom"]["secretKeyRef"] == secret
    # The heartbeat file is written to /tmp, the one writable path.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"tmp": "/tmp"}
    assert pod_spec(worker)["terminationGracePeriodSeconds"] >= 10


def test_nothing_reaches_the_worker_and_it_reaches_only_the_broker_dns_and_agent(
    project: Path, build_overlay: BuildOverlay
) -> None:
    answers = answers_of(project)
    name = answers["service_name"]
    built = build_overlay(project, "prod")
    labels = built.get("Deployment", f"{name}-worker")["spec"]["template"]["metadata"]["labels"]
    for service in built.of_kind("Service"):
        selector = service["spec"].get("selector", {})
        assert not selector.items() <= labels.items(), f"{service['metadata']['name']} selects it"
    policy = built.get("NetworkPolicy", f"{name}-worker")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["ingress"] == []
    ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    broker_port = int(answers["broker_address"].rpartition(":")[2])
    assert ports == {(53, "UDP"), (53, "TCP"), (broker_port, "TCP"), (4318, "TCP")}


def test_worker_scales_on_cpu_in_prod_and_runs_once_in_dev(
    project: Path, build_overlay: BuildOverlay
) -> None:
    name = answers_of(project)["service_name"]
    hpa = build_overlay(project, "prod").get("HorizontalPodAutoscaler", f"{name}-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{name}-worker"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    dev = build_overlay(project, "dev")
    assert dev.get("Deployment", f"{name}-worker")["spec"]["replicas"] == 1


def test_prometheus_scrapes_the_workers_own_exporter(
    project: Path, build_overlay: BuildOverlay
) -> None:
    """With the Prometheus exporter, the worker's metrics (processed, failed, lag) are
    scraped from its pod like the web pod's: a PodMonitor selects it by a port it has, and
    the metrics-scrape policy lets Prometheus's namespace in on that port."""
    answers = answers_of(project)
    name = answers["service_name"]
    built = build_overlay(project, "prod")
    worker = built.get("Deployment", f"{name}-worker")
    labels = worker["spec"]["template"]["metadata"]["labels"]
    if "prometheus" not in answers["exporters"]:
        # Its metrics go through the collector; a PodMonitor would only scrape nothing.
        assert not [
            m
            for m in built.of_kind("PodMonitor")
            if m["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        return
    port_names = {p["name"] for p in only_container(worker)["ports"]}
    monitors = [
        m
        for m in built.of_kind("PodMonitor")
        if m["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(monitors) == 1, [m["metadata"]["name"] for m in monitors]
    (endpoint,) = monitors[0]["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in port_names
    scrape = built.get("NetworkPolicy", "metrics-scrape")["spec"]
    (selector,) = scrape["podSelector"]["matchExpressions"]
    assert labels[selector["key"]] in selector["values"]
    allowed = {p["port"] for rule in scrape["ingress"] for p in rule["ports"]}
    assert endpoint["port"] in allowed
