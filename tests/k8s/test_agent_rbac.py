"""The collector agent's RBAC is exactly what its k8s_attributes config needs: a namespaced
Role with list and watch on pods. Checked against the processor's documented needs (a map
from the config to resources, agent_access.py) and live: the real collector, with the
rendered agent config, against a stand-in API server that enforces the rendered Role."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.agent_access import VERBS, Access, granted_access, granted_verbs, needed_access
from tests.k8s.cases import K8S_CASES, OVERLAYS, case_id
from tests.k8s.conftest import Build, BuildOverlay
from tests.k8s.fake_api import ApiRequest, fake_api_server
from tests.k8s.workloads import env_value, mounted_config, only_container
from tests.support.collector import CollectorPorts, running_collector
from tests.support.processes import free_port, wait_until

AGENT = ("DaemonSet", "otel-agent")


def agent_k8s_attributes(built: Build) -> dict[str, Any]:
    config = yaml.safe_load(mounted_config(built, *AGENT)[1])
    return config["processors"]["k8s_attributes"]


def rbac_problems(built: Build, k8s_attributes: dict[str, Any]) -> list[str]:
    agent = built.get(*AGENT)
    account = agent["spec"]["template"]["spec"]["serviceAccountName"]
    needed = needed_access(k8s_attributes)
    granted = granted_access(built.objects, account)
    problems = [f"missing: {a}" for a in sorted(needed - granted)]
    problems += [f"not needed: {a}" for a in sorted(granted - needed)]
    if granted_verbs(built.objects, account) != VERBS:
        problems.append(f"verbs {sorted(granted_verbs(built.objects, account))}, not list/watch")
    if not any(a.cluster_wide for a in needed) and (
        built.of_kind("ClusterRole") or built.of_kind("ClusterRoleBinding")
    ):
        problems.append("a ClusterRole where a Role would do")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("answers", K8S_CASES, ids=case_id)
def test_agent_role_grants_exactly_what_k8s_attributes_needs(
    answers: dict[str, Any], overlay: str, render, build_overlay: BuildOverlay
) -> None:
    built = build_overlay(render(answers), overlay)
    k8s_attributes = agent_k8s_attributes(built)
    # filter.namespace is the pod's own namespace, where the Role and its binding live.
    assert k8s_attributes["filter"]["namespace"] == "${env:K8S_NAMESPACE_NAME}"
    container = only_container(built.get(*AGENT))
    field = env_value(container, "K8S_NAMESPACE_NAME")["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.namespace"
    assert needed_access(k8s_attributes) == {Access("", "pods", cluster_wide=False)}
    assert rbac_problems(built, k8s_attributes) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Namespace labels need every namespace, cluster-wide.
        (
            lambda c: (
                c["extract"]
                .setdefault("labels", [])
                .append({"tag_name": "team", "key": "team", "from": "namespace"})
            ),
            "missing: Access(api_group='', resource='namespaces', cluster_wide=True)",
        ),
        # The deployment name from replica sets: list/watch replicasets too.
        (
            lambda c: c["extract"].update(deployment_name_from_replicaset=False),
            "missing: Access(api_group='apps', resource='replicasets', cluster_wide=False)",
        ),
        # Without the namespace filter the agent lists pods cluster-wide.
        (
            lambda c: c["filter"].pop("namespace"),
            "missing: Access(api_group='', resource='pods', cluster_wide=True)",
        ),
    ],
    ids=["namespace-labels", "replicaset-lookup", "no-namespace-filter"],
)
def test_a_config_needing_more_is_reported(
    render, build_overlay: BuildOverlay, change, expected: str
) -> None:
    # Proves the check above can fail: each config change needs access the Role lacks.
    built = build_overlay(render(K8S_CASES[0]), "prod")
    k8s_attributes = copy.deepcopy(agent_k8s_attributes(built))
    change(k8s_attributes)
    assert expected in rbac_problems(built, k8s_attributes)


def test_extra_rules_are_reported(render, build_overlay: BuildOverlay) -> None:
    built = build_overlay(render(K8S_CASES[0]), "prod")
    objects = copy.deepcopy(built.objects)
    role = next(o for o in objects if o["kind"] == "Role")
    role["rules"].append({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]})
    problems = rbac_problems(Build(built.text, objects), agent_k8s_attributes(built))
    assert any("not needed" in p and "namespaces" in p for p in problems), problems
    assert any("verbs" in p for p in problems), problems


def role_permits(built: Build) -> set[tuple[str, str, str, str]]:
    (role,) = built.of_kind("Role")
    namespace = role["metadata"]["namespace"]
    return {
        (verb, group, resource, namespace)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def agent_requests(
    otelcol: Path,
    built: Build,
    tmp_path: Path,
    until: Callable[[ApiRequest], bool],
    k8s_attributes_layer: str = "",
    *,
    watch_list: bool = False,
) -> tuple[set[tuple[str, str, str, str]], list[ApiRequest]]:
    """Runs the real collector with the built agent config against the fake API server
    until it makes a request ``until`` accepts: (what the Role permits, every request
    the collector made)."""
    file_name, text = mounted_config(built, *AGENT)
    config = tmp_path / file_name
    config.write_text(text)
    permits = role_permits(built)
    (role,) = built.of_kind("Role")
    with fake_api_server(permits, watch_list=watch_list) as api:
        layer = tmp_path / "fake-api.yaml"
        layer.write_text(
            f"processors:\n  k8s_attributes:\n    auth_type: kubeConfig\n{k8s_attributes_layer}"
        )
        pod = {
            # kubeConfig auth reads the file $KUBECONFIG names, as kubectl does.
            "KUBECONFIG": str(api.kubeconfig(tmp_path)),
            "K8S_NODE_NAME": "node-1",
            "K8S_NAMESPACE_NAME": role["metadata"]["namespace"],
            # Nothing listens there: the agent's exports fail, its API calls do not.
            "OTEL_GATEWAY_ENDPOINT": f"127.0.0.1:{free_port()}",
        }
        with running_collector(otelcol, [config, layer], tmp_path, CollectorPorts(), extra_env=pod):
            wait_until(lambda: any(until(r) for r in api.requests), 30, "the agent's request")
        return permits, list(api.requests)


def test_real_agent_needs_nothing_the_role_refuses(
    otelcol: Path, render, build_overlay: BuildOverlay, tmp_path: Path
) -> None:
    built = build_overlay(render(K8S_CASES[0]), "prod")
    # The pod informer starts once every other informer has synced: its watch means
    # every request of the start-up has been made. A server without watch-list: the
    # agent lists, then watches.
    permits, requests = agent_requests(
        otelcol, built, tmp_path, lambda r: (r.verb, r.resource) == ("watch", "pods")
    )
    made = {(r.verb, r.api_group, r.resource, r.namespace) for r in requests}
    # Every request allowed, and every permission used: nothing refused, nothing spare.
    assert made == permits, f"requests {sorted(made)}, Role {sorted(permits)}"


def test_real_agent_streams_its_list_with_the_watch_permission(
    otelcol: Path, render, build_overlay: BuildOverlay, tmp_path: Path
) -> None:
    # Kubernetes 1.34 and later serve the initial list over the watch (client-go 1.35's
    # default): still nothing outside the Role.
    built = build_overlay(render(K8S_CASES[0]), "prod")
    permits, requests = agent_requests(
        otelcol,
        built,
        tmp_path,
        lambda r: (r.verb, r.resource) == ("watch", "pods"),
        watch_list=True,
    )
    made = {(r.verb, r.api_group, r.resource, r.namespace) for r in requests}
    assert made and made <= permits, f"requests {sorted(made)}, Role {sorted(permits)}"


def test_real_agent_is_refused_what_a_wider_config_needs(
    otelcol: Path, render, build_overlay: BuildOverlay, tmp_path: Path
) -> None:
    # Proves the live check can fail: namespace labels make the agent watch namespaces.
    built = build_overlay(render(K8S_CASES[0]), "prod")
    wider = "    extract:\n      labels:\n        - {tag_name: team, key: team, from: namespace}\n"
    permits, requests = agent_requests(
        otelcol, built, tmp_path, lambda r: r.resource == "namespaces", wider
    )
    refused = {(r.verb, r.resource, r.namespace) for r in requests} - {
        (verb, resource, namespace) for verb, _, resource, namespace in permits
    }
    assert ("list", "namespaces", "") in refused, sorted(refused)
