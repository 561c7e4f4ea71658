"""The two collector topologies on Kubernetes: a service sending to the platform's shared
collector holds no collector object, and its OTLP endpoint, egress policy and ports are the
kit's; the kit itself (agent DaemonSet, gateway tier, alerts) renders from the same collector
config as a service's own collector; and the kit plus ten services build into one cluster
with one agent DaemonSet, one gateway tier and no name collisions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.copier_extension import otlp_endpoint_route
from tests.k8s import operator_crds
from tests.k8s.cases import KIT_CASES, OVERLAYS, PLATFORM_CASES, case_id
from tests.k8s.conftest import Build, BuildOverlay, K8sTools
from tests.k8s.test_collector_on_k8s import pod_env, validate
from tests.k8s.test_manifests import Schemas, schema_errors
from tests.k8s.workloads import answers_of, env_value, mounted_config, only_container, selects

KIT = KIT_CASES[0]
# Both kinds read the collector config from one file: what a service's own collector and the
# kit's gateway run may differ only in these comment lines naming where the file lives.
HEADER_LINES = 3


def collector_objects(built: Build) -> list[str]:
    """Every object that is, runs, scrapes, alerts on or grants to a collector."""
    found = []
    for obj in built.objects:
        labels = obj["metadata"].get("labels", {})
        name = obj["metadata"]["name"]
        if (
            labels.get("app.kubernetes.io/name") == "opentelemetry-collector"
            or "otel-agent" in (name)
            or "otel-gateway" in name
        ):
            found.append(f"{obj['kind']}/{name}")
        if obj["kind"] in {"DaemonSet", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}:
            found.append(f"{obj['kind']}/{name}")
        if obj["kind"] == "PrometheusRule":
            found += [
                f"rule group {g['name']}" for g in obj["spec"]["groups"] if "otel" in g["name"]
            ]
    return found


def otlp_endpoint(built: Build, project: Path) -> str | None:
    """The endpoint the service's pods send to, as Kubernetes hands it to the container."""
    name = answers_of(project)["service_name"]
    container = only_container(built.get("Deployment", name))
    direct = env_value(container, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if direct is not None:
        return direct["value"]
    for instrumentation in built.of_kind("Instrumentation"):
        return instrumentation["spec"]["exporter"]["endpoint"]
    return built.get("ConfigMap", f"{name}-otel")["data"].get("OTEL_EXPORTER_OTLP_ENDPOINT")


def kit_target(kit: Build, endpoint: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The kit's Service an in-cluster endpoint names, and the port it names."""
    route = otlp_endpoint_route(endpoint)
    assert not route["node_local"], endpoint
    service_name = route["host"].split(".")[0]
    service = kit.get("Service", service_name)
    assert route["namespace"] == service["metadata"]["namespace"], endpoint
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == route["port"]]
    return service, port


@pytest.fixture(scope="session")
def operator_schemas() -> Schemas:
    return operator_crds.operator_schemas(operator_crds.module_dir())


# --- a service on the platform's collector ---------------------------------------------------


@pytest.fixture(params=PLATFORM_CASES, ids=case_id)
def platform_project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


@pytest.fixture(scope="module")
def kit_project(render) -> Path:
    return render(KIT)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_platform_service_holds_no_collector_object(
    platform_project: Path, build_overlay: BuildOverlay, overlay: str, operator_schemas: Schemas
) -> None:
    built = build_overlay(platform_project, overlay)
    assert collector_objects(built) == []
    assert not (platform_project / "collector" / "otelcol-agent.yaml").exists()
    assert not list((platform_project / "observability").glob("otel-*"))
    errors = [e for obj in built.objects for e in schema_errors(obj, operator_schemas)]
    assert not errors, "\n".join(errors)


def test_the_service_sends_to_the_kits_agent_on_the_matching_port(
    platform_project: Path, kit_project: Path, build_overlay: BuildOverlay
) -> None:
    built, kit = build_overlay(platform_project, "prod"), build_overlay(kit_project, "prod")
    answers = answers_of(platform_project)
    endpoint = otlp_endpoint(built, platform_project)
    assert endpoint == answers["platform_otlp_endpoint"]
    grpc = answers["exporters"][0] == "otlp_grpc"
    route = otlp_endpoint_route(endpoint)
    if route["node_local"]:
        # The downward API gives the node's address; the variable comes before its use.
        container = only_container(built.get("Deployment", answers["service_name"]))
        names = [e["name"] for e in container["env"]]
        assert names.index("HOST_IP") < names.index("OTEL_EXPORTER_OTLP_ENDPOINT")
        host_ip = env_value(container, "HOST_IP")["valueFrom"]["fieldRef"]["fieldPath"]
        assert host_ip == "status.hostIP"
        assert "$(HOST_IP)" in endpoint
        # The kit's agent takes no host port (restricted Pod Security): the team that picks
        # this points it at a platform agent that does.
        return
    target, port = kit_target(kit, endpoint)
    assert target["spec"]["internalTrafficPolicy"] == "Local", "the agent of the pod's own node"
    assert port["name"] == ("otlp-grpc" if grpc else "otlp-http")
    agent = only_container(kit.get("DaemonSet", "otel-agent"))
    (container_port,) = [p for p in agent["ports"] if p["name"] == port["targetPort"]]
    config = yaml.safe_load(kit.get("ConfigMap", "otel-agent-config")["data"]["otelcol-agent.yaml"])
    receiver = config["receivers"]["otlp"]["protocols"]["grpc" if grpc else "http"]["endpoint"]
    assert receiver.endswith(f":-{container_port['containerPort']}}}"), receiver
    assert selects(
        target["spec"]["selector"],
        kit.get("DaemonSet", "otel-agent")["spec"]["template"]["metadata"]["labels"],
    )


def test_the_service_egress_reaches_the_kits_agent_and_nothing_else(
    platform_project: Path, kit_project: Path, build_overlay: BuildOverlay
) -> None:
    built, kit = build_overlay(platform_project, "prod"), build_overlay(kit_project, "prod")
    answers = answers_of(platform_project)
    policy = built.get("NetworkPolicy", answers["service_name"])["spec"]
    route = otlp_endpoint_route(answers["platform_otlp_endpoint"])
    (rule,) = [r for r in policy["egress"] if {p["port"] for p in r["ports"]} == {route["port"]}]
    if route["node_local"]:
        assert "to" not in rule, "a node's address is no pod a selector can name"
        return
    (peer,) = rule["to"]
    namespace = kit.of_kind("Namespace")[0]["metadata"]
    assert selects(
        peer["namespaceSelector"],
        namespace["labels"] | {"kubernetes.io/metadata.name": namespace["name"]},
    )
    agent = kit.get("DaemonSet", "otel-agent")
    assert selects(peer["podSelector"], agent["spec"]["template"]["metadata"]["labels"])
    # The agent's ingress admits the service: any namespace, the OTLP port.
    agent_policy = kit.get("NetworkPolicy", "otel-agent")["spec"]
    assert agent_policy["ingress"][0]["from"] == [{"namespaceSelector": {}}]


# --- the kit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("answers", KIT_CASES, ids=case_id)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kit_objects(
    answers: dict[str, Any],
    overlay: str,
    render,
    build_overlay: BuildOverlay,
    operator_schemas: Schemas,
) -> None:
    project = render(answers)
    built = build_overlay(project, overlay)
    namespace = answers.get("collector_namespace", "observability")
    errors = [e for obj in built.objects for e in schema_errors(obj, operator_schemas)]
    assert not errors, "\n".join(errors)
    assert {o["metadata"].get("namespace", namespace) for o in built.objects} == {namespace}
    kinds = sorted(
        f"{o['kind']}/{o['metadata']['name']}" for o in built.objects if o["kind"] != "ConfigMap"
    )
    headless = ["Service/otel-gateway-headless"] if answers.get("tail_sampling", True) else []
    assert kinds == sorted(
        [
            f"ClusterRole/{namespace}-otel-agent",
            f"ClusterRoleBinding/{namespace}-otel-agent",
            "DaemonSet/otel-agent",
            "Deployment/otel-gateway",
            "HorizontalPodAutoscaler/otel-gateway",
            f"Namespace/{namespace}",
            "NetworkPolicy/metrics-scrape",
            "NetworkPolicy/otel-agent",
            "NetworkPolicy/otel-gateway",
            "PodDisruptionBudget/otel-gateway",
            "PodMonitor/otel-collector",
            "PodMonitor/otel-gateway",
            "PrometheusRule/otel-collector",
            "Service/otel-agent",
            "Service/otel-gateway",
            "ServiceAccount/otel-agent",
            "ServiceAccount/otel-gateway",
            *headless,
        ]
    )
    (rule,) = built.get("ClusterRole", f"{namespace}-otel-agent")["rules"]
    assert rule == {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}
    binding = built.get("ClusterRoleBinding", f"{namespace}-otel-agent")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "otel-agent", "namespace": namespace}
    ]
    agent = yaml.safe_load(
        built.get("ConfigMap", "otel-agent-config")["data"]["otelcol-agent.yaml"]
    )
    # Every namespace's pods on the agent's own node.
    assert agent["processors"]["k8s_attributes"]["filter"] == {"node_from_env_var": "K8S_NODE_NAME"}
    exporter = agent["service"]["pipelines"]["traces"]["exporters"]
    if answers.get("tail_sampling", True):
        assert exporter == ["load_balancing"]
        assert agent["exporters"]["load_balancing"]["routing_key"] == "traceID"
        gateway = yaml.safe_load(
            built.get("ConfigMap", "otel-gateway-config")["data"]["otelcol-gateway.yaml"]
        )
        assert "tail_sampling" in gateway["service"]["pipelines"]["traces/sampled"]["processors"]
    else:
        assert exporter == ["otlp_grpc/gateway"]
    groups = [g["name"] for g in built.get("PrometheusRule", "otel-collector")["spec"]["groups"]]
    assert groups == ["otel-collector"]
    gateway_policy = built.get("NetworkPolicy", "otel-gateway")["spec"]
    assert selects(
        gateway_policy["ingress"][0]["from"][0]["podSelector"],
        built.get("DaemonSet", "otel-agent")["spec"]["template"]["metadata"]["labels"],
    )


