"""Render a service with the default answers and run it on the console exporter.

    python -m generator.demo [DIRECTORY]

No collector needed: spans, metrics and logs are printed to stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from uv import find_uv_bin

from generator.rendering import render_service

SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")


def main(argv: list[str]) -> int:
    destination = Path(argv[0] if argv else "build/demo-service").resolve()
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python_version not in SUPPORTED_PYTHONS:
        print(
            f"demo: Python {python_version} is not a supported python_version answer; "
            f"run this with Python {' / '.join(SUPPORTED_PYTHONS)}.",
            file=sys.stderr,
        )
        return 2
    print(f"demo: rendering the default service into {destination}")
    render_service(destination, {"service_name": "demo-service", "python_version": python_version})
    print("demo: installing it into .venv from its uv.lock")
    # This Python, which may not be on PATH: the render's .python-version names its version.
    subprocess.run(
        [find_uv_bin(), "sync", "--quiet", "--python", sys.executable], cwd=destination, check=True
    )
    port = os.environ.get("PORT", "8000")
    print(
        f"demo: serving on http://127.0.0.1:{port} with the console exporter; try\n"
        f"  curl localhost:{port}/hello  curl localhost:{port}/items/42  "
        f"curl localhost:{port}/downstream  curl localhost:{port}/error\n"
        "demo: Ctrl-C stops it"
    )
    os.chdir(destination)
    os.execvp("make", ["make", "run-console"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
