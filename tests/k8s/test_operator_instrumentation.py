"""instrumentation: operator. The OpenTelemetry Operator's Instrumentation resource and the
pod annotation that asks for injection, and the in-image set-up standing aside when
auto-instrumentation has already installed an SDK (no second provider, no double export).

The Instrumentation CRD is not in kubernetes-validate and the Operator's module is not
served by the Go proxy here, so its shape is checked field by field below."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.cases import K8S_CASES, OVERLAYS, case_id
from tests.k8s.conftest import BuildOverlay
from tests.k8s.workloads import answers_of
from tests.support.venvs import find_python, install_project

OPERATOR_CASES = [c for c in K8S_CASES if c.get("instrumentation") == "operator"]
SDK_CASES = [c for c in K8S_CASES if c.get("instrumentation", "sdk") == "sdk"]
INJECT = "instrumentation.opentelemetry.io/inject-python"


@pytest.mark.parametrize("answers", OPERATOR_CASES, ids=case_id)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_instrumentation_resource_and_pod_annotation(
    answers: dict[str, Any], overlay: str, render, build_overlay: BuildOverlay
) -> None:
    project = render(answers)
    built = build_overlay(project, overlay)
    [instrumentation] = built.of_kind("Instrumentation")
    assert instrumentation["apiVersion"] == "opentelemetry.io/v1alpha1"
    spec = instrumentation["spec"]
    assert set(spec) == {"exporter", "propagators", "sampler", "python"}
    # The Operator's Python image ships the OTLP/HTTP exporter only.
    assert spec["exporter"] == {"endpoint": "http://otel-agent:4318"}
    python_env = {e["name"]: e["value"] for e in spec["python"]["env"]}
    assert python_env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert spec["sampler"]["type"] == answers_of(project)["sampler"]
    assert spec["propagators"] == ["tracecontext"]
    name = answers["service_name"]
    namespace = built.of_kind("Namespace")[0]["metadata"]["name"]
    assert instrumentation["metadata"]["name"] == name
    assert instrumentation["metadata"]["namespace"] == namespace
    pod = built.get("Deployment", name)["spec"]["template"]["metadata"]
    assert pod["annotations"][INJECT] == name


@pytest.mark.parametrize("answers", SDK_CASES[:2], ids=case_id)
def test_sdk_projects_ask_for_no_injection(
    answers: dict[str, Any], render, build_overlay: BuildOverlay
) -> None:
    built = build_overlay(render(answers), "prod")
    assert not built.of_kind("Instrumentation")
    pod = built.get("Deployment", answers["service_name"])["spec"]["template"]["metadata"]
    assert INJECT not in pod.get("annotations", {})


# Stands in for the Operator's injected sitecustomize: an SDK TracerProvider installed
# before the app is imported. The app must keep it and export through it once.
KEEPS_INJECTED_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

injected = TracerProvider()
spans = InMemorySpanExporter()
injected.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(injected)

from {package}.app import create_app
from {package} import telemetry

app = create_app()
assert trace.get_tracer_provider() is injected, "the app replaced the injected provider"
assert telemetry._providers == [], "the app built providers of its own"
assert app.test_client().get("/hello").status_code == 200
names = [span.name for span in spans.get_finished_spans()]
assert names == ["GET /hello"], names
print("kept the injected provider")
"""


@pytest.mark.slow
@pytest.mark.parametrize("answers", OPERATOR_CASES, ids=case_id)
def test_app_keeps_the_injected_sdk(answers: dict[str, Any], render) -> None:
    project: Path = render(answers)
    assert answers["framework"] == "flask", "the check below drives a Flask app"
    python = find_python(answers["python_version"])
    if python is None:
        pytest.skip(f"Python {answers['python_version']} is not installed here")
    bin_dir = install_project(project, python)
    script = KEEPS_INJECTED_PROVIDER.format(package=answers_of(project)["package_name"])
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        # Nothing leaves the process: the in-image exporters would otherwise try a collector.
        env={
            "PATH": str(bin_dir),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        },
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kept the injected provider" in result.stdout
