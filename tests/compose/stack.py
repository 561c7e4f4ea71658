"""The rendered compose.yaml run by podman-compose with a test-only override file layered
over it: images built here (the service's, and the stand-ins of tests/compose/standins.py),
every published port on a free loopback port, the service's telemetry renamed, and the
AGPL services (Grafana, Loki, Tempo) in a profile nobody starts."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.http import http_get
from tests.support.podman import podman

# Not built or run here (AGPL): schema-checked by tests/deploy only.
LEFT_OUT = ("grafana", "loki", "tempo")
# deployment.environment.name, from the shell through compose.yaml's
# ${DEPLOYMENT_ENVIRONMENT:-local}.
ENVIRONMENT_NAME = "compose-test"


class Replace(list):
    """`!override` on a list: replaces the rendered list instead of extending it."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Replace, lambda d, data: d.represent_sequence("!override", list(data)))


@dataclass
class Ports:
    service: int
    jaeger: int
    prometheus: int
    collector_health: int


def override(
    service: str,
    image: str,
    standins: dict[str, str],
    ports: Ports,
    rendered: dict[str, Any],
    environment: dict[str, str],
    more: dict[str, Any] | None = None,
) -> str:
    """The test-only compose file layered over the rendered one: images built here, every
    port on a free loopback port, the service's ``environment`` added, the AGPL
    services in a profile nobody starts, and ``more`` services' overrides."""
    services: dict[str, Any] = {
        service: {
            # Built by this test from the same Dockerfile (with pip reaching the index as
            # this machine's pip does): `up` builds only an image that does not exist.
            "image": image,
            "ports": Replace([f"127.0.0.1:{ports.service}:8000"]),
            "environment": {"OTEL_METRIC_EXPORT_INTERVAL": "1000", **environment},
        },
        "otel-collector": {
            "image": standins["otelcol"],
            "ports": Replace([f"127.0.0.1:{ports.collector_health}:13133"]),
            "environment": {
                "OTEL_COLLECTOR_METRICS_FLUSH_INTERVAL": "1s",
                # Loki is not started: its exporter sends nowhere (a refused connection).
                "LOGS_BACKEND_ENDPOINT": "http://127.0.0.1:9/otlp",
            },
            # The short form: podman-compose's !override reads one level of mapping only.
            "depends_on": Replace(["jaeger"]),
        },
        "jaeger": {
            "image": standins["jaeger"],
            "ports": Replace([f"127.0.0.1:{ports.jaeger}:16686"]),
        },
        "prometheus": {
            "image": standins["prometheus"],
            "ports": Replace([f"127.0.0.1:{ports.prometheus}:9090"]),
        },
        **(more or {}),
    }
    for name in LEFT_OUT:
        if name in rendered["services"]:
            services[name] = {"profiles": ["agpl-not-run-by-tests"]}
    return yaml.dump({"services": services}, Dumper=_Dumper, sort_keys=False)


@dataclass
class Stack:
    project: Path
    name: str
    files: list[Path]
    ports: Ports
    service: str
    # service.name on its telemetry: OTEL_SERVICE_NAME, set by the override file.
    telemetry_name: str

    def command(self) -> list[str]:
        """podman-compose (from this virtualenv) with the project name and both files."""
        return [
            str(Path(sys.executable).with_name("podman-compose")),
            "--project-name",
            self.name,
            *(arg for path in self.files for arg in ("--file", str(path))),
        ]

    def compose(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """podman-compose with both files. It waits for ever on a dependency that exited
        (`podman wait --condition=running`): past ``timeout`` the test fails with the
        state and log of every container."""
        try:
            return subprocess.run(
                [*self.command(), *args],
                cwd=self.project,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            pass
        pytest.fail(f"podman-compose {' '.join(args)}: no exit in {timeout:.0f} s\n{self.report()}")

    def report(self) -> str:
        """Each container's service, state and log tail."""
        lines = []
        for container in self.containers():
            log = podman("logs", "--tail", "8", container["Id"], check=False)
            service = container["Labels"].get("com.docker.compose.service")
            lines.append(f"--- {service}: {container['State']}\n{log.stdout}{log.stderr}")
        return "\n".join(lines)

    def containers(self) -> list[dict[str, Any]]:
        """Every container of this project, whatever its state."""
        label = f"label=io.podman.compose.project={self.name}"
        listing = podman("ps", "--all", "--format", "json", "--filter", label).stdout
        return json.loads(listing or "[]")

    def by_service(self) -> dict[str, dict[str, Any]]:
        """Each compose service's container."""
        return {c["Labels"]["com.docker.compose.service"]: c for c in self.containers()}

    def logs(self, service: str) -> str:
        """Everything the service's container wrote, stdout and stderr."""
        log = podman("logs", self.by_service()[service]["Id"], check=False)
        return log.stdout + log.stderr


@contextlib.contextmanager
def running_stack(
    project: Path, override_text: str, workdir: Path, ports: Ports, service: str, telemetry: str
) -> Iterator[Stack]:
    """`up` the rendered compose.yaml with ``override_text`` over it; `down` and remove
    whatever is left on the way out."""
    override_file = workdir / "compose.test.yaml"
    override_file.write_text(override_text)
    name = f"{service}-{uuid.uuid4().hex[:6]}"
    files = [project / "compose.yaml", override_file]
    running = Stack(project, name, files, ports, service, telemetry)
    try:
        shell = {**os.environ, "DEPLOYMENT_ENVIRONMENT": ENVIRONMENT_NAME}
        up = running.compose("up", "--detach", env=shell)
        assert up.returncode == 0, f"compose up failed:\n{up.stderr[-3000:]}\n{running.report()}"
        yield running
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                [*running.command(), "down", "--timeout", "10"],
                cwd=project,
                capture_output=True,
                timeout=180,
            )
        # Whatever `down` missed (each module's test_down_leaves_nothing_running reports it).
        if leftovers := running.containers():
            podman("rm", "--force", *[c["Id"] for c in leftovers], check=False)
        podman("network", "rm", "--force", f"{name}_default", check=False)


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    status, body = http_get(url, headers)
    assert status == 200, f"{url}: {status} {body[:500]!r}"
    return json.loads(body)


def assert_down_leaves_nothing(stack: Stack) -> None:
    down = stack.compose("down", "--timeout", "10")
    assert down.returncode == 0, down.stderr[-3000:]
    assert stack.containers() == [], stack.containers()
    networks = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [n for n in networks if n.startswith(stack.name)], networks
