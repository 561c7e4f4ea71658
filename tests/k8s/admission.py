"""Applying a kustomize build to the test API server the way `kubectl apply
--server-side` would, and collecting everything the API server says against it:
refusals (schema, admission, field-manager conflicts) and warnings (PodSecurity `warn`,
deprecations, unknown fields)."""

from __future__ import annotations

import time
from typing import Any

from tests.k8s.crds import CrdsByKind, load
from tests.k8s.workloads import WORKLOAD_KINDS
from tests.support.kube_apiserver import ApiError, KubeApi, object_id

RESTRICTED = "restricted"
POD_SECURITY_MODES = ("enforce", "warn", "audit")
CRD_ESTABLISHED_TIMEOUT = 60.0


def namespace_object(name: str) -> dict[str, Any]:
    """A namespace enforcing, warning and auditing the restricted profile."""
    labels = {f"pod-security.kubernetes.io/{mode}": RESTRICTED for mode in POD_SECURITY_MODES}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod_security_problems(namespace: dict[str, Any]) -> list[str]:
    """What keeps a namespace, as stored, from enforcing and warning on `restricted`."""
    labels = namespace["metadata"].get("labels", {})
    return [
        f"Namespace/{namespace['metadata']['name']}: pod-security.kubernetes.io/{mode} is "
        f"{labels.get(f'pod-security.kubernetes.io/{mode}')!r}, not {RESTRICTED!r}"
        for mode in POD_SECURITY_MODES
        if labels.get(f"pod-security.kubernetes.io/{mode}") != RESTRICTED
    ]


def install_crds(api: KubeApi, objects: list[dict[str, Any]], crds: CrdsByKind) -> None:
    """Install (once) the CRD of every custom resource in ``objects``; wait until served."""
    for obj in objects:
        group = obj["apiVersion"].rpartition("/")[0]
        if (group, obj["kind"]) not in crds or _served(api, obj):
            continue
        crd = load(crds[(group, obj["kind"])])
        name = crd["metadata"]["name"]
        api.apply(crd, field_manager="admission-tier", dry_run=False)
        deadline = time.monotonic() + CRD_ESTABLISHED_TIMEOUT
        while not _established(
            api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        ):
            assert time.monotonic() < deadline, f"CRD {name} not established"
            time.sleep(0.2)


def _served(api: KubeApi, obj: dict[str, Any]) -> bool:
    try:
        api.resource(obj["apiVersion"], obj["kind"])
    except ApiError:
        return False
    return True


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    """A Pod as the workload's controller would create it from its pod template."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec["template"]
    metadata = workload["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template.get("metadata", {}),
            "name": f"{metadata['name']}-admission-check",
            "namespace": metadata["namespace"],
        },
        "spec": template["spec"],
    }


def admission_problems(
    api: KubeApi, objects: list[dict[str, Any]], field_manager: str
) -> list[str]:
    """Apply ``objects`` (namespaces first, each checked to enforce `restricted`; then
    everything with a server-side dry run, then for real), then dry-run a Pod from every
    workload's template, which PodSecurity's `enforce` mode judges (it only warns on the
    workloads themselves). Returns every refusal and every warning."""
    problems: list[str] = []

    def apply_all(batch: list[dict[str, Any]], *, dry_run: bool) -> None:
        for obj in batch:
            try:
                warnings = api.apply(obj, field_manager=field_manager, dry_run=dry_run)
            except ApiError as error:
                problems.append(str(error))
                continue
            mode = "dry run" if dry_run else "apply"
            problems.extend(f"{mode} {object_id(obj)}: warning: {w}" for w in warnings)

    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    declared = {o["metadata"]["name"] for o in namespaces}
    # A namespace the build uses but does not declare (an installer creates it) is made
    # here the way the renders make theirs.
    used = {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
    namespaces += [namespace_object(name) for name in sorted(used - declared)]
    rest = [o for o in objects if o["kind"] != "Namespace"]

    apply_all(namespaces, dry_run=True)
    apply_all(namespaces, dry_run=False)
    for namespace in namespaces:
        name = namespace["metadata"]["name"]
        problems += pod_security_problems(api.get(f"/api/v1/namespaces/{name}"))
    if problems:
        return problems
    apply_all(rest, dry_run=True)
    if problems:
        return problems
    apply_all(rest, dry_run=False)
    for workload in (o for o in rest if o["kind"] in WORKLOAD_KINDS):
        pod = pod_of(workload)
        try:
            warnings = api.create(pod, dry_run=True)
        except ApiError as error:
            problems.append(f"pod of {object_id(workload)}: {error}")
            continue
        problems.extend(f"pod of {object_id(workload)}: warning: {w}" for w in warnings)
    return problems


def managers(api: KubeApi, obj: dict[str, Any]) -> set[str]:
    """The field managers of ``obj`` as stored: who applied it."""
    stored = api.get(api.path(obj))
    return {entry["manager"] for entry in stored["metadata"].get("managedFields", [])}
