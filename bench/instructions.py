"""Instructions per request, counted by callgrind: an A/B measure that does not move with
the load of a shared machine (CPU time does, by 10-30% here).

    python3 bench/instructions.py build/bench/flask CASE [CASE ...] [--requests 500]

A CASE is one of bench/run.py's cases (``bare``, ``full``, ``ratio10``, ``zerocode``,
``zerocode10``, ``tutorial``, ``tutorial10``: the same app and environment variables),
``floor`` or ``floor10`` (bench/floor.py's requests), or
``name=module`` or ``name=module:VAR=value,VAR=value``, the module imported by
bench/inprocess.py (``bare_app``, ``bench_svc.app``, ``bench_svc.wsgi``,
``tutorial_app``); ``name=CASE:VAR=value`` adds variables to one of the named cases. A
``PYTHONPATH`` among the variables goes first on the path (a rendered package of another
revision, or the zero-code set-up's sitecustomize). The program starts under ``valgrind
--tool=callgrind --instr-atstart=no``, imports and warms up uninstrumented, then
instrumentation goes on for the measured requests only (``callgrind_control``), export
threads and the final flush included. Needs an OTLP receiver at
OTEL_EXPORTER_OTLP_ENDPOINT (bench/run.py's collector, or any). ``--results FILE`` adds
the counts to bench/run.py's results file under "instructions" (the framework is the
project folder's name), where bench/report.py renders them.

The batch processors export when a batch is full and at the final flush only, and the
metric reader not at all (``STEADY_EXPORTS``), as under load: on their timers they would
export as often as valgrind's slowdown lets the timers expire, which depends on the
machine's load (measured: 250-300k instructions per request more, at 500 requests,
varying from run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
STEADY_EXPORTS = {
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
    "OTEL_BLRP_SCHEDULE_DELAY": "600000",
    "OTEL_METRIC_EXPORT_INTERVAL": "600000",
}
# bench/floor.py's requests, at 100% and at 10% sampling, counted the same way.
FLOORS = {"floor": [], "floor10": ["--ratio10"]}


def count(project: Path, module: str, env: dict[str, str], requests: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        paths = [env.pop("PYTHONPATH")] if "PYTHONPATH" in env else []
        full_env = {
            **os.environ,
            "BENCH_PACKAGE": "bench_svc",
            "DJANGO_SETTINGS_MODULE": "bench_svc.settings",
            **STEADY_EXPORTS,
            **env,
            "PYTHONPATH": ":".join([*paths, str(BENCH)]),
        }
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            str(project / ".venv" / "bin" / "python"),
            *_program(module, requests),
        ]
        process = subprocess.Popen(
            command,
            cwd=project,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            _expect(process, "ready")
            subprocess.run(
                ["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True
            )
            process.stdin.write("\n")
            process.stdin.flush()
            _expect(process, "done")
            subprocess.run(
                ["callgrind_control", "-d", str(process.pid)], check=True, capture_output=True
            )
            process.stdin.write("\n")
            process.stdin.flush()
            process.wait(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
        dumps = sorted(Path(tmp).glob("callgrind.out.*"))
        totals = re.search(r"^(?:summary|totals): (\d+)", dumps[0].read_text(), re.M)
        return int(totals.group(1)) / requests


def _program(module: str, requests: int) -> list[str]:
    if module in FLOORS:
        return [str(BENCH / "floor.py"), str(requests), "--wait", *FLOORS[module]]
    return [str(BENCH / "inprocess.py"), module, str(requests), "--wait"]


def _expect(process: subprocess.Popen, word: str) -> None:
    for line in process.stdout:
        if line.strip() == word:
            return
    sys.exit(f"instructions: the program ended before printing {word!r}")


def named_cases(project: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """bench/run.py's cases as (module, environment) for the in-process driver."""
    sys.path.insert(0, str(BENCH.parent))
    from bench.run import PEER_ENV, RATIO10

    site = subprocess.run(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import opentelemetry.instrumentation.auto_instrumentation as m; print(m.__path__[0])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = (
        "bench_svc.wsgi"
        if (project / "src" / "bench_svc" / "wsgi.py").exists()
        else "bench_svc.app"
    )
    zero_code = {**PEER_ENV, "PYTHONPATH": site}
    return {
        "bare": ("bare_app", {}),
        "full": (ours, {}),
        "ratio10": (ours, RATIO10),
        "zerocode": ("bare_app", zero_code),
        "zerocode10": ("bare_app", {**zero_code, **RATIO10}),
        "tutorial": ("tutorial_app", PEER_ENV),
        "tutorial10": ("tutorial_app", {**PEER_ENV, **RATIO10}),
        **{floor: (floor, {}) for floor in FLOORS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--results", type=Path, help="bench/run.py's results file to add to")
    args = parser.parse_args()
    project = args.project.resolve()
    named = named_cases(project)
    for case in args.cases:
        name, _, spec = case.partition("=")
        module, _, assignments = (spec or name).partition(":")
        env = dict(item.split("=", 1) for item in assignments.split(",") if item)
        if module in named:
            module, env = named[module][0], {**named[module][1], **env}
        per_request = count(project, module, env, args.requests)
        print(f"{name}\t{per_request / 1000:.0f}k instructions/request", flush=True)
        if args.results:
            record(args.results, project.name, name, per_request, args.requests)


def record(results: Path, framework: str, case: str, per_request: float, requests: int) -> None:
    data = json.loads(results.read_text()) if results.exists() else {}
    counts = data.setdefault("instructions", {"requests": requests, "frameworks": {}})
    counts["frameworks"].setdefault(framework, {})[case] = round(per_request)
    # The template the counts belong to (bench/run.py keeps them across its own runs): the
    # last commit that changed it, marked when the working tree changes it further.
    paths = ["template", "copier.yml", "generator"]
    git = ["git", "-C", str(BENCH.parent)]
    commit = subprocess.run(
        [*git, "log", "-1", "--format=%h", "--", *paths], check=True, capture_output=True, text=True
    ).stdout.strip()
    edited = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", *paths]).returncode != 0
    counts["template_commit"] = f"{commit}+edits" if edited else commit
    results.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