def test_one_collector_config_feeds_a_service_and_the_kit(render) -> None:
    """The kit's gateway and agent configs are a bundled service's, line for line, but for
    the header naming the file and the agent's namespace filter."""
    common = {"traces_backend": "tempo", "logs_backend": "loki", "tail_sampling": True}
    service = render({"service_name": "one-source", "collector_topology": "bundled", **common})
    kit = render({"service_name": "one-source-kit", "project_kind": "platform_collector", **common})

    def body(path: Path) -> list[str]:
        return [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]

    assert body(service / "collector/otelcol-config.yaml") == body(
        kit / "collector/otelcol-gateway.yaml"
    )
    service_agent = body(service / "collector/otelcol-agent.yaml")
    kit_agent = body(kit / "collector/otelcol-agent.yaml")
    assert [line for line in service_agent if "K8S_NAMESPACE_NAME}" not in line] == kit_agent


# --- the scale check: the kit and ten services in one cluster --------------------------------

SCALE_SERVICES: list[dict[str, Any]] = [
    {"framework": framework, "exporters": exporters, **extra}
    for framework, exporters, extra in [
        ("flask", ["otlp_http"], {}),
        ("fastapi", ["otlp_http"], {"traces_backend": "tempo"}),
        ("django", ["otlp_http"], {"logs_backend": "none"}),
        ("flask", ["otlp_grpc"], {}),
        ("fastapi", ["otlp_grpc", "prometheus"], {}),
        ("django", ["otlp_http", "prometheus"], {"deploy_targets": ["kubernetes"]}),
        ("flask", ["otlp_http"], {"instrumentation": "operator"}),
        ("fastapi", ["otlp_http", "console"], {"sampler": "always_on"}),
        ("django", ["otlp_grpc"], {"tail_sampling": True}),
        (
            "flask",
            ["otlp_http"],
            {"platform_otlp_endpoint": "http://otel-agent.observability:4318"},
        ),
    ]
]


