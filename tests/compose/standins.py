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
from tests.support.podman import base_image, build_image, image_tag_for, podman

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

# rabbitmq:*-management: the broker in the foreground as the rabbitmq user, logging to
# stdout, with the management plugin, and guest/guest accepted from other containers
# (the official image's loopback_users = none). Debian's package, whose
# /usr/sbin/rabbitmq-server wrapper logs to a file and ignores SIGTERM: its own scripts
# come first on PATH, as /opt/rabbitmq/sbin does in the official image. policy-rc.d keeps
# the package from starting a broker during the build.
_RABBITMQ = """\
FROM {base}
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \\
    && apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive \\
    apt-get install -y -qq --no-install-recommends rabbitmq-server \\
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
RUN rabbitmq-plugins enable --offline rabbitmq_management \\
    && printf 'loopback_users = none\\nlog.console = true\\nlog.file = false\\n' \\
    > /etc/rabbitmq/rabbitmq.conf
ENV RABBITMQ_LOGS=- PATH=/usr/lib/rabbitmq/bin:$PATH
USER rabbitmq
CMD ["rabbitmq-server"]
"""


def _build(name: str, containerfile: str, workdir: Path, files: dict[str, Path]) -> str:
    """The image of ``containerfile`` with ``files`` (name in the context: path) copied
    into its context, tagged by a hash of both."""
    text = containerfile.format(base=base_image())
    digest = hashlib.sha256(text.encode())
    for path in files.values():
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    tag = f"localhost/otel-service-template/{name}:{digest.hexdigest()[:16]}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    context = workdir / f"{name}-context"
    context.mkdir()
    for context_name, path in files.items():
        shutil.copy2(path, context / context_name)
    (context / "Containerfile").write_text(text)
    podman("build", "--tag", tag, str(context), timeout=900)
    # Older builds of this stand-in are dead weight in the image store.
    listing = podman("images", "--format", "{{.Repository}}:{{.Tag}}", tag.rpartition(":")[0])
    if stale := [old for old in listing.stdout.split() if old != tag]:
        podman("rmi", *stale, check=False)
    return tag


def collector_image(otelcol: Path, workdir: Path) -> str:
    return _build("otelcol", _COLLECTOR, workdir, {"otelcol": otelcol})


def jaeger_image(workdir: Path) -> str:
    jaeger = built_tool("build-jaeger", "JAEGER_BIN", timeout=1800)
    return _build("jaeger", _JAEGER, workdir, {"jaeger": jaeger})


def prometheus_image(workdir: Path) -> str:
    """Debian's prometheus (installed by scripts/test), the same binary tests/e2e runs."""
    path = shutil.which("prometheus")
    assert path, "no prometheus on PATH: scripts/test installs Debian's package"
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("prometheus, version"), version
    return _build("prometheus", _PROMETHEUS, workdir, {"prometheus": Path(path).resolve()})


def rabbitmq_image(workdir: Path) -> str:
    """Debian trixie's rabbitmq-server (4.0), installed by apt inside the build."""
    return _build("rabbitmq", _RABBITMQ, workdir, {})


def stack_images(
    project: Path, service: str, otelcol: Path, workdir: Path
) -> tuple[str, dict[str, str]]:
    """The service's image built from its rendered Dockerfile, and the stand-ins for the
    collector, Jaeger and Prometheus: (service image, {override key: image})."""
    image = image_tag_for(service)
    build_image(project, image, workdir)
    standins = {
        "otelcol": collector_image(otelcol, workdir),
        "jaeger": jaeger_image(workdir),
        "prometheus": prometheus_image(workdir),
    }
    return image, standins
