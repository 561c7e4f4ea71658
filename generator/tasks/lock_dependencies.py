"""Lock the project's dependencies in uv.lock: after `copier copy` (a task) and after every
`copier update` (a migration without a version, so it runs once the 3-way merge has put
the team's own pyproject.toml edits back).

uv.lock is never a template file: the merge leaves it alone, and this script regenerates
it from the merged pyproject.toml (`uv lock` keeps every pin that still fits). Without uv,
or offline, the project is still complete: one line says how to lock it later, and the
copy or update does not fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

LOCK_TIMEOUT_S = 300


def first_error(stderr: str) -> str:
    """uv's first error line, without its `error: ` prefix (uv explains over several lines)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[0]


def find_uv() -> str | None:
    """uv on PATH, else the one installed next to copier (the `uv` package on PyPI)."""
    if found := shutil.which("uv"):
        return found
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None


def main(operation: str) -> int:
    done = "created" if operation == "copy" else "updated"
    uv = find_uv()
    if uv is None:
        print(
            f"uv.lock not {done}: uv is not installed: install it (pip install uv) and run "
            "`make lock`",
            file=sys.stderr,
        )
        return 0
    try:
        result = subprocess.run(
            [uv, "lock", "--quiet"], capture_output=True, text=True, timeout=LOCK_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        reason = f"no answer from the package index in {LOCK_TIMEOUT_S} s"
    else:
        if result.returncode == 0:
            return 0
        reason = first_error(result.stderr)
    print(
        f"uv.lock not {done}: uv lock failed ({reason}): run `make lock` once that is fixed",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "copy"))