@pytest.mark.slow
def test_the_kit_and_ten_services_share_one_collector_in_one_cluster(
    render, k8s_tools: K8sTools, tmp_path: Path
) -> None:
    kit = render(KIT)
    services = [
        render({"service_name": f"scale-{index}-{answers['framework']}", **answers})
        for index, answers in enumerate(SCALE_SERVICES)
    ]
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    # One kustomization over every prod overlay, each project copied inside its root.
    for project in [kit, *services]:
        shutil.copytree(project, cluster / project.name)
    overlays = [f"{project.name}/deploy/k8s/overlays/prod" for project in [kit, *services]]
    (cluster / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(overlay) for overlay in overlays],
            }
        )
    )
    # kustomize refuses two objects of one kind, namespace and name: a collision fails here.
    result = subprocess.run(
        [str(k8s_tools.kustomize), "build", "--load-restrictor=LoadRestrictionsNone", "."],
        cwd=cluster,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    built = Build(result.stdout, objects)

    identities = [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
    ]
    assert len(identities) == len(set(identities))
    assert [o["metadata"]["name"] for o in built.of_kind("DaemonSet")] == ["otel-agent"]
    gateways = [
        o
        for o in built.of_kind("Deployment")
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == "gateway"
    ]
    assert [(g["metadata"]["namespace"], g["metadata"]["name"]) for g in gateways] == [
        ("observability", "otel-gateway")
    ]
    service_deployments = [
        o
        for o in built.of_kind("Deployment")
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == "service"
    ]
    assert len(service_deployments) == 10
    assert len(built.of_kind("ClusterRole")) == 1

    for project in services:
        name = answers_of(project)["service_name"]
        namespace = f"{name}-prod"
        in_ns = Build(
            "", [o for o in objects if o["metadata"].get("namespace") in {namespace, None}]
        )
        endpoint = otlp_endpoint(in_ns, project)
        assert endpoint, name
        target, port = kit_target(built, endpoint)
        assert target["metadata"]["namespace"] == "observability"
        grpc = "otlp_grpc" in answers_of(project)["exporters"]
        assert port["name"] == ("otlp-grpc" if grpc else "otlp-http"), (name, endpoint)


@pytest.mark.parametrize("answers", KIT_CASES, ids=case_id)
def test_the_kits_configs_pass_otelcol_validate(
    answers: dict[str, Any], render, build_overlay: BuildOverlay, otelcol: Path, tmp_path: Path
) -> None:
    built = build_overlay(render(answers), "prod")
    for kind, name in (("Deployment", "otel-gateway"), ("DaemonSet", "otel-agent")):
        file_name, text = mounted_config(built, kind, name)
        config = tmp_path / file_name
        config.write_text(text)
        result = validate(otelcol, config, pod_env(only_container(built.get(kind, name))))
        assert result.returncode == 0, f"{name}: {result.stderr}{result.stdout}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_worker_sends_where_the_web_pods_send(
    render, build_overlay: BuildOverlay, overlay: str
) -> None:
    """The worker reads the same endpoint and may reach the same collector as the web pods,
    whose endpoint the test above matches with the kit."""
    answers = next(case for case in PLATFORM_CASES if case.get("messaging", "none") != "none")
    built = build_overlay(render(answers), overlay)
    name = answers["service_name"]
    web = only_container(built.get("Deployment", name))
    worker = only_container(built.get("Deployment", f"{name}-worker"))

    def endpoint_env(container: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = ("HOST_IP", "OTEL_EXPORTER_OTLP_ENDPOINT")
        return [entry for entry in container.get("env", []) if entry["name"] in wanted]

    assert endpoint_env(worker) == endpoint_env(web) != []
    assert worker["envFrom"] == web["envFrom"]
    web_egress = built.get("NetworkPolicy", name)["spec"]["egress"]
    worker_egress = built.get("NetworkPolicy", f"{name}-worker")["spec"]["egress"]
    collector_port = otlp_endpoint_route(answers["platform_otlp_endpoint"])["port"]
    to_collector = [
        rule
        for rule in worker_egress
        if {"port": collector_port, "protocol": "TCP"} in rule["ports"]
    ]
    assert to_collector and all(rule in web_egress for rule in to_collector)
