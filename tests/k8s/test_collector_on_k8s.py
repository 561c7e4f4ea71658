"""The collector on Kubernetes: the configs inside the generated ConfigMaps pass the real
collector's `validate`, the gateway runs byte for byte the file compose mounts, the agent
routes traces by trace id to the gateway's headless Service when tail sampling is on, and
compose and Kubernetes name the same pinned images."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collector.configs import env_references
from tests.k8s.cases import K8S_CASES, OVERLAYS, case_id
from tests.k8s.conftest import Build, BuildOverlay
from tests.k8s.workloads import (
    WORKLOAD_KINDS,
    answers_of,
    env_value,
    mounted_config,
    only_container,
    pod_spec,
)

GATEWAY_CONFIG = Path("collector") / "otelcol-config.yaml"
AGENT_CONFIG = Path("collector") / "otelcol-agent.yaml"


# What the downward API would give a pod, for fieldRef variables.
FIELD_VALUES = {
    "spec.nodeName": "node-1",
    "metadata.namespace": "demo",
    "metadata.name": "pod-1",
    "metadata.uid": "0b9e6c1e-5f3c-4c8e-9a57-2f1d8f6f0c11",
    "status.podIP": "10.0.0.7",
}


def pod_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal and downward-API variables, as the kubelet would set them
    (envFrom ConfigMaps aside), with $(VAR) references expanded."""
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            value = entry["value"]
            for name, known in env.items():
                value = value.replace(f"$({name})", known)
            env[entry["name"]] = value
        elif "fieldRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = FIELD_VALUES[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def validate(
    otelcol: Path, config: Path, pod: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    text = config.read_text()
    # The config's own defaults where the pod sets nothing.
    env = {k: v for k, v in os.environ.items() if k not in env_references(text)}
    return subprocess.run(
        [str(otelcol), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        env={**env, **(pod or {})},
        timeout=120,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_runs_the_file_compose_mounts(
    project: Path, overlay: str, build_overlay: BuildOverlay
) -> None:
    built = build_overlay(project, overlay)
    _, text = mounted_config(built, "Deployment", "otel-gateway")
    assert text == (project / GATEWAY_CONFIG).read_text()
    if "compose" in answers_of(project)["deploy_targets"]:
        compose = yaml.safe_load((project / "compose.yaml").read_text())
        volumes = compose["services"]["otel-collector"]["volumes"]
        assert f"./{GATEWAY_CONFIG}:/etc/otelcol/config.yaml:ro" in volumes
    else:
        assert not (project / "compose.yaml").exists()
    _, agent_text = mounted_config(built, "DaemonSet", "otel-agent")
    assert agent_text == (project / AGENT_CONFIG).read_text()


def test_configs_in_the_config_maps_pass_otelcol_validate(
    project: Path, build_overlay: BuildOverlay, otelcol: Path, tmp_path: Path
) -> None:
    built = build_overlay(project, "prod")
    for kind, name in (("Deployment", "otel-gateway"), ("DaemonSet", "otel-agent")):
        file_name, text = mounted_config(built, kind, name)
        config = tmp_path / file_name
        config.write_text(text)
        pod = pod_env(only_container(built.get(kind, name)))
        result = validate(otelcol, config, pod)
        assert result.returncode == 0, f"{name}: {result.stderr}{result.stdout}"


def test_agent_validation_can_fail(render, otelcol: Path, tmp_path: Path) -> None:
    # Proves the check above can fail: a misspelt k8s_attributes setting is refused.
    text = (render(K8S_CASES[0]) / AGENT_CONFIG).read_text()
    assert "node_from_env_var:" in text
    broken = tmp_path / "agent.yaml"
    broken.write_text(text.replace("node_from_env_var:", "node_from_env:"))
    result = validate(otelcol, broken, {"K8S_NODE_NAME": "node-1"})
    assert result.returncode != 0 and "node_from_env" in result.stderr + result.stdout


def pipelines(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["service"]["pipelines"]


def test_agent_adds_kubernetes_metadata_of_its_own_node(project: Path, build_overlay) -> None:
    built = build_overlay(project, "prod")
    agent = yaml.safe_load(mounted_config(built, "DaemonSet", "otel-agent")[1])
    k8s_attributes = agent["processors"]["k8s_attributes"]
    variable = k8s_attributes["filter"]["node_from_env_var"]
    container = only_container(built.get("DaemonSet", "otel-agent"))
    assert env_value(container, variable)["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    for pid, pipeline in pipelines(agent).items():
        assert pipeline["processors"] == ["memory_limiter", "k8s_attributes", "batch"], pid
    # Its RBAC: test_agent_rbac.py.
    assert pod_spec(built.get("DaemonSet", "otel-agent"))["serviceAccountName"] == "otel-agent"


def test_traces_reach_the_gateway_and_tail_sampling_sees_whole_traces(
    project: Path, build_overlay
) -> None:
    answers = answers_of(project)
    built = build_overlay(project, "prod")
    agent = yaml.safe_load(mounted_config(built, "DaemonSet", "otel-agent")[1])
    gateway = yaml.safe_load((project / GATEWAY_CONFIG).read_text())
    gateway_ports = {p["port"] for p in built.get("Service", "otel-gateway")["spec"]["ports"]}
    assert 4317 in gateway_ports
    assert agent["exporters"]["otlp_grpc/gateway"]["endpoint"].endswith("otel-gateway:4317}")
    traces_exporters = pipelines(agent)["traces"]["exporters"]
    if not answers["tail_sampling"]:
        assert traces_exporters == ["otlp_grpc/gateway"]
        assert "tail_sampling" not in gateway["processors"]
        assert not [s for s in built.of_kind("Service") if s["spec"].get("clusterIP") == "None"]
        return
    assert traces_exporters == ["load_balancing"]
    balancing = agent["exporters"]["load_balancing"]
    assert balancing["routing_key"] == "traceID"
    hostname = balancing["resolver"]["dns"]["hostname"]
    assert hostname.startswith("${env:OTEL_GATEWAY_HEADLESS_HOST:-otel-gateway-headless}")
    headless = built.get("Service", "otel-gateway-headless")
    assert headless["spec"]["clusterIP"] == "None"
    gateway_pods = built.get("Deployment", "otel-gateway")["spec"]["template"]["metadata"]
    assert headless["spec"]["selector"].items() <= gateway_pods["labels"].items()
    assert int(balancing["resolver"]["dns"]["port"]) in {
        p["port"] for p in headless["spec"]["ports"]
    }
    host = env_value(
        only_container(built.get("DaemonSet", "otel-agent")), "OTEL_GATEWAY_HEADLESS_HOST"
    )
    assert host["value"] == "otel-gateway-headless.$(K8S_NAMESPACE_NAME).svc.cluster.local"

    # Gateway: the connectors take every span; the backend only what tail_sampling keeps.
    traces, sampled = pipelines(gateway)["traces"], pipelines(gateway)["traces/sampled"]
    assert "tail_sampling" not in traces["processors"]
    assert {"span_metrics", "service_graph", "forward"} <= set(traces["exporters"])
    assert not any(e.startswith("otlp_grpc/") for e in traces["exporters"])
    assert sampled["receivers"] == ["forward"]
    assert sampled["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    assert sampled["exporters"] == [f"otlp_grpc/{answers['traces_backend']}"]
    policies = {p["type"]: p for p in gateway["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] == answers["slow_trace_threshold_ms"]
    percentage = policies["probabilistic"]["probabilistic"]["sampling_percentage"]
    assert percentage == pytest.approx(answers["tail_sampling_ratio"] * 100)


def images_of(built: Build) -> set[str]:
    workloads = [o for o in built.objects if o["kind"] in WORKLOAD_KINDS]
    return {c["image"] for w in workloads for c in pod_spec(w)["containers"]}


@pytest.mark.parametrize("answers", K8S_CASES, ids=case_id)
def test_images_are_the_pins_compose_uses(answers: dict[str, Any], build_overlay, render) -> None:
    project = render(answers)
    compose_project = project
    if "compose" not in answers.get("deploy_targets", ["compose"]):
        compose_project = render({**answers, "deploy_targets": ["compose", "kubernetes"]})
    compose = yaml.safe_load((compose_project / "compose.yaml").read_text())
    compose_images = {s["image"] for s in compose["services"].values() if "image" in s}
    name = answers["service_name"]
    for overlay in OVERLAYS:
        images = images_of(build_overlay(project, overlay))
        collector = {i for i in images if "opentelemetry-collector" in i}
        assert collector and collector <= compose_images, (collector, compose_images)
        others = {i for i in images - collector if not i.startswith(f"{name}:")}
        assert not others, f"images not pinned in copier.yml: {others}"
