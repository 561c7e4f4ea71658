"""`podman run` flags that run a container the way the rendered Deployment runs it: read
from deploy/k8s/base/deployment.yaml, so the container tests and the manifests cannot
drift apart. A setting this module does not know how to reproduce fails the test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# Settings with nothing to add to `podman run`: the RuntimeDefault seccomp profile is
# podman's default; fsGroup owns volumes, and the tmpfs mounts below are world-writable
# like an emptyDir; runAsNonRoot is checked against runAsUser instead.
_DEFAULT_SECCOMP_PROFILES = {None, "RuntimeDefault"}
_KNOWN_POD_KEYS = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
_KNOWN_CONTAINER_KEYS = {
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "capabilities",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "seccompProfile",
}
_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi)?$")


def _tmpfs_size(quantity: str) -> str:
    match = _QUANTITY.match(quantity)
    assert match, f"emptyDir sizeLimit {quantity!r}: not a quantity this test can convert"
    number, unit = match.groups()
    return number + {"Ki": "k", "Mi": "m", "Gi": "g", None: ""}[unit]


def service_container(deployment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod spec and its one container."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def run_flags(deployment_yaml: Path) -> list[str]:
    """The `podman run` flags for the Deployment's container security and volumes."""
    deployment = yaml.safe_load(deployment_yaml.read_text())
    pod, container = service_container(deployment)
    pod_security = pod.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    unknown = (set(pod_security) - _KNOWN_POD_KEYS) | (
        set(container.get("securityContext", {})) - _KNOWN_CONTAINER_KEYS
    )
    assert not unknown, f"securityContext settings this test cannot reproduce: {sorted(unknown)}"
    profile = security.get("seccompProfile", {}).get("type")
    assert profile in _DEFAULT_SECCOMP_PROFILES, f"seccompProfile {profile}: not reproduced"

    flags: list[str] = []
    if "runAsUser" in security:
        user = security["runAsUser"]
        if security.get("runAsNonRoot"):
            assert user != 0, "runAsNonRoot with runAsUser 0"
        flags += ["--user", f"{user}:{security.get('runAsGroup', user)}"]
    if security.get("readOnlyRootFilesystem"):
        # podman would add its own writable tmpfs on /tmp, /var/tmp and /run: only the
        # manifest's volumes may be writable, as in the pod.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    capabilities = security.get("capabilities", {})
    flags += [f"--cap-drop={cap}" for cap in capabilities.get("drop", [])]
    flags += [f"--cap-add={cap}" for cap in capabilities.get("add", [])]

    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume, f"volume {mount['name']}: only emptyDir is reproduced"
        options = ["rw", "mode=1777"]
        if size := (volume["emptyDir"] or {}).get("sizeLimit"):
            options.append(f"size={_tmpfs_size(size)}")
        flags += ["--tmpfs", f"{mount['mountPath']}:{','.join(options)}"]
    return flags
