"""The answer combinations the collector tests render, and helpers to read a rendered
collector config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support.matrix import MATRIX, matrix_id

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path("collector") / "otelcol-config.yaml"
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")

# The collector config depends on the backend answers; the rest of the matrix rides along
# so every combination the other tiers render is also checked here. MATRIX leaves the
# backends at their defaults (jaeger, loki); the other backend pairs use the first entry.
_BACKEND_PAIRS = [("jaeger", "none"), ("tempo", "loki"), ("tempo", "none")]
COLLECTOR_ANSWERS: list[dict[str, Any]] = [
    *MATRIX,
    *(
        {**MATRIX[0], "traces_backend": traces, "logs_backend": logs}
        for traces, logs in _BACKEND_PAIRS
    ),
    # Tail sampling adds a second traces pipeline: the same rules apply to it.
    {**MATRIX[0], "tail_sampling": True, "traces_backend": "tempo", "logs_backend": "none"},
]

# ${env:NAME} or ${env:NAME:-default}, as the collector's env provider reads them.
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def backends(answers: dict[str, Any]) -> tuple[str, str]:
    return answers.get("traces_backend", "jaeger"), answers.get("logs_backend", "loki")


def answers_id(answers: dict[str, Any]) -> str:
    tail = ["tail_sampling"] if answers.get("tail_sampling") else []
    return "-".join([matrix_id(answers), *backends(answers), *tail])


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def env_references(text: str) -> dict[str, str | None]:
    """Every environment variable the config reads, with its default (None: no default).

    Only YAML values count: the collector expands nothing inside comments.
    """
    return {
        match[1]: match[2]
        for value in _strings(yaml.safe_load(text))
        for match in ENV_REFERENCE.finditer(value)
    }


def load_config(project: Path) -> dict[str, Any]:
    """The rendered collector config as the collector sees it with no variables set."""
    text = (project / CONFIG).read_text()
    resolved = ENV_REFERENCE.sub(lambda match: match[2] if match[2] is not None else "", text)
    return yaml.safe_load(resolved)


def component_type(component_id: str) -> str:
    """``otlp_grpc/jaeger`` -> ``otlp_grpc``."""
    return component_id.split("/", 1)[0]


def used_components(config: dict[str, Any]) -> dict[str, set[str]]:
    """Component types per kind: everything defined, plus everything pipelines name."""
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind in KINDS:
        used[kind].update(component_type(cid) for cid in config.get(kind) or {})
    service = config.get("service") or {}
    used["extensions"].update(component_type(cid) for cid in service.get("extensions") or [])
    for pipeline in (service.get("pipelines") or {}).values():
        for kind in ("receivers", "processors", "exporters"):
            for cid in pipeline.get(kind) or []:
                # A connector is named as an exporter of one pipeline and a receiver of another.
                target = "connectors" if cid in (config.get("connectors") or {}) else kind
                used[target].add(component_type(cid))
    return used
