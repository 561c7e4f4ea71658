"""Local stand-ins for the third-party images of the compose stack, since public
registries may be unreachable: the same programs, built here, in small images FROM the
stand-in base, with the entrypoints and paths of the official images so the rendered
compose.yaml runs unchanged. Grafana, Loki and Tempo are AGPL and are not built.

Each image is tagged with a hash of what went into it, so podman's image store (which
outlives a test run) serves as the cache."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from tests.support.built_tools import built_tool
from tests.support.podman import base_image, podman

# otel/opentelemetry-collector-contrib: /otelcol-contrib, config passed by compose.yaml.
_COLLECTOR = """\
FROM {base}
COPY otelcol /otelcol-contrib
USER 10001
ENTRYPOINT ["/otelcol-contrib"]
"""

# jaegertracing/jaeger: the v2 binary with its built-in all-in-one configuration.
_JAEGER = """\
FROM {base}
COPY jaeger /cmd/jaeger/jaeger-linux
USER 10001
ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
"""

# prom/prometheus: /bin/prometheus, run by nobody from /prometheus, and wget for
# compose.yaml's healthcheck (busybox has it in the official image). Debian's build keeps
# its data in /var/lib/prometheus/metrics2 by default, not in data/.
_PROMETHEUS = """\
FROM {base}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wget \\
    && rm -rf /var/lib/apt/lists/*
COPY prometheus /bin/prometheus
RUN mkdir -p /prometheus /var/lib/prometheus \
    && chown 65534:65534 /prometheus /var/lib/prometheus
USER 65534
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
"""


def _build(name: str, containerfile: str, binary: Path, binary_name: str, workdir: Path) -> str:
    text = containerfile.format(base=base_image())
    digest = hashlib.sha256(text.encode())
    with binary.open("rb") as handle:
        digest.update(hashlib.file_digest(handle, "sha256").digest())
    tag = f"localhost/otel-service-template/{name}:{digest.hexdigest()[:16]}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    context = workdir / f"{name}-context"
    context.mkdir()
    shutil.copy2(binary, context / binary_name)
    (context / "Containerfile").write_text(text)
    podman("build", "--tag", tag, str(context), timeout=900)
    # Older builds of this stand-in are dead weight in the image store.
    listing = podman("images", "--format", "{{.Repository}}:{{.Tag}}", tag.rpartition(":")[0])
    if stale := [old for old in listing.stdout.split() if old != tag]:
        podman("rmi", *stale, check=False)
    return tag


def collector_image(otelcol: Path, workdir: Path) -> str:
    return _build("otelcol", _COLLECTOR, otelcol, "otelcol", workdir)


def jaeger_image(workdir: Path) -> str:
    jaeger = built_tool("build-jaeger", "JAEGER_BIN", timeout=1800)
    return _build("jaeger", _JAEGER, jaeger, "jaeger", workdir)


def prometheus_image(workdir: Path) -> str:
    """Debian's prometheus (installed by scripts/test), the same binary tests/e2e runs."""
    path = shutil.which("prometheus")
    assert path, "no prometheus on PATH: scripts/test installs Debian's package"
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("prometheus, version"), version
    return _build("prometheus", _PROMETHEUS, Path(path).resolve(), "prometheus", workdir)
