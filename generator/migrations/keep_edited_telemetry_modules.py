"""0.5.0: keep the team's edits of the telemetry modules that moved into a package.

0.5.0 moves src/<package>/telemetry.py, logging_setup.py, metric_views.py and redaction.py
into src/<package>/telemetry/. Copier deletes a file the new release no longer renders,
edited or not, and says nothing: a team's change to one of them would be lost. This puts
each module the team had edited back at its old path, as it was before the update (the new
package takes precedence on import, so it changes nothing at run time), and says where its
content lives now. Unedited modules stay deleted.

Runs after the update, in the project directory: argument 1 is the template's source,
argument 2 the version the project is updated from. "Edited" means different from that
version rendered with the project's answers. Idempotent: a module that exists is left alone.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import copier
import yaml

MOVED = {
    "telemetry.py": "telemetry/__init__.py",
    "logging_setup.py": "telemetry/logs.py",
    "metric_views.py": "telemetry/views.py",
    "redaction.py": "telemetry/redaction.py",
}


def before_update(path: str) -> str | None:
    """The file's content as committed before the update (copier needs a clean tree)."""
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def main(template: str, version_from: str) -> int:
    answers = yaml.safe_load(before_update(".copier-answers.yml") or "{}") or {}
    package = answers.get("package_name")
    if not package:
        return 0
    candidates = {
        Path("src", package, old): new
        for old, new in MOVED.items()
        if not Path("src", package, old).exists() and before_update(f"src/{package}/{old}")
    }
    if not candidates:
        return 0
    with tempfile.TemporaryDirectory() as rendered, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(
            template,
            rendered,
            data={key: value for key, value in answers.items() if not key.startswith("_")},
            vcs_ref=version_from,
            defaults=True,
            quiet=True,
            unsafe=True,
        )
        for path, new in candidates.items():
            team_version = before_update(path.as_posix())
            original = Path(rendered, path)
            if original.is_file() and original.read_text() == team_version:
                continue
            path.write_text(team_version or "")
            print(
                f"migration 0.5.0: {path} had your edits, so it is kept; the module is now "
                f"src/{package}/{new}: move your changes there, then delete {path}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
