"""The rendered Grafana dashboard: validated by Grafana's own schema-generated models
(grafana-foundation-sdk), queries only the names copier.yml lists, provisioned by compose
and shipped as a sidecar ConfigMap on Kubernetes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.observability.cases import OBSERVABILITY_CASES, case_id
from tests.observability.queries import (
    allowed_series_names,
    dashboard_queries,
    recording_rules,
    rendered,
    rule_queries,
    series_names,
    variable_queries,
)
from tests.support.built_tools import built_tool

register_default_plugins()


@pytest.fixture(scope="module", params=OBSERVABILITY_CASES, ids=case_id)
def project(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


def answers_of(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def dashboard_of(project: Path) -> dict[str, Any]:
    _, dashboard = rendered(project)
    if dashboard is None:
        pytest.fail(f"no dashboard rendered in {project}")
    return json.loads(dashboard.read_text())


def differences(original: Any, again: Any, path: str = "") -> list[str]:
    """Where the SDK's re-encoding lost or changed something (schema defaults it adds are fine)."""
    if isinstance(original, dict) and isinstance(again, dict):
        found = [f"{path}/{key}: unknown to the schema" for key in original if key not in again]
        for key in original.keys() & again.keys():
            found += differences(original[key], again[key], f"{path}/{key}")
        return found
    if isinstance(original, list) and isinstance(again, list) and len(original) == len(again):
        return [
            d
            for i, pair in enumerate(zip(original, again, strict=True))
            for d in differences(*pair, f"{path}[{i}]")
        ]
    return [] if original == again else [f"{path}: {original!r} became {again!r}"]


def test_dashboard_exists_only_when_asked(project: Path) -> None:
    _, dashboard = rendered(project)
    assert (dashboard is not None) == answers_of(project)["dashboard"]


def test_grafana_models_accept_the_dashboard(project: Path) -> None:
    if not answers_of(project)["dashboard"]:
        return
    data = dashboard_of(project)
    model = Dashboard.from_json(data)
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    assert differences(data, again) == []
    known_panels = set(runtime.Runtime().panelcfg_variants) | {"row"}
    for panel, raw in zip(model.panels, data["panels"], strict=True):
        assert panel.type_val in known_panels, f"panel '{panel.title}': unknown type"
        for target, raw_target in zip(
            getattr(panel, "targets", None) or [], raw.get("targets", []), strict=True
        ):
            kind = raw_target["datasource"]["type"]
            # The SDK has no Jaeger query model; every other target must decode to its
            # datasource's typed query.
            if kind != "jaeger":
                assert not isinstance(target, runtime.UnknownDataquery), (
                    f"panel '{panel.title}': {kind} query not recognised by the schema"
                )


def test_uid_is_stable_and_valid(project: Path, render) -> None:
    if not answers_of(project)["dashboard"]:
        return
    name = answers_of(project)["service_name"]
    assert dashboard_of(project)["uid"] == name
    long_name = "a-service-name-that-is-longer-than-grafana-allows-for-a-uid-x1"
    uid = dashboard_of(render({"service_name": long_name}))["uid"]
    assert uid == f"{long_name[:31]}-{hashlib.sha1(long_name.encode()).hexdigest()[:8]}"
    assert len(uid) <= 40


def test_queries_use_only_the_names_in_copier_yml(project: Path) -> None:
    rules_files, dashboard = rendered(project)
    allowed = allowed_series_names(recording_rules(rules_files))
    queries = rule_queries(rules_files)
    if dashboard is not None:
        data = json.loads(dashboard.read_text())
        queries += [q for q in dashboard_queries(data) if q.datasource == "prometheus"]
        queries += variable_queries(data)
    selected = set()
    for query in queries:
        names = series_names(query.expr)
        assert names, f"{query.where}: no metric found in {query.expr}"
        assert names <= allowed, f"{query.where} queries {names - allowed}: not in copier.yml"
        selected |= names
    # The parser is not vacuous: it finds the histogram and the collector's own metrics.
    assert "http_server_request_duration_seconds_count" in selected
    assert "otelcol_receiver_refused_spans" in selected


