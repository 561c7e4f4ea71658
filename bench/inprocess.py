"""Drive the app in-process, without a server or a socket: CPU per request of the app and
its telemetry alone, for quick A/B comparisons and for profilers.

    BENCH_PACKAGE=bench_svc PYTHONPATH=bench build/bench/flask/.venv/bin/python \\
        bench/inprocess.py bench_svc.app 5000 [--profile out.prof]

The first argument is the module to import (``bench_svc.app``, ``bench_svc.wsgi``,
``bare_app``, ``tutorial_app``); with the zero-code set-up's sitecustomize first on
PYTHONPATH it measures the zero-code peer. Requests are GET /hello through the WSGI or
ASGI callable; the batch processors are flushed before the clock stops, so their
encoding is counted. Prints process CPU µs per request (all threads).

bench/instructions.py runs it under callgrind (``--wait``) and counts the instructions
of the measured requests only: repeatable whatever else the machine is doing.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import sys
import time
from typing import Any

from opentelemetry import _logs, trace


def _wsgi_driver(app: Any):
    environ_base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/hello",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "51234",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"inprocess: {status}")

    def one() -> None:
        environ = {**environ_base, "wsgi.input": io.BytesIO()}
        body = app(environ, start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()

    return lambda n: [one() for _ in range(n)]


def _asgi_driver(app: Any):
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/hello",
        "raw_path": b"/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 51234),
        "server": ("127.0.0.1", 8000),
    }
    loop = asyncio.new_event_loop()

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"inprocess: {message['status']}")

    async def many(n: int) -> None:
        for _ in range(n):
            await app({**scope_base, "state": {}}, receive, send)

    return lambda n: loop.run_until_complete(many(n))


def _flush() -> None:
    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider()):
        if hasattr(provider, "force_flush"):
            provider.force_flush()


def _profiler() -> Any:
    # bench/profile.py would shadow the standard library's profile module, which
    # cProfile imports: import it with bench/ off the path.
    bench = str(__import__("pathlib").Path(__file__).resolve().parent)
    saved = sys.path[:]
    sys.path[:] = [entry for entry in sys.path if entry not in (bench, "")]
    sys.modules.pop("profile", None)
    try:
        import cProfile
    finally:
        sys.path[:] = saved
    return cProfile.Profile()


def main() -> None:
    module_name, requests = sys.argv[1], int(sys.argv[2])
    module = importlib.import_module(module_name)
    app = getattr(module, "application", None) or module.app
    drive = _wsgi_driver(app) if getattr(module, "application", None) else None
    if drive is None:
        drive = _asgi_driver(app) if "fastapi" in type(app).__module__ else _wsgi_driver(app)
    drive(200)  # warm-up
    _flush()
    if "--wait" in sys.argv:
        # bench/instructions.py turns callgrind's instrumentation on now, and dumps the
        # counts when "done" is printed.
        print("ready", flush=True)
        sys.stdin.readline()
    profiler = _profiler() if "--profile" in sys.argv else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    drive(requests)
    _flush()
    if profiler:
        profiler.disable()
        profiler.dump_stats(sys.argv[sys.argv.index("--profile") + 1])
    print(f"{(time.process_time() - started) * 1e6 / requests:.1f}", flush=True)
    if "--wait" in sys.argv:
        print("done", flush=True)
        sys.stdin.readline()


if __name__ == "__main__":
    main()
