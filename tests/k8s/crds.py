"""The CustomResourceDefinitions the renders' custom resources need, from the operators'
own Go modules (fetched through the Go module proxy at test time, never committed): the
Prometheus Operator's (PrometheusRule, PodMonitor, ...) and the OpenTelemetry Operator's
(Instrumentation, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.k8s import operator_crds

OTEL_OPERATOR = "github.com/open-telemetry/opentelemetry-operator"
# A release the Go module proxy serves here; its Instrumentation is still v1alpha1.
OTEL_OPERATOR_VERSION = "v0.140.0"

# (module, version, folder of CRD files, file pattern)
_SOURCES = [
    (
        operator_crds.MODULE,
        operator_crds.VERSION,
        operator_crds.CRD_DIR,
        f"{operator_crds.GROUP}_*.yaml",
    ),
    (OTEL_OPERATOR, OTEL_OPERATOR_VERSION, Path("config/crd/bases"), "opentelemetry.io_*.yaml"),
]

CrdsByKind = dict[tuple[str, str], Path]


def crd_files() -> CrdsByKind:
    """(group, kind) -> the CRD file defining it, for every CRD of both operators."""
    files: CrdsByKind = {}
    for module, version, folder, pattern in _SOURCES:
        for path in sorted((operator_crds.go_module_dir(module, version) / folder).glob(pattern)):
            crd = load(path)
            files[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = path
    return files


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=operator_crds.CrdLoader)
