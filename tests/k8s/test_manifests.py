"""The Kubernetes manifests: every overlay builds with kustomize, every object validates
strictly against the Kubernetes OpenAPI schemas, and the objects carry the hardening,
probes, shutdown timing, wiring and labels the service needs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.k8s import operator_crds
from tests.k8s.cases import OVERLAYS
from tests.k8s.conftest import Build, BuildOverlay
from tests.k8s.workloads import (
    WORKLOAD_KINDS,
    answers_of,
    dockerfile_user,
    env_value,
    only_container,
    pod_spec,
    selects,
    server_graceful_seconds,
    telemetry_flush_seconds,
)

# The newest Kubernetes whose schemas kubernetes-validate ships.
KUBERNETES_VERSION = kubernetes_validate.latest_version()
RECOMMENDED_LABELS = ("name", "instance", "component", "part-of", "managed-by")


def app_name(project: Path) -> str:
    return answers_of(project)["service_name"]


# The Instrumentation custom resource: no schema in kubernetes-validate;
# test_operator_instrumentation checks it field by field, and test_admission has the API
# server check it against the Operator's CRD. The Prometheus Operator's (PrometheusRule,
# PodMonitor) are checked against its CRDs (operator_crds.py); tests/observability runs
# promtool on the rules.
CUSTOM_RESOURCES = {("opentelemetry.io/v1alpha1", "Instrumentation")}

Schemas = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="session")
def operator_schemas() -> Schemas:
    return operator_crds.operator_schemas(operator_crds.module_dir())


def schema_errors(obj: dict[str, Any], operator_schemas: Schemas) -> list[str]:
    if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
        return []
    if obj["apiVersion"].startswith(f"{operator_crds.GROUP}/"):
        return operator_crds.operator_errors(obj, operator_schemas)
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{obj['kind']}/{obj['metadata'].get('name')}: {error.message}"]
    return []


# --- kustomize and the Kubernetes schemas --------------------------------------------------


def test_every_object_validates_strictly_against_the_kubernetes_schema(
    built: Build, operator_schemas: Schemas
) -> None:
    assert len(built.objects) >= 15
    errors = [error for obj in built.objects for error in schema_errors(obj, operator_schemas)]
    assert not errors, "\n".join(errors)


def test_strict_validation_rejects_an_unknown_field(
    project: Path, build_overlay, operator_schemas: Schemas
) -> None:
    # Proves the schema test can fail: a misspelt field in a valid Deployment, PodMonitor
    # or PrometheusRule is refused.
    built = build_overlay(project, "prod")
    deployment = copy.deepcopy(built.get("Deployment", app_name(project)))
    assert schema_errors(deployment, operator_schemas) == []
    only_container(deployment)["readinesProbe"] = {"httpGet": {"path": "/readyz", "port": 8000}}
    assert schema_errors(deployment, operator_schemas)
    monitor = copy.deepcopy(built.get("PodMonitor", "otel-gateway"))
    assert schema_errors(monitor, operator_schemas) == []
    monitor["spec"]["podMetricsEndpoints"][0]["honorlabels"] = True
    assert "honorlabels" in "".join(schema_errors(monitor, operator_schemas))
    rule = copy.deepcopy(built.of_kind("PrometheusRule")[0])
    rule["spec"]["groups"][0]["rules"][0]["exp"] = "up"
    assert "exp" in "".join(schema_errors(rule, operator_schemas))


def test_everything_lands_in_the_overlay_namespace(built: Build) -> None:
    namespaces = built.of_kind("Namespace")
    assert len(namespaces) == 1
    name = namespaces[0]["metadata"]["name"]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in built.objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == name, obj["metadata"]
    (binding,) = built.of_kind("RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "otel-agent", "namespace": name}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": built.get("Role", "otel-agent")["metadata"]["name"],
    }


def test_overlays_do_not_collide_in_one_cluster(project: Path, build_overlay) -> None:
    # Everything but the Namespace is namespaced: two overlays in one cluster share nothing.
    dev, prod = (build_overlay(project, overlay) for overlay in OVERLAYS)
    for built in (dev, prod):
        assert not built.of_kind("ClusterRole") and not built.of_kind("ClusterRoleBinding")
    dev_names = {o["metadata"]["name"] for o in dev.of_kind("Namespace")}
    prod_names = {o["metadata"]["name"] for o in prod.of_kind("Namespace")}
    assert dev_names and not dev_names & prod_names


def test_recommended_labels_on_every_object(project: Path, built: Build) -> None:
    for obj in built.objects:
        if obj["kind"] == "Namespace":
            continue
        labels = obj["metadata"].get("labels", {})
        wanted = RECOMMENDED_LABELS
        # Generated ConfigMaps, and the rule and dashboard from observability/ (another
        # folder's own labels): at least the kustomization-wide ones.
        if obj["kind"] in ("ConfigMap", "PrometheusRule"):
            wanted = ("part-of", "managed-by")
        missing = [k for k in wanted if f"app.kubernetes.io/{k}" not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/part-of"] == app_name(project)
        assert labels["app.kubernetes.io/managed-by"] == "kustomize"
    for workload in [o for o in built.objects if o["kind"] in WORKLOAD_KINDS]:
        template_labels = workload["spec"]["template"]["metadata"]["labels"]
        for key in (*RECOMMENDED_LABELS, "version"):
            assert f"app.kubernetes.io/{key}" in template_labels, (workload["kind"], key)
        # Selectors must stay stable across versions: name and instance only.
        selector = workload["spec"]["selector"]["matchLabels"]
        assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}


# --- the service's pods ----------------------------------------------------------------------


def test_service_pods_run_restricted(project: Path, built: Build) -> None:
    service_selectors = [
        s["spec"]["selector"] for s in built.of_kind("Service") if s["spec"].get("selector")
    ]
    for workload in [o for o in built.objects if o["kind"] in WORKLOAD_KINDS]:
        spec = pod_spec(workload)
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert {"requests", "limits"} <= set(container["resources"])
            assert container["livenessProbe"]
            # Readiness matters where a Service routes traffic (not to a worker).
            if any(
                selects({"matchLabels": selector}, pod_labels) for selector in service_selectors
            ):
                assert container["readinessProbe"]
            assert ":" in container["image"] and not container["image"].endswith(":latest")
    app = built.get("Deployment", app_name(project))
    uid, gid = dockerfile_user(project)
    assert pod_spec(app)["securityContext"]["runAsUser"] == uid
    assert pod_spec(app)["securityContext"]["runAsGroup"] == gid
    # Read-only root: /tmp is the one writable path, a size-limited emptyDir.
    mounts = {m["name"]: m["mountPath"] for m in only_container(app)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(app)["volumes"]}
    assert mounts == {"tmp": "/tmp"}
    assert "sizeLimit" in volumes["tmp"]["emptyDir"]
    assert pod_spec(app)["automountServiceAccountToken"] is False
    account = built.get("ServiceAccount", pod_spec(app)["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False


def test_probes_use_the_health_routes(project: Path, built: Build) -> None:
    container = only_container(built.get("Deployment", app_name(project)))
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]


def test_grace_period_covers_drain_and_telemetry_flush(project: Path, built: Build) -> None:
    app = built.get("Deployment", app_name(project))
    pre_stop = only_container(app)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    needed = float(pre_stop[1]) + server_graceful_seconds(project)
    needed += telemetry_flush_seconds(project)
    grace = pod_spec(app)["terminationGracePeriodSeconds"]
    assert grace >= needed + 5, f"grace {grace}s < {needed}s of shutdown work + 5s margin"


def test_otel_environment_points_at_the_node_agent(project: Path, built: Build) -> None:
    answers = answers_of(project)
    app = built.get("Deployment", app_name(project))
    container = only_container(app)
    config_map_name = container["envFrom"][0]["configMapRef"]["name"]
    env = built.get("ConfigMap", config_map_name.rsplit("-", 1)[0])["data"]
    assert env["OTEL_SERVICE_NAME"] == answers["service_name"]
    otlp = [e for e in answers["exporters"] if e.startswith("otlp_")]
    agent_service = built.get("Service", "otel-agent")
    assert agent_service["spec"]["internalTrafficPolicy"] == "Local"
    headers = env_value(container, "OTEL_EXPORTER_OTLP_HEADERS")
    if not otlp:
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env and headers is None
        return
    port = 4317 if otlp == ["otlp_grpc"] else 4318
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-agent:{port}"
    assert port in [p["port"] for p in agent_service["spec"]["ports"]]
    # Headers (credentials) only from a Secret the team creates; none is rendered.
    assert headers["valueFrom"]["secretKeyRef"]["optional"] is True
    assert not built.of_kind("Secret")
    assert not any("HEADERS" in key for cm in built.of_kind("ConfigMap") for key in cm["data"])
    attributes = env_value(container, "OTEL_RESOURCE_ATTRIBUTES")["value"]
    assert "k8s.pod.uid=$(K8S_POD_UID)" in attributes
    assert env_value(container, "K8S_POD_UID")["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.uid"
    )


def test_network_policy_admits_the_app_port_and_reaches_dns_and_the_agent(
    project: Path, built: Build
) -> None:
    answers = answers_of(project)
    policy = built.get("NetworkPolicy", app_name(project))["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    # The metrics port opens to Prometheus only, through metrics-scrape (test_alert_targets).
    assert ingress_ports == {"http"}
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    otlp = [e for e in answers["exporters"] if e.startswith("otlp_")]
    expected_egress = {(53, "UDP"), (53, "TCP")}
    if answers.get("messaging", "none") != "none":
        expected_egress.add((int(answers["broker_address"].rpartition(":")[2]), "TCP"))
    if otlp:
        expected_egress.add((4317 if otlp == ["otlp_grpc"] else 4318, "TCP"))
        agent_rule = policy["egress"][-1]["to"][0]["podSelector"]["matchLabels"]
        agent = built.get("DaemonSet", "otel-agent")
        assert agent_rule.items() <= agent["spec"]["template"]["metadata"]["labels"].items()
    assert egress_ports == expected_egress


def test_overlay_settings(project: Path, build_overlay: BuildOverlay) -> None:
    name = app_name(project)
    for overlay in OVERLAYS:
        built = build_overlay(project, overlay)
        env = built.get("ConfigMap", f"{name}-otel")["data"]
        assert env["DEPLOYMENT_ENVIRONMENT"] == overlay
        assert built.get("ConfigMap", "otel-gateway-env")["data"]["DEPLOYMENT_ENVIRONMENT"] == (
            overlay
        )
        app = built.get("Deployment", name)
        image = only_container(app)["image"]
        assert image.startswith(f"{name}:") and image != f"{name}:set-by-overlay"
    dev = build_overlay(project, "dev")
    assert dev.get("Deployment", name)["spec"]["replicas"] == 1
    assert not dev.of_kind("HorizontalPodAutoscaler")
    for worker in dev.of_kind("Deployment"):
        if worker["metadata"]["name"] == f"{name}-worker":
            assert worker["spec"]["replicas"] == 1
    assert [p["metadata"]["name"] for p in dev.of_kind("PodDisruptionBudget")] == ["otel-gateway"]
    prod = build_overlay(project, "prod")
    assert "replicas" not in prod.get("Deployment", name)["spec"], "the HPA owns the count"
    hpa = prod.get("HorizontalPodAutoscaler", name)["spec"]
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    pdb = prod.get("PodDisruptionBudget", name)["spec"]
    assert pdb["minAvailable"] == 1
    app_selector = prod.get("Deployment", name)["spec"]["selector"]["matchLabels"]
    assert pdb["selector"]["matchLabels"] == app_selector
    assert prod.get("Deployment", "otel-gateway")["spec"]["replicas"] >= 2
