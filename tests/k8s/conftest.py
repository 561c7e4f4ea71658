"""Fixtures of the Kubernetes tier: the pinned tools (kustomize, checkov), the
kustomize output of a rendered project's overlays, and a real API server (etcd and
kube-apiserver built from upstream) for the admission tier."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.cases import K8S_CASES, OVERLAYS, case_id
from tests.k8s.crds import CrdsByKind, crd_files
from tests.support.built_tools import built_tool
from tests.support.kube_apiserver import Binaries, KubeApi, kube_apiserver


@dataclass(frozen=True)
class K8sTools:
    kustomize: Path
    checkov: Path


@dataclass(frozen=True)
class Build:
    """``kustomize build`` of one overlay: the YAML text and its objects."""

    text: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The object of ``kind`` named ``name`` (generated ConfigMaps: by name prefix)."""
        found = [
            o
            for o in self.of_kind(kind)
            if o["metadata"]["name"] == name
            or (kind == "ConfigMap" and o["metadata"]["name"].rsplit("-", 1)[0] == name)
        ]
        assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
        return found[0]


BuildOverlay = Callable[[Path, str], Build]


@pytest.fixture(scope="session")
def k8s_tools() -> K8sTools:
    return K8sTools(
        kustomize=built_tool("build-kustomize", "KUSTOMIZE_BIN", timeout=1800),
        checkov=built_tool("install-checkov", "CHECKOV_BIN", timeout=1800),
    )


@pytest.fixture(scope="session")
def build_overlay(k8s_tools: K8sTools) -> BuildOverlay:
    """``kustomize build deploy/k8s/overlays/<overlay>`` of a rendered project, cached."""
    cache: dict[tuple[Path, str], Build] = {}

    def _build(project: Path, overlay: str) -> Build:
        key = (project, overlay)
        if key not in cache:
            result = subprocess.run(
                [str(k8s_tools.kustomize), "build", f"deploy/k8s/overlays/{overlay}"],
                cwd=project,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"kustomize build {overlay} failed:\n{result.stderr}"
            objects = [o for o in yaml.safe_load_all(result.stdout) if o]
            cache[key] = Build(result.stdout, objects)
        return cache[key]

    return _build


@pytest.fixture(params=K8S_CASES, ids=case_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    """A rendered project of each Kubernetes case (a module may narrow the cases with a
    `project` fixture of its own)."""
    return render(request.param)


@pytest.fixture(params=OVERLAYS)
def built(request: pytest.FixtureRequest, project: Path, build_overlay: BuildOverlay) -> Build:
    """``project``'s overlays, each as kustomize builds it."""
    return build_overlay(project, request.param)


@pytest.fixture(scope="session")
def kube_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApi]:
    """One etcd and kube-apiserver for the session (the admission tier is one xdist
    group, so one worker starts them), stopped at the end whatever happens."""
    binaries = Binaries(
        etcd=built_tool("build-etcd", "ETCD_BIN", timeout=1800),
        kube_apiserver=built_tool("build-kube-apiserver", "KUBE_APISERVER_BIN", timeout=3600),
    )
    with kube_apiserver(binaries, tmp_path_factory.mktemp("kube-apiserver")) as api:
        yield api


@pytest.fixture(scope="session")
def crds() -> CrdsByKind:
    return crd_files()
