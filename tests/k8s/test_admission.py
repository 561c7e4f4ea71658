"""A real API server admits every render: every overlay of every render in cases.py
(both collector topologies and the platform collector kit) is
applied to kube-apiserver (PodSecurity admission on, its namespaces enforcing, warning
and auditing the `restricted` profile, the operators' CRDs installed) with a server-side
dry run and then for real, and a Pod from every workload's template passes `enforce`.
Any refusal and any warning fails. All renders then share that one cluster without
claiming each other's objects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.admission import admission_problems, install_crds, managers
from tests.k8s.cases import ALL_RENDERS, OVERLAYS, case_id
from tests.k8s.conftest import BuildOverlay
from tests.k8s.crds import CrdsByKind
from tests.support.kube_apiserver import KubeApi, object_id

# One worker runs the whole tier, so one API server serves it.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("kube-apiserver")]

RENDERS = [
    pytest.param(case, overlay, id=f"{case_id(case)}-{overlay}")
    for case in ALL_RENDERS
    for overlay in OVERLAYS
]
FIELD_MANAGER_PREFIX = "render-"


def field_manager(case: dict[str, Any], overlay: str) -> str:
    """Each render applies as its own field manager, as a team's pipeline would. The
    platform's collector kit is one per cluster: its overlays are the same objects, applied
    by the one pipeline of the platform team."""
    if case.get("project_kind") == "platform_collector":
        return f"{FIELD_MANAGER_PREFIX}{case_id(case)}"
    return f"{FIELD_MANAGER_PREFIX}{case_id(case)}-{overlay}"


Apply = Callable[[dict[str, Any], str], tuple[list[dict[str, Any]], list[str]]]


@pytest.fixture
def apply(kube_api: KubeApi, crds: CrdsByKind, render, build_overlay: BuildOverlay) -> Apply:
    """Applies one overlay of one render (its CRDs first): its objects and every refusal
    and warning."""

    def _apply(case: dict[str, Any], overlay: str) -> tuple[list[dict[str, Any]], list[str]]:
        project: Path = render(case)
        objects = build_overlay(project, overlay).objects
        install_crds(kube_api, objects, crds)
        return objects, admission_problems(kube_api, objects, field_manager(case, overlay))

    return _apply


@pytest.mark.parametrize(("case", "overlay"), RENDERS)
def test_api_server_admits_every_object_without_warnings(
    apply: Apply, case: dict[str, Any], overlay: str
) -> None:
    objects, problems = apply(case, overlay)
    assert objects
    assert not problems, "\n".join(problems)


def test_renders_share_one_cluster_without_collisions(
    kube_api: KubeApi, apply: Apply, render, build_overlay: BuildOverlay
) -> None:
    """No two renders name the same object (same group, kind, namespace and name): the
    second would silently take over the first's. Checked on the builds, then on the
    cluster: every object is managed by the one render that applied it."""
    owners: dict[str, set[str]] = defaultdict(set)
    builds = {}
    for case in ALL_RENDERS:
        for overlay in OVERLAYS:
            objects = build_overlay(render(case), overlay).objects
            builds[(case_id(case), overlay)] = (case, objects)
            for obj in objects:
                group = obj["apiVersion"].rpartition("/")[0]
                identity = f"{group}/{object_id(obj)}" if group else object_id(obj)
                owners[identity].add(field_manager(case, overlay))
    shared = {identity: names for identity, names in owners.items() if len(names) > 1}
    assert not shared, "\n".join(
        f"{i}: in {', '.join(sorted(n))}" for i, n in sorted(shared.items())
    )

    problems = []
    for (_, overlay), (case, objects) in builds.items():
        _, admission = apply(case, overlay)
        problems += admission
        for obj in objects:
            renders = {m for m in managers(kube_api, obj) if m.startswith(FIELD_MANAGER_PREFIX)}
            if renders != {field_manager(case, overlay)}:
                problems.append(f"{object_id(obj)}: applied by {sorted(renders)}")
    assert not problems, "\n".join(problems)
