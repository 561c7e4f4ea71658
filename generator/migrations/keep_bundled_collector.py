"""0.5.0: keep a service rendered before on its own collector agent and gateway.

0.5.0 asks collector_topology, whose default (platform) drops the collector from the
Kubernetes manifests and sends to the platform's shared collector. A service rendered before
has no recorded answer, so `copier update` would take that default and delete its
collector. This records `collector_topology: bundled` before copier reads the answers, so the
update keeps what the service runs; `--data collector_topology=platform` still moves it.

Runs before the update, in the project directory, with the answers file as argument.
Idempotent (a recorded answer is left alone) and touches nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def main(answers_file: str) -> int:
    path = Path(answers_file)
    answers = yaml.safe_load(path.read_text()) or {}
    if "collector_topology" in answers:
        return 0
    # Appended, not re-dumped: the file keeps its comment and order for copier's diff.
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") else "\n") + "collector_topology: bundled\n")
    print(
        "migration 0.5.0: collector_topology: bundled recorded (was the only choice)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
