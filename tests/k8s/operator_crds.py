"""The Prometheus Operator's CRDs (PodMonitor, PrometheusRule, ...) as strict JSON schemas:
the CRD files ship in the operator's Go module, fetched once through the Go module proxy
into Go's module cache. Strict as `kubernetes-validate --strict` and kubeconform -strict
are: an object that lists its properties accepts no other."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

MODULE = "github.com/prometheus-operator/prometheus-operator"
# The newest release the Go module proxy serves here.
VERSION = "v0.85.0"
CRD_DIR = Path("example/prometheus-operator-crd")
GROUP = "monitoring.coreos.com"


def module_dir() -> Path:
    return go_module_dir(MODULE, VERSION)


def go_module_dir(module: str, version: str) -> Path:
    """The source of ``module@version`` in Go's module cache, downloaded if missing."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        pytest.fail(f"go mod download {module}@{version}: {info.get('Error') or result.stderr}")
    return Path(info["Dir"])


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            schema["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _strict(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_strict(s) for s in schema[key]]
    return schema


class CrdLoader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (an enum value in some CRDs) as its obsolete value tag."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: node.value)


def operator_schemas(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema, for every CRD of the operator."""
    schemas = {}
    for path in sorted((directory / CRD_DIR).glob(f"{GROUP}_*.yaml")):
        crd = yaml.load(path.read_text(), Loader=CrdLoader)
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            # metadata is the ObjectMeta the API server checks itself.
            schema["properties"]["metadata"] = {"type": "object"}
            schemas[(f"{GROUP}/{version['name']}", kind)] = schema
    return schemas


def operator_errors(
    obj: dict[str, Any], schemas: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    schema = schemas[(obj["apiVersion"], obj["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    name = f"{obj['kind']}/{obj['metadata'].get('name')}"
    return [
        f"{name}: {'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)
    ]
