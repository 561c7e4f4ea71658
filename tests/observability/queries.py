"""What the rendered dashboard and rules query, and the one list of metric names they may use.

The names come from `metric_names` in copier.yml, the same map the templates read, so a
rename is one edit there and these tests follow it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.rendering import TEMPLATE_ROOT

HISTOGRAMS = ("http_server_duration", "span_duration", "message_process_duration")
PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan"}
)


def metric_names() -> dict[str, str]:
    """The `metric_names` map of copier.yml (plain JSON in a YAML string, no Jinja)."""
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    return json.loads(config["metric_names"]["default"])


def allowed_series_names(recording_rules: set[str]) -> set[str]:
    """Every series name the rendered files may query: the map's names, the histograms'
    _bucket/_count/_sum series, and the project's own recording rules."""
    names = metric_names()
    allowed = set(names.values()) | recording_rules
    for key in HISTOGRAMS:
        allowed |= {f"{names[key]}_{suffix}" for suffix in ("bucket", "count", "sum")}
    return allowed


def series_names(promql: str) -> set[str]:
    """Metric names a PromQL expression selects (strings, label matchers, grouping
    clauses, durations and function calls removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"(?<![A-Za-z0-9_:.])[0-9.]+(?:e[+-]?[0-9]+)?", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or name.lower() in PROMQL_KEYWORDS:
            continue
        found.add(name)
    return found


@dataclass(frozen=True)
class Query:
    where: str  # the panel title or rule name, for failure messages
    expr: str
    datasource: str  # prometheus, loki, tempo or jaeger


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            kind = target["datasource"]["type"]
            expr = target.get("expr") or target.get("query") or json.dumps(target)
            found.append(Query(f"panel '{panel['title']}' ({target['refId']})", expr, kind))
    return found


@dataclass(frozen=True)
class LabelValues:
    """A `label_values(selector, label)` template variable."""

    variable: str
    selector: str
    label: str


def label_value_variables(dashboard: dict[str, Any]) -> list[LabelValues]:
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
        assert match, f"variable '{variable['name']}': not a label_values() query"
        found.append(LabelValues(variable["name"], match.group(1), match.group(2)))
    return found


def variable_queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(f"variable '{v.variable}'", v.selector, "prometheus")
        for v in label_value_variables(dashboard)
    ]


def groups_of(rules_files: Sequence[Path]) -> list[dict[str, Any]]:
    return [group for path in rules_files for group in yaml.safe_load(path.read_text())["groups"]]


def rule_queries(rules_files: Sequence[Path]) -> list[Query]:
    return [
        Query(f"rule '{rule.get('record') or rule.get('alert')}'", rule["expr"], "prometheus")
        for group in groups_of(rules_files)
        for rule in group["rules"]
    ]


def recording_rules(rules_files: Sequence[Path]) -> set[str]:
    groups = groups_of(rules_files)
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def rendered(project: Path) -> tuple[list[Path], Path | None]:
    """The project's rules files (the service's and, with a collector of its own, the
    collector's) and its dashboard (None when `dashboard` is false)."""
    rules_files = sorted((project / "observability/rules").glob("*.rules.yml"))
    dashboards = sorted((project / "observability/dashboards").glob("*.json"))
    return rules_files, (dashboards[0] if dashboards else None)
