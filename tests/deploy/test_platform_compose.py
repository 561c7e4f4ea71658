"""The platform collector kit's compose.yaml: valid against the Compose Specification, only
loopback ports, pinned images, mounts that exist, and each collector's command and
environment from the file accepted by the real collector (`otelcol validate`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.test_compose import compose_spec_schema

KIT_CASES = [
    {"service_name": "kit-compose", "project_kind": "platform_collector"},
    {
        "service_name": "kit-compose-plain",
        "project_kind": "platform_collector",
        "tail_sampling": False,
        "logs_backend": "none",
    },
]


@pytest.fixture(params=KIT_CASES, ids=lambda answers: answers["service_name"])
def kit(request: pytest.FixtureRequest, render) -> Path:
    return render(request.param)


# ${NAME:-default}: what compose puts there when .env does not set NAME.
COMPOSE_DEFAULT = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


def compose_services(kit: Path) -> dict[str, Any]:
    return yaml.safe_load((kit / "compose.yaml").read_text())["services"]


def test_the_kits_compose_file_is_valid_pinned_and_local(kit: Path) -> None:
    schema = compose_spec_schema()
    compose = yaml.safe_load((kit / "compose.yaml").read_text())
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(compose))
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)
    answers = yaml.safe_load((kit / ".copier-answers.yml").read_text())
    services = compose_services(kit)
    assert set(services) == {"otel-agent", "otel-gateway"}
    assert services["otel-gateway"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        assert service["image"].endswith(":0.158.0"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        for volume in service["volumes"]:
            assert (kit / volume.split(":")[0]).is_file(), (name, volume)
    agent_env = services["otel-agent"]["environment"]
    assert ("OTEL_GATEWAY_HEADLESS_HOST" in agent_env) == answers["tail_sampling"]


def test_each_collector_starts_with_its_compose_command(
    kit: Path, otelcol: Path, tmp_path: Path
) -> None:
    for name, service in compose_services(kit).items():
        (volume,) = service["volumes"]
        source, target = volume.split(":")[:2]
        command = [argument.replace(target, str(kit / source)) for argument in service["command"]]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("K8S_")},
            **{k: COMPOSE_DEFAULT.sub(r"\1", str(v)) for k, v in service["environment"].items()},
        }
        result = subprocess.run(
            [str(otelcol), "validate", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}{result.stdout}"
