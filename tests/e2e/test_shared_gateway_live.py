"""The platform collector kit, live: two rendered services (Flask on gunicorn, FastAPI on
uvicorn) on their real servers, each sending to its own node's agent (two agents, as on two
nodes), and the agents' load_balancing exporter routing by trace id to TWO gateway replicas
that tail-sample. Every cross-service trace the gateways keep lands whole at exactly one
replica; the traces they drop leave nothing anywhere.

The configs are the kit's rendered files. Test-only changes, made on a copy: no
k8s_attributes (no API server here) and the static resolver listing both replicas instead of
the headless Service's DNS name; in the gateways, a shorter decision wait and the sampled
traces written to a file instead of the backend. A second test routes each agent to one
gateway of its own (what per-service gateways amount to) and shows the check catches the
traces that split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.stack import services
from tests.support import otlp_json
from tests.support.collector import CollectorPorts, running_collector
from tests.support.http import http_get
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.processes import free_port, wait_until
from tests.support.venvs import find_python, install_project

pytestmark = pytest.mark.slow

KIT = {"service_name": "live-kit", "project_kind": "platform_collector"}
# Kept: every trace with an error; dropped: every other one (ratio 0, nothing is slow).
SAMPLING = {"tail_sampling_ratio": 0, "slow_trace_threshold_ms": 600000}
FRONTEND, BACKEND = "live-frontend", "live-backend"
CROSS_SERVICE_TRACES = 24
DECISION_WAIT = "2s"


@pytest.fixture(scope="module")
def installed_services(render) -> dict[str, tuple[Path, Path]]:
    """The frontend (Flask, gunicorn) and backend (FastAPI, uvicorn), on the platform
    topology, rendered and installed."""
    installed = {}
    for name, framework in ((FRONTEND, "flask"), (BACKEND, "fastapi")):
        version = PYTHON_BY_FRAMEWORK[framework]
        python = find_python(version)
        if python is None:
            pytest.skip(f"no Python {version} interpreter on this machine for {framework}")
        project = render({"service_name": name, "framework": framework, "python_version": version})
        installed[name] = (project, install_project(project, python))
    return installed


def gateway_config(output: Path, workdir: Path, index: int) -> Path:
    layer = workdir / f"gateway-{index}-layer.yaml"
    layer.write_text(
        yaml.safe_dump(
            {
                "processors": {"tail_sampling": {"decision_wait": DECISION_WAIT}},
                "exporters": {"file/sampled": {"path": str(output), "flush_interval": "100ms"}},
                "service": {"pipelines": {"traces/sampled": {"exporters": ["file/sampled"]}}},
            }
        )
    )
    return layer


def agent_config(kit: Path, workdir: Path, index: int, gateways: list[str] | None) -> Path:
    """The kit's agent config without k8s_attributes, routing traces by trace id over
    ``gateways`` (static resolver), or, with None, to the one gateway OTEL_GATEWAY_ENDPOINT
    names."""
    config = yaml.safe_load((kit / "collector" / "otelcol-agent.yaml").read_text())
    del config["processors"]["k8s_attributes"]
    for pipeline in config["service"]["pipelines"].values():
        pipeline["processors"].remove("k8s_attributes")
    if gateways is None:
        config["service"]["pipelines"]["traces"]["exporters"] = ["otlp_grpc/gateway"]
    else:
        config["exporters"]["load_balancing"]["resolver"] = {"static": {"hostnames": gateways}}
    path = workdir / f"agent-{index}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def platform_collector(
    otelcol: Path, kit: Path, workdir: Path, *, by_trace_id: bool
) -> Iterator[tuple[list[CollectorPorts], list[Path]]]:
    """Two gateways and two agents; yields the agents' ports and the gateways' outputs."""
    gateway_ports = [CollectorPorts(), CollectorPorts()]
    outputs = [workdir / f"gateway-{index}.jsonl" for index in range(2)]
    hostnames = [f"127.0.0.1:{ports.grpc}" for ports in gateway_ports]
    agent_ports = [CollectorPorts(), CollectorPorts()]
    with ExitStack() as stack:
        for index, ports in enumerate(gateway_ports):
            layer = gateway_config(outputs[index], workdir, index)
            stack.enter_context(
                running_collector(
                    otelcol,
                    [kit / "collector" / "otelcol-gateway.yaml", layer],
                    workdir,
                    ports,
                    log_name=f"gateway-{index}.log",
                )
            )
        for index, ports in enumerate(agent_ports):
            config = agent_config(kit, workdir, index, hostnames if by_trace_id else None)
            stack.enter_context(
                running_collector(
                    otelcol,
                    [config],
                    workdir,
                    ports,
                    # Metrics and logs (and, without load balancing, traces) go to the
                    # gateway of this agent's index.
                    extra_env={"OTEL_GATEWAY_ENDPOINT": hostnames[index]},
                    log_name=f"agent-{index}.log",
                )
            )
        yield agent_ports, outputs


def traces_by_gateway(outputs: list[Path]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """trace id -> gateway index -> the spans that gateway exported for it."""
    found: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for index, output in enumerate(outputs):
        for span in otlp_json.spans(otlp_json.read_records(output)):
            found[span["traceId"]][index].append(span)
    return found


def broken_traces(found: dict[str, dict[int, list[dict[str, Any]]]]) -> list[str]:
    """Every kept trace that did not land whole at exactly one gateway: the frontend's
    server and client spans and the backend's server span, together."""
    broken = []
    for trace_id, per_gateway in found.items():
        if len(per_gateway) != 1:
            sizes = {index: len(spans) for index, spans in per_gateway.items()}
            broken.append(f"{trace_id}: split over gateways {sizes}")
            continue
        (spans,) = per_gateway.values()
        kinds = {(span["service"], span["kind"]) for span in spans}
        if not {(FRONTEND, 2), (FRONTEND, 3), (BACKEND, 2)} <= kinds:
            broken.append(f"{trace_id}: incomplete, {sorted(kinds)}")
    return broken


