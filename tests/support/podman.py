"""The container engine for the image and compose tiers: podman (installed and configured
by scripts/install-podman), the local stand-in for the official Python base image, and
image builds that reach the package index the way this machine's pip does."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from generator.rendering import TEMPLATE_ROOT
from tests.support.venvs import lock_project

# The Python version of the stand-in base: Debian trixie's python3.
BASE_PYTHON = "3.13"

# pip settings that mean the same inside a build container as on this machine (a local
# find-links folder, for one, does not exist there).
_PORTABLE_PIP_SETTINGS = (
    "index-url",
    "extra-index-url",
    "trusted-host",
    "cert",
    "client-cert",
    "default-timeout",
    "retries",
)


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``podman ARGS``; a failure shows podman's own output."""
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(
            f"podman {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def base_image() -> str:
    """The stand-in for python:3.13-slim-trixie that scripts/install-podman built (its name
    comes from $PYTHON_BASE_IMAGE when scripts/test ran the script already)."""
    if name := os.environ.get("PYTHON_BASE_IMAGE"):
        return name
    result = subprocess.run(
        [str(TEMPLATE_ROOT / "scripts" / "install-podman")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(f"scripts/install-podman failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return lines[-1]


def _pip_settings() -> dict[str, str]:
    """This machine's effective pip settings (files and PIP_* variables), as pip sees them."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings: dict[str, str] = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        if name in _PORTABLE_PIP_SETTINGS:
            settings[name] = value.strip("'\"")
    return settings


def pip_build_volumes(workdir: Path) -> list[str]:
    """``podman build -v`` flags that give pip and uv inside the build this machine's index,
    proxy certificate and timeouts: a generated /etc/pip.conf and /etc/uv/uv.toml, and each
    file pip.conf names mounted read-only at the same path. Only the build's RUN steps see
    them, not the image."""
    settings = _pip_settings()
    config = configparser.ConfigParser()
    config["global"] = settings
    pip_conf = workdir / "pip.conf"
    with pip_conf.open("w") as handle:
        config.write(handle)
    volumes = ["-v", f"{pip_conf}:/etc/pip.conf:ro"]
    # uv (the Dockerfile's installer) trusts the system's certificates, which the cert
    # mount below replaces with this machine's bundle, as it trusts them here.
    uv_toml = workdir / "uv.toml"
    uv_toml.write_text("native-tls = true\n")
    volumes += ["-v", f"{uv_toml}:/etc/uv/uv.toml:ro"]
    for name in ("cert", "client-cert"):
        if path := settings.get(name):
            volumes += ["-v", f"{path}:{path}:ro"]
    return volumes


def image_tag_for(service: str) -> str:
    """One tag per rendered service, kept between runs: a rebuild of unchanged files is
    a cache hit that leaves nothing behind, and no test removes an image whose layers
    another pytest worker's build may be using."""
    return f"localhost/otel-service-template/{service}:test"


def build_image(project: Path, tag: str, workdir: Path) -> float:
    """Build the project's Dockerfile as it is, on the stand-in base, from its uv.lock (made
    as the copy task makes it when the render skipped that); returns seconds taken.
    Docker format, because the OCI format has no HEALTHCHECK and podman drops it."""
    lock_project(project)
    started = time.monotonic()
    podman(
        "build",
        "--format",
        "docker",
        "--build-arg",
        f"PYTHON_IMAGE={base_image()}",
        *pip_build_volumes(workdir),
        "--tag",
        tag,
        str(project),
        timeout=900,
    )
    return time.monotonic() - started


def image_size(tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)


def health_status(container: str) -> str:
    return podman("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip()


def wait_healthy(container: str, timeout: float = 60) -> None:
    """Run the container's own HEALTHCHECK until it reports healthy. Without systemd, podman
    schedules no health checks itself: each `podman healthcheck run` is one probe, and
    its result updates the container's health status as a timer's would."""
    deadline = time.monotonic() + timeout
    while True:
        probe = podman("healthcheck", "run", container, check=False)
        if probe.returncode == 0 and health_status(container) == "healthy":
            return
        if time.monotonic() > deadline:
            logs = podman("logs", container, check=False)
            pytest.fail(
                f"{container} not healthy after {timeout:.0f} s: {probe.stdout}{probe.stderr}\n"
                f"{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
            )
        time.sleep(1)


def remove_containers(names: Sequence[str]) -> None:
    """Remove the named containers (this test's own), stopped or not."""
    if names:
        podman("rm", "--force", "--time", "0", *names, check=False)
