"""The Backstage software template and the rendered catalog-info.yaml, checked by
Backstage's own validators (npm @backstage/catalog-model and plugin-scaffolder-common)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import questions, template_source
from generator.rendering import TEMPLATE_ROOT
from tests.support.built_tools import built_tool

TEMPLATE_YAML = TEMPLATE_ROOT / "backstage" / "template.yaml"
JSON_TYPES = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}
# Derived from service_name; Backstage would send "" for an untouched optional field.
# package_name follows service_name; the platform collector kit (project_kind and its
# collector_namespace) is rendered once per cluster by the platform team, not from a form;
# copier derives platform_otlp_endpoint from the exporters (its port is the protocol's).
# Not in the form: derived or platform-specific answers, and broker_address, whose default
# follows the deploy targets (a form field would send "" and override it).
NOT_MIRRORED = {
    "package_name",
    "project_kind",
    "collector_namespace",
    "platform_otlp_endpoint",
    "broker_address",
}
# Defaults copier computes from other answers, as they come out for a service.
COMPUTED_DEFAULTS = {"tail_sampling": False}
# Picked from the catalog's groups (OwnerPicker), or typed (copier's default is the
# destination folder's name, which Backstage does not have): no default in the form.
NO_DEFAULT = {"owner", "service_name"}

ANSWER_SETS: list[dict[str, Any]] = [
    {"service_name": "checkout-api"},
    {"service_name": "a" * 63, "owner": "team payments", "description": 'Says "hi": #1 ü'},
    {"service_name": "tiny", "deploy_targets": [], "dashboard": False, "ci": "none"},
    {"service_name": "k8s-only", "deploy_targets": ["kubernetes"]},
]


@pytest.fixture(scope="session")
def backstage_validator() -> Path:
    return built_tool("install-backstage-validator", "BACKSTAGE_VALIDATOR_DIR", timeout=600)


def validate(validator: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(validator / "validate.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_validator_rejects_invalid_entities(backstage_validator: Path, tmp_path: Path) -> None:
    bad_component = tmp_path / "catalog-info.yaml"
    bad_component.write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Bad Name!\n"
        "spec:\n  type: service\n  lifecycle: experimental\n  owner: team\n"
    )
    template = yaml.safe_load(TEMPLATE_YAML.read_text())
    del template["spec"]["steps"]
    bad_template = tmp_path / "template.yaml"
    bad_template.write_text(yaml.safe_dump(template))

    result = validate(backstage_validator, bad_component, bad_template)

    assert result.returncode == 1
    assert f"error {bad_component}" in result.stdout
    assert f"error {bad_template}" in result.stdout


def test_template_and_rendered_catalog_info_are_valid_entities(
    backstage_validator: Path, render
) -> None:
    catalog_files = [render(answers) / "catalog-info.yaml" for answers in ANSWER_SETS]

    result = validate(backstage_validator, TEMPLATE_YAML, *catalog_files)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\nok ") + result.stdout.startswith("ok ") == 1 + len(catalog_files)


@pytest.mark.parametrize("answers", ANSWER_SETS, ids=lambda a: a["service_name"][:12])
def test_catalog_info_links_what_the_project_renders(render, answers: dict[str, Any]) -> None:
    project = render(answers)
    entity = yaml.safe_load((project / "catalog-info.yaml").read_text())
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    annotations = entity["metadata"]["annotations"]
    name = recorded["service_name"]

    assert entity["metadata"]["name"] == name
    template_name = yaml.safe_load(TEMPLATE_YAML.read_text())["metadata"]["name"]
    assert annotations["backstage.io/source-template"] == f"template:default/{template_name}"
    assert entity["metadata"]["description"] == recorded["description"]
    assert entity["spec"]["owner"] == recorded["owner"].strip().replace(" ", "-")
    kubernetes = "kubernetes" in recorded["deploy_targets"]
    assert (annotations.get("backstage.io/kubernetes-id") == name) is kubernetes
    if kubernetes:
        selector = annotations["backstage.io/kubernetes-label-selector"]
        kustomization = (project / "deploy/k8s/base/kustomization.yaml").read_text()
        assert selector == f"app.kubernetes.io/part-of={name}"
        assert f"app.kubernetes.io/part-of: {name}" in kustomization
    dashboards = list((project / "observability" / "dashboards").glob("*.json"))
    if recorded["dashboard"]:
        (dashboard,) = dashboards
        uid = json.loads(dashboard.read_text())["uid"]
        assert annotations["otel-service-template/dashboard-uid"] == uid
        assert name in json.loads(dashboard.read_text())["tags"]
        links = [link["url"] for link in entity["metadata"].get("links", [])]
        assert links == (
            [f"http://localhost:3000/d/{uid}"] if "compose" in recorded["deploy_targets"] else []
        )
    else:
        assert not dashboards
        assert "otel-service-template/dashboard-uid" not in annotations


def test_template_parameters_mirror_every_prompt() -> None:
    template = yaml.safe_load(TEMPLATE_YAML.read_text())
    properties = {
        name: spec
        for page in template["spec"]["parameters"]
        for name, spec in page["properties"].items()
    }
    (fetch,) = [step for step in template["spec"]["steps"] if step["action"] == "fetch:copier"]
    config = template_source.copier_config(str(TEMPLATE_ROOT), "HEAD")

    prompts = {n: q for n, q in questions.prompts(config).items() if n not in NOT_MIRRORED}
    assert set(fetch["input"]["values"]) == set(prompts)
    for name, question in prompts.items():
        spec = properties[name]
        choices = list(question.choices.values())
        if question.multiselect:
            assert spec["type"] == "array", name
            assert spec["items"]["enum"] == choices, name
        else:
            assert spec["type"] == JSON_TYPES[question.type], name
            if choices:
                assert spec["enum"] == choices, name
        if question.default is not None and name not in NO_DEFAULT:
            assert spec["default"] == COMPUTED_DEFAULTS.get(name, question.default), name
        assert fetch["input"]["values"][name].startswith(f"${{{{ parameters.{name}"), name
