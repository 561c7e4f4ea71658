"""Tools the tests build or install with a cached script in scripts/ (the collector,
kustomize, checkov, actionlint, Backstage's validators): scripts/test runs each once and
passes its path in an environment variable; without it, the script runs here (slow on a
cold cache, then reused)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from generator.rendering import TEMPLATE_ROOT


def built_tool(script: str, env_var: str, timeout: float) -> Path:
    """The path (a file or folder) ``scripts/<script>`` prints on its last line, or
    ``$<env_var>`` if set."""
    if binary := os.environ.get(env_var):
        return Path(binary)
    result = subprocess.run(
        [str(TEMPLATE_ROOT / "scripts" / script)], capture_output=True, text=True, timeout=timeout
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(f"scripts/{script} failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    binary = Path(lines[-1])
    assert binary.exists(), f"scripts/{script} printed {binary}, which does not exist"
    return binary