def test_dashboard_follows_the_backends(project: Path) -> None:
    answers = answers_of(project)
    if not answers["dashboard"]:
        return
    data = dashboard_of(project)
    kinds = {q.datasource for q in dashboard_queries(data)}
    expected = {"prometheus", answers["traces_backend"]}
    if answers["logs_backend"] == "loki":
        expected.add("loki")
    assert kinds == expected
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["traces_datasource"]["query"] == answers["traces_backend"]
    assert ("logs_datasource" in variables) == (answers["logs_backend"] == "loki")
    assert [p["id"] for p in data["panels"]] == list(range(1, len(data["panels"]) + 1))


def test_compose_provisions_the_dashboard(project: Path) -> None:
    answers = answers_of(project)
    if "compose" not in answers["deploy_targets"]:
        return
    grafana = yaml.safe_load((project / "compose.yaml").read_text())["services"]["grafana"]
    provider_file = project / "deploy/compose/grafana/provisioning/dashboards/dashboards.yaml"
    if not answers["dashboard"]:
        assert not provider_file.exists()
        assert not any("/etc/grafana/dashboards" in v for v in grafana["volumes"])
        return
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert f"./observability/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]


def test_kubernetes_ships_the_dashboard_to_the_grafana_sidecar(project: Path) -> None:
    answers = answers_of(project)
    kustomization = project / "observability/kustomization.yaml"
    if "kubernetes" not in answers["deploy_targets"]:
        assert not kustomization.exists()
        return
    config = yaml.safe_load(kustomization.read_text())
    if not answers["dashboard"]:
        assert "configMapGenerator" not in config
        return
    (generator,) = config["configMapGenerator"]
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert generator["options"]["disableNameSuffixHash"] is True
    (dashboard_file,) = generator["files"]
    assert (kustomization.parent / dashboard_file).is_file()


def test_promtool_parses_every_dashboard_query(project: Path, tmp_path: Path) -> None:
    """Prometheus's own parser on every panel and variable query, as recording rules."""
    if not answers_of(project)["dashboard"]:
        return
    data = dashboard_of(project)
    queries = [q for q in dashboard_queries(data) if q.datasource == "prometheus"]
    queries += variable_queries(data)
    grafana_variables = {
        "$__rate_interval": "1m",
        "$__range": "1h",
        "$environment": ".*",
        "$route": ".*",
    }
    rules = []
    for index, query in enumerate(queries):
        expr = query.expr
        for variable, value in grafana_variables.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{query.where}: unknown variable in {expr}"
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not on PATH: scripts/test installs Debian's prometheus package")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomize_builds_the_observability_folder(project: Path) -> None:
    """The folder deploy/k8s/base includes, built by the real kustomize on its own."""
    if "kubernetes" not in answers_of(project)["deploy_targets"]:
        return
    kustomize = built_tool("build-kustomize", "KUSTOMIZE_BIN", timeout=1800)
    result = subprocess.run(
        [str(kustomize), "build", str(project / "observability")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    built = {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout)}
    assert built["PrometheusRule"]["metadata"]["name"] == answers_of(project)["service_name"]
    if answers_of(project)["dashboard"]:
        config_map = built["ConfigMap"]
        name = answers_of(project)["service_name"]
        assert config_map["metadata"]["name"] == f"{name}-dashboard"
        assert config_map["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert json.loads(config_map["data"][f"{name}.json"]) == dashboard_of(project)
    else:
        # The rules and the PodMonitors that scrape what they read (tests/k8s): the
        # collectors' with a collector of the service's own, its exporter's with one.
        answers = answers_of(project)
        monitors = (
            answers["collector_topology"] == "bundled" or "prometheus" in answers["exporters"]
        )
        assert set(built) == {"PrometheusRule", *(["PodMonitor"] if monitors else [])}
