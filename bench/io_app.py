"""The service (or bench/bare_app.py's bare variant) plus one benchmark route, ``/io``,
that waits ~1 ms on real loopback I/O: a GET to bench/slow_backend.py through one shared
httpx client, as a service calling a database or another service would.

The rendered ``/downstream`` route is not used for this: it builds a new httpx client per
request, whose TLS context set-up costs far more CPU than the 1 ms wait being studied.

``BENCH_TELEMETRY=off`` builds on the bare app; ``BACKEND_URL`` is the slow backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os

import httpx

PACKAGE = os.environ["BENCH_PACKAGE"]
BACKEND_URL = os.environ["BACKEND_URL"]
logger = logging.getLogger(__name__)

if os.environ.get("BENCH_TELEMETRY") == "off":
    import bare_app as base
elif importlib.util.find_spec(f"{PACKAGE}.wsgi"):
    base = importlib.import_module(f"{PACKAGE}.wsgi")
else:
    base = importlib.import_module(f"{PACKAGE}.app")

if hasattr(base, "application"):  # Django
    from django.http import JsonResponse
    from django.urls import path

    client = httpx.Client()

    def io_view(request):
        logger.info("calling the backend")
        return JsonResponse({"status": client.get(BACKEND_URL).status_code})

    importlib.import_module(f"{PACKAGE}.urls").urlpatterns.append(path("io", io_view))
    application = base.application
elif type(base.app).__name__ == "Flask":
    client = httpx.Client()
    app = base.app

    @app.get("/io")
    def io_view() -> dict:
        logger.info("calling the backend")
        return {"status": client.get(BACKEND_URL).status_code}
else:  # FastAPI: an async client, created in the server's event loop on first use
    app = base.app
    async_client: httpx.AsyncClient | None = None

    @app.get("/io")
    async def io_view() -> dict:
        global async_client
        async_client = async_client or httpx.AsyncClient()
        logger.info("calling the backend")
        return {"status": (await async_client.get(BACKEND_URL)).status_code}
