"""Typical edits a team makes to its generated service, as functions of the project tree.

The same functions edit the project before an update and a fresh render of the newest
version, so "update result == fresh copy + team edits" is an exact comparison. Each edit
anchors on text every release renders and fails loudly if the anchor disappears.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

NEW_ROUTE = """

@app.get("/team/ping")
def team_ping() -> dict[str, str]:
    return {"pong": "team"}
"""

EXTRA_DEPENDENCY = '    "humanize>=4.9",\n'

TEAM_PROCESSOR = """  # Team: every metric carries the cost centre that pays for it.
  attributes/team:
    actions:
      - key: team.cost_center
        action: insert
        value: cc-1234
"""


TEAM_PIPELINE = """    metrics/team:
      receivers: [otlp]
      processors: [memory_limiter, attributes/team, batch]
      exporters: [prometheus]
"""


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"team edit anchor {old!r} is not exactly once in {path}"
    path.write_text(text.replace(old, new))


def add_route(project: Path, package: str) -> None:
    app = project / "src" / package / "app.py"
    app.write_text(app.read_text() + NEW_ROUTE)


def add_dependency(project: Path, package: str) -> None:
    _replace_once(
        project / "pyproject.toml", "dependencies = [\n", "dependencies = [\n" + EXTRA_DEPENDENCY
    )


def logging_module(project: Path, package: str) -> Path:
    """The module that sets up logging: telemetry/logs.py since 0.5.0, logging_setup.py
    before (an update keeps the edited old one: the migration of 0.5.0)."""
    old = project / "src" / package / "logging_setup.py"
    return old if old.exists() else project / "src" / package / "telemetry" / "logs.py"


def change_log_level(project: Path, package: str) -> None:
    _replace_once(
        logging_module(project, package),
        'os.environ.get("LOG_LEVEL", "INFO")',
        'os.environ.get("LOG_LEVEL", "DEBUG")',
    )


def add_collector_processor(project: Path, package: str) -> None:
    # Defined, and used by a pipeline of the team's own: the rendered pipelines' processor
    # lists are the template's, and a release that changes one (0.5.0 did, all three)
    # conflicts with a team edit of that line (test_overlapping_edit_... covers that).
    config = project / "collector" / "otelcol-config.yaml"
    _replace_once(config, "\nprocessors:\n", "\nprocessors:\n" + TEAM_PROCESSOR)
    _replace_once(config, "\n  pipelines:\n", "\n  pipelines:\n" + TEAM_PIPELINE)


TEAM_EDITS: list[Callable[[Path, str], None]] = [
    add_route,
    add_dependency,
    change_log_level,
    add_collector_processor,
]


def apply_team_edits(project: Path, package: str) -> None:
    for edit in TEAM_EDITS:
        edit(project, package)


def missing_team_edits(project: Path, package: str) -> list[str]:
    """The edits missing from ``project`` (empty when every edit survived)."""
    app = (project / "src" / package / "app.py").read_text()
    collector = (project / "collector" / "otelcol-config.yaml").read_text()
    checks = {
        "route": NEW_ROUTE in app,
        "dependency": EXTRA_DEPENDENCY in (project / "pyproject.toml").read_text(),
        "log level": '"LOG_LEVEL", "DEBUG"' in logging_module(project, package).read_text(),
        "collector processor": TEAM_PROCESSOR in collector and TEAM_PIPELINE in collector,
    }
    return [name for name, present in checks.items() if not present]
