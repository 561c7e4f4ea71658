"""Overhead benchmark: the rendered service with OpenTelemetry vs the same app without it.

For each framework, on its production server as rendered (gunicorn gthread, uvicorn), the
runs of one round are interleaved (bare, full, bare, ratio10, ...), so slow drift of a
shared machine hits every configuration alike. Load comes from wrk over loopback. The
results go to a JSON file and into the marked section of docs/performance.md.

    python3 bench/run.py                      # every framework, 3 rounds of 10 s
    python3 bench/run.py --frameworks flask --rounds 1 --duration 3   # a quick look

Besides the service as rendered ("ours"), every round runs its peers on the same bare
app, at 100% and at 10% head sampling: "zerocode" (the bare app under
``opentelemetry-instrument``, opentelemetry-distro on the same release train) and
"tutorial" (bench/tutorial_app.py: the manual set-up the common articles show), and the
SDK's floor (bench/floor.py) in the same interpreter.

Needs: the test collector (OTELCOL_BIN or scripts/build-otelcol), uv, wrk (installed
with apt-get when missing) and vegeta (VEGETA_BIN or scripts/build-vegeta, for
--latency-rate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_report  # noqa: E402
from generator.rendering import render_service  # noqa: E402
from tests.support.http import http_ok  # noqa: E402
from tests.support.processes import (  # noqa: E402
    free_port,
    port_open,
    process_tree,
    rss_mb,
    running,
    wait_until,
)
from tests.support.venvs import find_python, install_project, uv_env  # noqa: E402

BENCH = REPO / "bench"
PACKAGE = "bench_svc"
PYTHON_VERSION = "3.12"
FRAMEWORKS = ("flask", "fastapi", "django")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The distro of the release train the template pins (SDK 1.45.1, instrumentations 0.66b1).
DISTRO = "opentelemetry-distro==0.66b1"
RATIO10 = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
# What the rendered telemetry.py defaults to, given to the peers as environment variables:
# same exporters, protocol, sampler, semantic conventions, propagators and probe exclusion.
PEER_ENV = {
    "OTEL_SERVICE_NAME": "bench-svc",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
    "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    "OTEL_PROPAGATORS": "tracecontext",
    "OTEL_PYTHON_EXCLUDED_URLS": r"^[a-z]+://[^/]+/(healthz|readyz)/?(\?.*)?$",
}


@dataclass(frozen=True)
class Case:
    """One configuration of the service under load.

    ``kind``: "bare" (no OpenTelemetry), "ours" (the rendered service), "zerocode" (the
    bare app under opentelemetry-instrument) or "tutorial" (bench/tutorial_app.py).
    """

    name: str
    kind: str
    path: str = "/hello"  # "/io" is served by bench/io_app.py
    env: dict[str, str] = field(default_factory=dict)
    collector_up: bool = True

    @property
    def telemetry(self) -> bool:
        return self.kind != "bare"


CASES = (
    Case("bare", kind="bare"),
    Case("full", kind="ours"),
    Case("ratio10", kind="ours", env=RATIO10),
    Case("zerocode", kind="zerocode", env=PEER_ENV),
    Case("zerocode10", kind="zerocode", env={**PEER_ENV, **RATIO10}),
    Case("tutorial", kind="tutorial", env=PEER_ENV),
    Case("tutorial10", kind="tutorial", env={**PEER_ENV, **RATIO10}),
    Case("collector_down", kind="ours", collector_up=False),
    Case("io_bare", kind="bare", path="/io"),
    Case("io_full", kind="ours", path="/io"),
)
DEFAULT_CASES = ("bare", "full", "ratio10", "zerocode", "zerocode10", "tutorial", "tutorial10")


@dataclass
class Run:
    framework: str
    case: str
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    rss_mb: float
    requests: int
    errors: int
    load_average: float = 0.0  # 1-minute load average when the run ended
    system_us_per_request: float = 0.0  # the part of cpu_us_per_request spent in the kernel
    context_switches_per_request: float = 0.0
    minor_faults_per_request: float = 0.0
    # What reached the collector per request served (warm-up included), so a case that
    # exports less than the others shows as such instead of as cheaper.
    spans_per_request: float = 0.0
    log_records_per_request: float = 0.0
    # Latency at --latency-rate requests per second (vegeta), after the CPU run.
    fixed_rate_p50_ms: float = 0.0
    fixed_rate_p99_ms: float = 0.0
    fixed_rate_errors: int = 0


def ensure_wrk() -> str:
    if wrk := shutil.which("wrk"):
        return wrk
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("bench: wrk is still missing after apt-get install")


def vegeta_binary() -> str:
    if binary := os.environ.get("VEGETA_BIN"):
        return binary
    output = subprocess.run(
        [str(REPO / "scripts" / "build-vegeta")], check=True, capture_output=True, text=True
    ).stdout
    return output.strip().splitlines()[-1]


def otelcol_binary() -> Path:
    if binary := os.environ.get("OTELCOL_BIN"):
        return Path(binary)
    output = subprocess.run(
        [str(REPO / "scripts" / "build-otelcol")], check=True, capture_output=True, text=True
    ).stdout
    return Path(output.strip().splitlines()[-1])


def prepare_project(framework: str, workdir: Path, refs: dict[str, str]) -> Path:
    """Render the default answers for ``framework`` from the working tree and install it
    afresh as the image does (uv's cache makes that a few seconds), so a run never measures
    stale code.
    opentelemetry-distro goes into the same environment for the zero-code peer.

    For each ``refs`` entry (case name -> git ref of this repository), the service's
    package as rendered at that ref goes to ``.ref-<name>/``, which that case puts first
    on the path: an A/B of template code in the same run.
    """
    project = workdir / framework
    shutil.rmtree(project, ignore_errors=True)
    answers = {"service_name": "bench-svc", "framework": framework}
    render_service(project, answers)
    python = find_python(PYTHON_VERSION) or sys.exit(f"bench: no Python {PYTHON_VERSION}")
    # Without the dev group, as the image installs it: a test dependency can cost import
    # time in production's place (httpx2, for FastAPI's TestClient, is imported by the
    # httpx instrumentation whenever it is installed: 60 ms).
    install_project(project, python, dev=False)
    venv_python = str(project / ".venv" / "bin" / "python")
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "-p", venv_python, DISTRO], check=True, env=uv_env()
    )
    for name, ref in refs.items():
        with tempfile.TemporaryDirectory() as old:
            render_service(Path(old), answers, template=REPO, vcs_ref=ref)
            shutil.copytree(Path(old) / "src" / PACKAGE, project / f".ref-{name}" / PACKAGE)
    return project


def server_command(project: Path, case: Case, port: int) -> list[str]:
    """The rendered `make run` command (the server as the Dockerfile runs it), with the
    app swapped for bench/bare_app.py or bench/io_app.py where the case needs it."""
    makefile = (project / "Makefile").read_text()
    command = re.search(r"^run:.*\n\t.* exec (.+)$", makefile, re.MULTILINE).group(1)
    command = command.replace("$${PORT:-8000}", str(port))
    app_module = {"bare": "bare_app", "zerocode": "bare_app", "tutorial": "tutorial_app"}
    if case.path == "/io":
        command = re.sub(rf"{PACKAGE}\.(app|wsgi):", "io_app:", command)
    elif case.kind in app_module:
        command = re.sub(rf"{PACKAGE}\.(app|wsgi):", f"{app_module[case.kind]}:", command)
    if case.kind == "zerocode":
        return ["opentelemetry-instrument", *command.split()]
    return command.split()


@dataclass
class ProcessCounters:
    """CPU seconds (user and system apart: the export path's cost is partly system time,
    which instruction counts do not see), context switches of every thread and minor page
    faults of a process tree, from /proc."""

    user: float = 0.0
    system: float = 0.0
    switches: int = 0
    faults: int = 0

    @classmethod
    def of(cls, pids: list[int]) -> ProcessCounters:
        counters = cls()
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                statuses = [s.read_text() for s in Path(f"/proc/{pid}/task").glob("*/status")]
            except OSError:
                continue
            counters.faults += int(fields[7])  # minflt
            counters.user += int(fields[11]) / CLOCK_TICKS  # utime
            counters.system += int(fields[12]) / CLOCK_TICKS  # stime
            counters.switches += sum(
                int(line.split()[1])
                for status in statuses
                for line in status.splitlines()
                if "ctxt_switches:" in line
            )
        return counters


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
# The bench collector's debug exporter logs one line per batch received, with its counts.
_EXPORTED = re.compile(r'"(spans|log records)": (\d+)')


def exported_since(collector_log: Path, offset: int) -> dict[str, int]:
    """Spans and log records the collector logged after byte ``offset`` of its log."""
    with collector_log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    totals = {"spans": 0, "log records": 0}
    for kind, number in _EXPORTED.findall(text):
        totals[kind] += int(number)
    return totals


def parse_wrk(output: str) -> dict[str, float]:
    def latency(percentile: str) -> float:
        value, unit = re.search(
            rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M
        ).groups()
        return float(value) * _UNITS_MS[unit]

    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    if socket_errors := re.search(r"Socket errors: (.+)", output):
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": requests,
        "errors": errors,
    }


def parse_vegeta(report: dict[str, Any]) -> dict[str, float]:
    requests = report["requests"]
    return {
        "requests_per_second": report["throughput"],
        "p50_ms": report["latencies"]["50th"] / 1e6,
        "p99_ms": report["latencies"]["99th"] / 1e6,
        "requests": requests,
        "errors": requests - report["status_codes"].get("200", 0),
    }


@contextmanager
def background(command: list[str], workdir: Path, env: dict[str, str], name: str) -> Iterator[None]:
    with running(command, cwd=workdir, env=env, log_path=workdir / f"{name}.log") as process:
        yield
        process.stop()


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.wrk = ensure_wrk()
        self.vegeta = vegeta_binary() if args.latency_rate else None
        self.otlp_port = free_port()
        self.closed_port = free_port()  # nothing listens here: the "collector down" case
        self.backend_port = free_port()

    def run_case(self, project: Path, framework: str, case: Case, round_: int) -> Run:
        port = free_port()
        collector_port = self.otlp_port if case.collector_up else self.closed_port
        env = {
            **os.environ,
            "PATH": f"{project / '.venv' / 'bin'}:{os.environ['PATH']}",
            "PORT": str(port),
            "WEB_CONCURRENCY": str(self.args.workers),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
            "BACKEND_URL": f"http://127.0.0.1:{self.backend_port}/",
            "BENCH_TELEMETRY": "on" if case.telemetry else "off",
            "BENCH_PACKAGE": PACKAGE,
            "PYTHONPATH": str(BENCH),
            # Zero-code Django instruments before the app is imported: it needs them already.
            "DJANGO_SETTINGS_MODULE": f"{PACKAGE}.settings",
            **case.env,
        }
        if "PYTHONPATH" in case.env:
            env["PYTHONPATH"] = f"{case.env['PYTHONPATH']}:{BENCH}"
        command = server_command(project, case, port)
        log = self.workdir / f"{framework}-{case.name}.log"
        collector_log = self.workdir / "collector.log"
        collector_offset = collector_log.stat().st_size
        with running(command, cwd=project, env=env, log_path=log) as server:
            # Ready means the worker answers, not just that the master listens.
            healthz = f"http://127.0.0.1:{port}/healthz"
            wait_until(lambda: http_ok(healthz), 60, f"{framework} ({case.name}) to be ready")
            url = f"http://127.0.0.1:{port}{case.path}"
            warm = parse_wrk(self._wrk(url, self.args.warmup))
            pids = process_tree(server.pid)
            before = ProcessCounters.of(pids)
            result = parse_wrk(self._wrk(url, self.args.duration))
            after = ProcessCounters.of(pids)
            memory = rss_mb(pids)
            fixed_rate = self._vegeta(url) if self.vegeta else {"requests": 0}
            server.stop()  # SIGTERM: the service flushes what it holds before exiting
        measured = max(result["requests"], 1)
        served = max(warm["requests"] + result["requests"] + fixed_rate["requests"], 1)
        # The collector writes a batch's line as it receives it; give the last one a moment.
        time.sleep(0.5)
        exported = exported_since(collector_log, collector_offset)
        return Run(
            framework=framework,
            case=case.name,
            round=round_,
            cpu_us_per_request=(after.user + after.system - before.user - before.system)
            * 1e6
            / measured,
            system_us_per_request=(after.system - before.system) * 1e6 / measured,
            context_switches_per_request=(after.switches - before.switches) / measured,
            minor_faults_per_request=(after.faults - before.faults) / measured,
            rss_mb=memory,
            load_average=os.getloadavg()[0],
            spans_per_request=exported["spans"] / served,
            log_records_per_request=exported["log records"] / served,
            fixed_rate_p50_ms=fixed_rate.get("p50_ms", 0.0),
            fixed_rate_p99_ms=fixed_rate.get("p99_ms", 0.0),
            fixed_rate_errors=fixed_rate.get("errors", 0),
            **result,
        )

    def _vegeta(self, url: str) -> dict[str, float]:
        """Latency at a constant rate below every case's capacity: what a user of a
        service that is not saturated sees (under wrk, latency is mostly queueing)."""
        attack = subprocess.run(
            [
                self.vegeta,
                "attack",
                f"-rate={self.args.latency_rate}/1s",
                f"-duration={self.args.latency_duration:g}s",
                "-timeout=10s",
            ],
            input=f"GET {url}\n".encode(),
            check=True,
            capture_output=True,
        )
        report = subprocess.run(
            [self.vegeta, "report", "-type=json"],
            input=attack.stdout,
            check=True,
            capture_output=True,
        )
        return parse_vegeta(json.loads(report.stdout))

    def _wrk(self, url: str, seconds: float) -> str:
        command = [
            self.wrk,
            f"-t{self.args.threads}",
            f"-c{self.args.connections}",
            f"-d{seconds:g}s",
            "--latency",
            url,
        ]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def throughput(
        self, projects: dict[str, Path], cases: list[Case]
    ) -> tuple[list[Run], list[dict[str, Any]]]:
        env = {**os.environ, "BENCH_OTLP_PORT": str(self.otlp_port)}
        collector = [str(otelcol_binary()), f"--config={BENCH / 'collector.yaml'}"]
        backend = [sys.executable, str(BENCH / "slow_backend.py"), str(self.backend_port)]
        runs: list[Run] = []
        floors: list[dict[str, Any]] = []
        with (
            background(collector, self.workdir, env, "collector"),
            background(backend, self.workdir, env, "slow-backend"),
        ):
            wait_until(lambda: port_open(self.otlp_port), 30, "the collector to listen")
            wait_until(lambda: port_open(self.backend_port), 30, "the slow backend to listen")
            for round_ in range(1, self.args.rounds + 1):
                # The floor in the same round, so it shares the machine's load of the moment.
                round_floor = floor(next(iter(projects.values())), cpu_only=True)
                floors.append({"round": round_, **round_floor})
                print(
                    f"round {round_} floor: {round_floor['cpu_us_per_request']['median']:.0f} µs "
                    f"CPU/req, {round_floor['cpu_us_per_request_ratio10']['median']:.0f} at 10%",
                    flush=True,
                )
                for framework, project in projects.items():
                    for case in cases:
                        run = self.run_case(project, framework, case, round_)
                        print(
                            f"round {round_} {framework:8} {case.name:15} "
                            f"{run.requests_per_second:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                            f"p99 {run.p99_ms:6.2f} ms  {run.cpu_us_per_request:6.0f} µs CPU/req  "
                            f"{run.rss_mb:5.0f} MB  errors {run.errors + run.fixed_rate_errors}  "
                            f"p99 at {self.args.latency_rate}/s {run.fixed_rate_p99_ms:5.1f} ms  "
                            f"{run.context_switches_per_request:.1f} cs/req  "
                            f"exported/req: {run.spans_per_request:.2f} spans "
                            f"{run.log_records_per_request:.2f} logs",
                            flush=True,
                        )
                        runs.append(run)
        return runs, floors


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_times(projects: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    """CPU seconds of a fresh interpreter from its start to the app imported, telemetry
    set-up included, for the bare app, ours, the zero-code peer (its sitecustomize on the
    path, as opentelemetry-instrument puts it) and the tutorial peer; bytecode caches
    written (as `pip install` leaves them in the image); interleaved, median of
    ``repeats``. The whole process, because the zero-code set-up runs before any of the
    interpreter's own code; CPU time, because wall time on a loaded machine measures the
    load."""
    results: dict[str, dict[str, float]] = {}
    for framework, project in projects.items():
        module = f"{PACKAGE}.wsgi" if framework == "django" else f"{PACKAGE}.app"
        python = str(project / ".venv" / "bin" / "python")
        site = subprocess.run(
            [
                python,
                "-c",
                "import opentelemetry.instrumentation.auto_instrumentation as m; "
                "print(m.__path__[0])",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "BENCH_PACKAGE": PACKAGE,
            "PYTHONPATH": str(BENCH),
            "DJANGO_SETTINGS_MODULE": f"{PACKAGE}.settings",
            **PEER_ENV,
            # No exporter ever connects during the import; a closed port keeps it honest.
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        }
        targets = {
            "bare": ("bare_app", {}),
            "ours": (module, {}),
            "zerocode": ("bare_app", {"PYTHONPATH": f"{site}:{BENCH}"}),
            "tutorial": ("tutorial_app", {}),
        }
        samples: dict[str, list[float]] = {name: [] for name in targets}
        for attempt in range(repeats + 1):
            for name, (target, extra_env) in targets.items():
                started = _children_cpu_seconds()
                subprocess.run(
                    [python, "-c", f"import {target}"],
                    cwd=project,
                    env={**env, **extra_env},
                    check=True,
                    capture_output=True,
                )
                if attempt:  # the first pass only writes the bytecode caches
                    samples[name].append(_children_cpu_seconds() - started)
        results[framework] = {name: statistics.median(values) for name, values in samples.items()}
    return results


def floor(project: Path, cpu_only: bool = False) -> dict[str, Any]:
    """bench/floor.py run with a rendered project's interpreter (same Python, same SDK)."""
    python = project / ".venv" / "bin" / "python"
    options = ["--cpu-only"] if cpu_only else []
    output = subprocess.run(
        [str(python), str(BENCH / "floor.py"), *options], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output)


def render_times(repeats: int) -> dict[str, float]:
    """Seconds for `copier copy` of the full template with every option vs a one-file
    template, interleaved, median of ``repeats``."""
    full_answers = {
        "service_name": "render-bench",
        "exporters": "[otlp_http, prometheus]",
        "deploy_targets": "[compose, kubernetes]",
        "tail_sampling": "true",
        "dashboard": "true",
        "ci": "github",
    }
    with tempfile.TemporaryDirectory() as tmp:
        one_file = Path(tmp) / "one-file-template"
        one_file.mkdir()
        (one_file / "copier.yml").write_text("name:\n  type: str\n  default: world\n")
        (one_file / "hello.txt.jinja").write_text("hello {{ name }}\n")
        commands = {
            "full": [
                "copier",
                "copy",
                "--trust",
                "--defaults",
                "--quiet",
                "--vcs-ref=HEAD",
                *(f"--data={key}={value}" for key, value in full_answers.items()),
                str(REPO),
            ],
            "one_file": ["copier", "copy", "--trust", "--defaults", "--quiet", str(one_file)],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for attempt in range(repeats):
            for name, command in commands.items():
                destination = Path(tmp) / f"{name}-{attempt}"
                started = time.perf_counter()
                subprocess.run([*command, str(destination)], check=True, capture_output=True)
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help=f"comma-separated, of {', '.join(c.name for c in CASES)} (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before each")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--latency-rate",
        type=int,
        default=300,
        help="after the CPU run, requests per second of a constant-rate run (vegeta) for "
        "the latency at a load every case sustains; 0: none (default: %(default)s)",
    )
    parser.add_argument(
        "--latency-duration", type=float, default=5, help="seconds of the constant-rate run"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn WEB_CONCURRENCY")
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--results", type=Path, default=BENCH / "results.json")
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE,...",
        help="an extra telemetry case with these environment variables (repeatable)",
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run the service as released at this git ref (a tag) as the case 'before'",
    )
    parser.add_argument(
        "--ref",
        action="append",
        default=[],
        metavar="NAME:REF",
        help="an extra case running the service's package as rendered at this git ref "
        "(repeatable): an A/B of template code in the same run",
    )
    parser.add_argument(
        "--skip-throughput",
        action="store_true",
        help="keep the throughput runs of the existing results file, redo the rest",
    )
    parser.add_argument(
        "--skip-startup", action="store_true", help="no import, render or floor timing"
    )
    args = parser.parse_args()
    # Servers, the collector and the backend are stopped by the context managers on
    # the way out; a SIGTERM must unwind through them too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))

    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    frameworks = [f for f in args.frameworks.split(",") if f]
    cases = [c for c in CASES if c.name in args.cases.split(",")]
    refs = dict(ref.split(":", 1) for ref in args.ref)
    if args.before:
        refs["before"] = args.before
    for name in refs:
        cases.append(Case(name, kind="ours", env={"PYTHONPATH": f".ref-{name}"}))
    for variant in args.variant:
        name, _, assignments = variant.partition(":")
        env = dict(item.split("=", 1) for item in assignments.split(",") if item)
        cases.append(Case(name, kind="ours", env=env))
    projects = {f: prepare_project(f, args.workdir, refs) for f in frameworks}
    if args.skip_throughput:
        previous = json.loads(args.results.read_text())
        runs = [Run(**run) for run in previous["runs"]]
        floors = previous.get("floor_rounds", [])
        machine, settings = previous["machine"], previous["settings"]
    else:
        started = os.getloadavg()
        runs, floors = Bench(args, args.workdir).throughput(projects, cases)
        machine, settings = None, None
    results = {
        "machine": machine
        or {
            "cpus": os.cpu_count(),
            "python": PYTHON_VERSION,
            "kernel": platform.release(),
            "load_average_at_start": started,
            "load_average_at_end": os.getloadavg(),
        },
        "settings": settings
        or {
            key: getattr(args, key)
            for key in (
                "rounds",
                "duration",
                "warmup",
                "latency_rate",
                "latency_duration",
                "connections",
                "threads",
                "workers",
            )
        },
        "runs": [asdict(run) for run in runs],
        "floor_rounds": floors,
    }
    if args.results.exists():
        # bench/instructions.py's counts, a separate and much slower measure: kept.
        previous = json.loads(args.results.read_text())
        if "instructions" in previous:
            results["instructions"] = previous["instructions"]
    if not args.skip_startup:
        results["import_seconds"] = import_times(projects, repeats=5)
        results["render_seconds"] = render_times(repeats=3)
        results["floor"] = floor(next(iter(projects.values())))
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, args.report)
    print(f"bench: wrote {args.results} and {args.report}")


if __name__ == "__main__":
    main()