def run_traffic(
    installed_services: dict[str, tuple[Path, Path]],
    agent_ports: list[CollectorPorts],
    workdir: Path,
) -> None:
    """Cross-service error traces (frontend /downstream -> backend /error) and
    single-service successful ones (frontend /hello, backend /items/42)."""
    backend_port, frontend_port = free_port(), free_port()
    fast_export = {
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    specs = [
        (
            name,
            project,
            bin_dir,
            port,
            {
                **fast_export,
                # Each service on its own "node": the agent of that node.
                "OTEL_EXPORTER_OTLP_ENDPOINT": agent_ports[index].otlp_endpoint,
                **(
                    {"DOWNSTREAM_URL": f"http://127.0.0.1:{backend_port}/error"}
                    if name == FRONTEND
                    else {}
                ),
            },
        )
        for index, (name, port) in enumerate(((FRONTEND, frontend_port), (BACKEND, backend_port)))
        for project, bin_dir in [installed_services[name]]
    ]
    with services(specs, workdir) as running:
        frontend, backend = running[FRONTEND].base, running[BACKEND].base
        for _ in range(CROSS_SERVICE_TRACES):
            http_get(f"{frontend}/downstream")
            assert http_get(f"{frontend}/hello")[0] == 200
            assert http_get(f"{backend}/items/42")[0] == 200


def test_every_kept_cross_service_trace_is_whole_at_exactly_one_gateway(
    render, installed_services, otelcol: Path, tmp_path: Path
) -> None:
    kit = render({**KIT, **SAMPLING})
    with platform_collector(otelcol, kit, tmp_path, by_trace_id=True) as (agents, outputs):
        run_traffic(installed_services, agents, tmp_path)

        def kept() -> dict[str, dict[int, list[dict[str, Any]]]]:
            return traces_by_gateway(outputs)

        wait_until(
            lambda: len(kept()) >= CROSS_SERVICE_TRACES and not broken_traces(kept()),
            60,
            f"{CROSS_SERVICE_TRACES} whole cross-service traces at the gateways",
        )
        found = kept()

    assert broken_traces(found) == []
    assert len(found) == CROSS_SERVICE_TRACES, "only the error traces are kept"
    per_gateway = [sum(1 for t in found.values() if index in t) for index in range(2)]
    # The trace ids spread over both replicas: both took part.
    assert all(per_gateway), per_gateway
    names = {span["name"] for t in found.values() for s in t.values() for span in s}
    assert not any("hello" in name or "items" in name for name in names), names


def test_gateways_per_agent_split_the_same_traces(
    render, installed_services, otelcol: Path, tmp_path: Path
) -> None:
    """The check above can fail: with each agent sending to a gateway of its own, a
    cross-service trace's spans land at two replicas."""
    kit = render({**KIT, **SAMPLING})
    with platform_collector(otelcol, kit, tmp_path, by_trace_id=False) as (agents, outputs):
        run_traffic(installed_services, agents, tmp_path)
        wait_until(
            lambda: len(broken_traces(traces_by_gateway(outputs))) >= CROSS_SERVICE_TRACES,
            60,
            "the split traces at the gateways",
        )
    assert all("split over gateways" in b for b in broken_traces(traces_by_gateway(outputs)))
