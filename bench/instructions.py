"""Instructions per request, counted by callgrind: an A/B measure that does not move with
the load of a shared machine (CPU time does, by 10-30% here).

    python3 bench/instructions.py build/bench/flask CASE [CASE ...] [--requests 500]

A CASE is ``name=module`` or ``name=module:VAR=value,VAR=value``, the module imported
by bench/inprocess.py (``bare_app``, ``bench_svc.app``, ``bench_svc.wsgi``,
``tutorial_app``); a ``PYTHONPATH`` among the variables goes first on the path (a
rendered package of another revision, or the zero-code set-up's sitecustomize). The
program starts under ``valgrind --tool=callgrind --instr-atstart=no``, imports and warms
up uninstrumented, then instrumentation goes on for the measured requests only
(``callgrind_control``), export threads and the final flush included. Needs an OTLP
receiver at OTEL_EXPORTER_OTLP_ENDPOINT (bench/run.py's collector, or any).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def count(project: Path, module: str, env: dict[str, str], requests: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        paths = [env.pop("PYTHONPATH")] if "PYTHONPATH" in env else []
        full_env = {
            **os.environ,
            "BENCH_PACKAGE": "bench_svc",
            "DJANGO_SETTINGS_MODULE": "bench_svc.settings",
            **env,
            "PYTHONPATH": ":".join([*paths, str(BENCH)]),
        }
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            str(project / ".venv" / "bin" / "python"),
            str(BENCH / "inprocess.py"),
            module,
            str(requests),
            "--wait",
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


def _expect(process: subprocess.Popen, word: str) -> None:
    for line in process.stdout:
        if line.strip() == word:
            return
    sys.exit(f"instructions: the program ended before printing {word!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    for case in args.cases:
        name, _, spec = case.partition("=")
        module, _, assignments = spec.partition(":")
        env = dict(item.split("=", 1) for item in assignments.split(",") if item)
        per_request = count(args.project.resolve(), module, env, args.requests)
        print(f"{name}\t{per_request / 1000:.0f}k instructions/request", flush=True)


if __name__ == "__main__":
    main()
