"""The tagged template history these tests render from, and a project rendered from its
last release and committed, as a team would have it."""

from pathlib import Path

import pytest

from tests.support.template_history import (
    History,
    history,  # noqa: F401 (a session fixture)
)
from tests.update.projects import commit_all, render_version


@pytest.fixture
def old_project(history: History, tmp_path: Path) -> Path:  # noqa: F811 (the fixture)
    project = render_version(
        history.repository, history.released[-1], tmp_path / "shop", {"service_name": "shop"}
    )
    commit_all(project, "Generated")
    return project
