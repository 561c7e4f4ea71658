"""The tagged template history these tests render from."""

from tests.support.template_history import history  # noqa: F401 (a session fixture)
