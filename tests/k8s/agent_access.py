"""What the agent's k8s_attributes processor reads from the Kubernetes API, for a given
config: a map from what it extracts to the resources it then lists and watches, taken from
the processor's source at the pinned release (collector-contrib 0.158.0,
processor/k8sattributesprocessor: factory.go defaults, internal/kube/client.go `New`, which
starts one informer per resource; informers only list and watch, nothing calls get)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERBS = frozenset({"list", "watch"})
# factory.go: `deployment_name_from_replicaset` defaults to true (false is deprecated).
DEFAULT_DEPLOYMENT_NAME_FROM_REPLICASET = True
# factory.go enabledAttributes(): extracted when `metadata` is not given.
DEFAULT_METADATA = (
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.pod.start_time",
    "k8s.deployment.name",
    "k8s.node.name",
)
# Label/annotation sources (`from:`) whose own objects are watched, besides pods.
WORKLOAD_SOURCES = {
    "deployment": ("apps", "deployments"),
    "statefulset": ("apps", "statefulsets"),
    "daemonset": ("apps", "daemonsets"),
    "job": ("batch", "jobs"),
}


@dataclass(frozen=True, order=True)
class Access:
    """list and watch on one resource, in the filter's namespace or cluster-wide."""

    api_group: str
    resource: str
    cluster_wide: bool


def needed_access(k8s_attributes: dict[str, Any]) -> set[Access]:
    extract = k8s_attributes.get("extract", {})
    metadata = set(extract.get("metadata", DEFAULT_METADATA))
    sources = {
        rule.get("from", "pod")
        for key in ("labels", "annotations")
        for rule in extract.get(key, [])
    }
    # With filter.namespace, pods and workloads are watched in that namespace only.
    cluster_wide = not k8s_attributes.get("filter", {}).get("namespace")
    from_replicaset_name = extract.get(
        "deployment_name_from_replicaset", DEFAULT_DEPLOYMENT_NAME_FROM_REPLICASET
    )
    access = {Access("", "pods", cluster_wide)}
    # Namespaces and nodes are cluster-scoped objects: never within a namespace.
    if "namespace" in sources or "k8s.cluster.uid" in metadata:
        access.add(Access("", "namespaces", True))
    if "node" in sources or "k8s.node.uid" in metadata:
        access.add(Access("", "nodes", True))
    if (
        ("k8s.deployment.name" in metadata and not from_replicaset_name)
        or "k8s.deployment.uid" in metadata
        or "deployment" in sources
    ):
        access.add(Access("apps", "replicasets", cluster_wide))
    for source, (group, resource) in WORKLOAD_SOURCES.items():
        if source in sources:
            access.add(Access(group, resource, cluster_wide))
    if "k8s.cronjob.uid" in metadata:
        access.add(Access("batch", "jobs", cluster_wide))
    return access


def granted_access(built_objects: list[dict[str, Any]], service_account: str) -> set[Access]:
    """What the Roles and ClusterRoles bound to ``service_account`` allow, per resource;
    verbs other than list and watch fail the caller's check through ``granted_verbs``."""
    granted = set()
    for rule, cluster_wide in _bound_rules(built_objects, service_account):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.add(Access(group, resource, cluster_wide))
    return granted


def granted_verbs(built_objects: list[dict[str, Any]], service_account: str) -> set[str]:
    return {
        verb for rule, _ in _bound_rules(built_objects, service_account) for verb in rule["verbs"]
    }


def _bound_rules(
    objects: list[dict[str, Any]], service_account: str
) -> list[tuple[dict[str, Any], bool]]:
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"].endswith("Role")}
    found = []
    for binding in [o for o in objects if o["kind"].endswith("RoleBinding")]:
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == service_account
            for s in binding["subjects"]
        ):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        # A ClusterRole bound by a RoleBinding still grants within the namespace only.
        cluster_wide = binding["kind"] == "ClusterRoleBinding"
        found += [(rule, cluster_wide) for rule in role["rules"]]
    return found
