"""The rendered service's own app, built without OpenTelemetry: the benchmark's baseline.

"Bare" means: the same app module, routes, JSON logging and server settings, but the
service's ``telemetry`` module and the framework instrumentor are replaced by stubs
before the app is imported, so no SDK, exporter, processor or instrumentor is ever
imported or configured. The OpenTelemetry *API* is still imported by the app's own code
(``items.py`` creates its tracer and meter); without an SDK those are the API's no-op
objects, which is what a library pays when its user installs no SDK.

Served as ``bare_app:app`` (Flask, FastAPI) or ``bare_app:application`` (Django), with
``BENCH_PACKAGE`` naming the rendered package and ``bench/`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any

PACKAGE = os.environ["BENCH_PACKAGE"]


class _NoInstrumentor:
    """Stands in for FlaskInstrumentor, FastAPIInstrumentor and DjangoInstrumentor."""

    def instrument(self, **_: Any) -> None:
        pass

    @staticmethod
    def instrument_app(*_: Any, **__: Any) -> None:
        pass


def _stub_module(name: str, **attributes: Any) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module


def _install_stubs() -> None:
    # The telemetry package's stand-in: its modules (JSON logs, masking) load from the real
    # folder, its __init__ (the SDK set-up) never runs.
    package_dir = importlib.util.find_spec(PACKAGE).submodule_search_locations[0]

    def configure_telemetry(**_: Any) -> None:
        # Same JSON logs on stdout as the real service, minus the trace context.
        importlib.import_module(f"{PACKAGE}.telemetry.logs").configure_logging()

    _stub_module(
        f"{PACKAGE}.telemetry",
        __path__=[os.path.join(package_dir, "telemetry")],
        configure_telemetry=configure_telemetry,
        shutdown_telemetry=lambda: None,
        excluded_urls=lambda: "",
    )
    for framework in ("flask", "fastapi", "django"):
        _stub_module(
            f"opentelemetry.instrumentation.{framework}",
            FlaskInstrumentor=_NoInstrumentor,
            FastAPIInstrumentor=_NoInstrumentor,
            DjangoInstrumentor=_NoInstrumentor,
        )


_install_stubs()
if importlib.util.find_spec(f"{PACKAGE}.wsgi"):
    application = importlib.import_module(f"{PACKAGE}.wsgi").application
else:
    app = importlib.import_module(f"{PACKAGE}.app").app
