"""Overhead benchmark: the rendered service with OpenTelemetry vs the same app without it.

For each framework, on its production server as rendered (gunicorn gthread, uvicorn), the
runs of one round are interleaved (bare, full, bare, ratio10, ...), so slow drift of a
shared machine hits every configuration alike. Load comes from wrk over loopback. The
results go to a JSON file and into the marked section of docs/performance.md.

    python3 bench/run.py                      # every framework, 3 rounds of 10 s
    python3 bench/run.py --frameworks flask --rounds 1 --duration 3   # a quick look

Needs: the test collector (OTELCOL_BIN or scripts/build-otelcol), uv, and wrk (installed
with apt-get when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
from tests.support.venvs import find_python, install_project  # noqa: E402

BENCH = REPO / "bench"
PACKAGE = "bench_svc"
PYTHON_VERSION = "3.12"
FRAMEWORKS = ("flask", "fastapi", "django")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    """One configuration of the service under load."""

    name: str
    telemetry: bool
    path: str = "/hello"  # "/io" is served by bench/io_app.py
    env: dict[str, str] = field(default_factory=dict)
    collector_up: bool = True


CASES = (
    Case("bare", telemetry=False),
    Case("full", telemetry=True),
    Case(
        "ratio10",
        telemetry=True,
        env={"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
    ),
    Case("collector_down", telemetry=True, collector_up=False),
    Case("io_bare", telemetry=False, path="/io"),
    Case("io_full", telemetry=True, path="/io"),
)


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


def ensure_wrk() -> str:
    if wrk := shutil.which("wrk"):
        return wrk
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("bench: wrk is still missing after apt-get install")


def otelcol_binary() -> Path:
    if binary := os.environ.get("OTELCOL_BIN"):
        return Path(binary)
    output = subprocess.run(
        [str(REPO / "scripts" / "build-otelcol")], check=True, capture_output=True, text=True
    ).stdout
    return Path(output.strip().splitlines()[-1])


def prepare_project(framework: str, workdir: Path, before: str | None) -> Path:
    """Render the default answers for ``framework`` from the working tree and install it
    afresh (uv's cache makes that a few seconds), so a run never measures stale code.

    With ``before`` (a git ref of this repository), the service's package as rendered by
    that release goes to ``.base/``, which the "before" case puts first on the path.
    """
    project = workdir / framework
    shutil.rmtree(project, ignore_errors=True)
    answers = {"service_name": "bench-svc", "framework": framework}
    render_service(project, answers)
    python = find_python(PYTHON_VERSION) or sys.exit(f"bench: no Python {PYTHON_VERSION}")
    install_project(project, python)
    if before:
        with tempfile.TemporaryDirectory() as old:
            render_service(Path(old), answers, template=REPO, vcs_ref=before)
            shutil.copytree(Path(old) / "src" / PACKAGE, project / ".base" / PACKAGE)
    return project


def server_command(project: Path, case: Case, port: int) -> list[str]:
    """The rendered `make run` command (the server as the Dockerfile runs it), with the
    app swapped for bench/bare_app.py or bench/io_app.py where the case needs it."""
    makefile = (project / "Makefile").read_text()
    command = re.search(r"^run:.*\n\t.* exec (.+)$", makefile, re.MULTILINE).group(1)
    command = command.replace("$${PORT:-8000}", str(port))
    if case.path == "/io":
        command = re.sub(rf"{PACKAGE}\.(app|wsgi):", "io_app:", command)
    elif not case.telemetry:
        command = re.sub(rf"{PACKAGE}\.(app|wsgi):", "bare_app:", command)
    return command.split()


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


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
            **case.env,
        }
        command = server_command(project, case, port)
        log = self.workdir / f"{framework}-{case.name}.log"
        with running(command, cwd=project, env=env, log_path=log) as server:
            # Ready means the worker answers, not just that the master listens.
            healthz = f"http://127.0.0.1:{port}/healthz"
            wait_until(lambda: http_ok(healthz), 60, f"{framework} ({case.name}) to be ready")
            url = f"http://127.0.0.1:{port}{case.path}"
            self._wrk(url, self.args.warmup)
            pids = process_tree(server.pid)
            cpu_before = cpu_seconds(pids)
            result = parse_wrk(self._wrk(url, self.args.duration))
            cpu_used = cpu_seconds(pids) - cpu_before
            memory = rss_mb(pids)
            server.stop()
        return Run(
            framework=framework,
            case=case.name,
            round=round_,
            cpu_us_per_request=cpu_used * 1e6 / max(result["requests"], 1),
            rss_mb=memory,
            **result,
        )

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

    def throughput(self, projects: dict[str, Path], cases: list[Case]) -> list[Run]:
        env = {**os.environ, "BENCH_OTLP_PORT": str(self.otlp_port)}
        collector = [str(otelcol_binary()), f"--config={BENCH / 'collector.yaml'}"]
        backend = [sys.executable, str(BENCH / "slow_backend.py"), str(self.backend_port)]
        runs: list[Run] = []
        with (
            background(collector, self.workdir, env, "collector"),
            background(backend, self.workdir, env, "slow-backend"),
        ):
            wait_until(lambda: port_open(self.otlp_port), 30, "the collector to listen")
            wait_until(lambda: port_open(self.backend_port), 30, "the slow backend to listen")
            for round_ in range(1, self.args.rounds + 1):
                for framework, project in projects.items():
                    for case in cases:
                        run = self.run_case(project, framework, case, round_)
                        print(
                            f"round {round_} {framework:8} {case.name:15} "
                            f"{run.requests_per_second:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                            f"p99 {run.p99_ms:6.2f} ms  {run.cpu_us_per_request:6.0f} µs CPU/req  "
                            f"{run.rss_mb:5.0f} MB  errors {run.errors}",
                            flush=True,
                        )
                        runs.append(run)
        return runs


def import_times(projects: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    """Seconds to import the app module (telemetry set-up included) vs the bare app, each
    in a fresh interpreter with bytecode caches written (as `pip install` leaves them in
    the image), median of ``repeats``."""
    snippet = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"
    results: dict[str, dict[str, float]] = {}
    for framework, project in projects.items():
        module = f"{PACKAGE}.wsgi" if framework == "django" else f"{PACKAGE}.app"
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "BENCH_PACKAGE": PACKAGE,
            "PYTHONPATH": str(BENCH),
            # No exporter ever connects during the import; a closed port keeps it honest.
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        }
        python = str(project / ".venv" / "bin" / "python")
        samples: dict[str, list[float]] = {"bare": [], "telemetry": []}
        for attempt in range(repeats + 1):
            for name, target in (("bare", "bare_app"), ("telemetry", module)):
                output = subprocess.run(
                    [python, "-c", snippet.format(target)],
                    cwd=project,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                if attempt:  # the first pass only writes the bytecode caches
                    samples[name].append(float(output.strip().splitlines()[-1]))
        results[framework] = {name: statistics.median(values) for name, values in samples.items()}
    return results


def floor(project: Path) -> dict[str, Any]:
    """bench/floor.py run with a rendered project's interpreter (same Python, same SDK)."""
    python = project / ".venv" / "bin" / "python"
    output = subprocess.run(
        [str(python), str(BENCH / "floor.py")], check=True, capture_output=True, text=True
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
    parser.add_argument("--cases", default=",".join(c.name for c in CASES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before each")
    parser.add_argument("--connections", type=int, default=16)
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

    args.workdir.mkdir(parents=True, exist_ok=True)
    frameworks = [f for f in args.frameworks.split(",") if f]
    cases = [c for c in CASES if c.name in args.cases.split(",")]
    if args.before:
        cases.append(Case("before", telemetry=True, env={"PYTHONPATH": ".base"}))
    for variant in args.variant:
        name, _, assignments = variant.partition(":")
        env = dict(item.split("=", 1) for item in assignments.split(",") if item)
        cases.append(Case(name, telemetry=True, env=env))
    projects = {f: prepare_project(f, args.workdir, args.before) for f in frameworks}
    if args.skip_throughput:
        previous = json.loads(args.results.read_text())
        runs = [Run(**run) for run in previous["runs"]]
        machine, settings = previous["machine"], previous["settings"]
    else:
        runs = Bench(args, args.workdir).throughput(projects, cases)
        machine, settings = None, None
    results = {
        "machine": machine
        or {
            "cpus": os.cpu_count(),
            "python": PYTHON_VERSION,
            "kernel": platform.release(),
            "load_average_at_start": os.getloadavg(),
        },
        "settings": settings
        or {
            key: getattr(args, key)
            for key in ("rounds", "duration", "warmup", "connections", "threads", "workers")
        },
        "runs": [asdict(run) for run in runs],
    }
    if not args.skip_startup:
        results["import_seconds"] = import_times(projects, repeats=5)
        results["render_seconds"] = render_times(repeats=3)
        results["floor"] = floor(next(iter(projects.values())))
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, args.report)
    print(f"bench: wrote {args.results} and {args.report}")


if __name__ == "__main__":
    main()
