"""0.4.0: keep the team's Grafana dashboards provisioned when the compose mount moves.

Up to 0.3.0 the generated `deploy/compose/grafana/dashboards/README.md` told teams to save
exported dashboards as JSON in that folder, which compose.yaml mounted at
/etc/grafana/dashboards. When a newer compose.yaml mounts another folder there, the team's
JSON files are not template files: copier's 3-way merge leaves them where they are and
Grafana silently stops loading them. This moves them to the folder compose.yaml now mounts.

Runs after the update, in the project directory. Idempotent (a second run finds nothing to
move) and safe (never overwrites: a name clash is reported and the file stays put).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

OLD_FOLDER = Path("deploy/compose/grafana/dashboards")
MOUNT_TARGET = "/etc/grafana/dashboards"


def mounted_folder(compose: dict[str, Any]) -> Path | None:
    """The host folder compose.yaml mounts at Grafana's dashboards path, if any."""
    grafana = (compose.get("services") or {}).get("grafana") or {}
    for volume in grafana.get("volumes") or []:
        if isinstance(volume, dict):
            source, target = volume.get("source"), volume.get("target")
        else:
            source, _, rest = str(volume).partition(":")
            target = rest.split(":", 1)[0]
        if target == MOUNT_TARGET and source:
            return Path(source)
    return None


def main() -> int:
    compose_file = Path("compose.yaml")
    team_dashboards = sorted(OLD_FOLDER.glob("*.json")) if OLD_FOLDER.is_dir() else []
    if not team_dashboards or not compose_file.is_file():
        return 0
    new_folder = mounted_folder(yaml.safe_load(compose_file.read_text()) or {})
    if new_folder is None:
        print(
            f"migration 0.4.0: compose.yaml mounts no dashboards folder; "
            f"{len(team_dashboards)} dashboard(s) left in {OLD_FOLDER}",
            file=sys.stderr,
        )
        return 0
    if new_folder == OLD_FOLDER:
        return 0
    new_folder.mkdir(parents=True, exist_ok=True)
    for dashboard in team_dashboards:
        destination = new_folder / dashboard.name
        if destination.exists():
            print(
                f"migration 0.4.0: {destination} exists; {dashboard} left in place, "
                "merge it by hand",
                file=sys.stderr,
            )
            continue
        dashboard.rename(destination)
        print(f"migration 0.4.0: moved {dashboard} to {destination}", file=sys.stderr)
    if not any(OLD_FOLDER.iterdir()):
        OLD_FOLDER.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
