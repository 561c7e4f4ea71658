"""Hostile traffic against each framework's rendered service on its real server, with the
real collector (rendered config) and real Prometheus: secrets and personal data in every
field a client controls, a configured downstream URL carrying credentials, and a burst of
random unmatched paths. Everything that leaves is read back: the collector's output, its
Prometheus exposition, Prometheus itself, the service's stdout, the downstream call and
the responses. None may hold a planted value, and no client input may mint a series."""

from __future__ import annotations

import http.client
import json
import random
import string
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.stack import collector, prometheus, services
from tests.hostile.payloads import LOOK_ALIKES, leaked
from tests.support import otlp_json
from tests.support.matrix import PYTHON_BY_FRAMEWORK
from tests.support.processes import free_port, wait_until
from tests.support.venvs import installed_render

pytestmark = pytest.mark.slow

BURST = 1000
SERVER = 2  # OTLP span kind
EMAIL, CARD, IBAN = "jane.doe@example.com", "4111111111111111", "DE89370400440532013000"
TOKEN, PASSWORD, BEARER = "Pl4ntedQueryTok", "Pl4ntedPw", "Pl4ntedBearerTok"
ALLOWED_PARAM = "ref"  # REDACTION_ALLOWED_QUERY_PARAMS: its value is kept, checked intact


def hostile_requests() -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, headers): one planted value per carrier a client controls."""
    return [
        ("GET", f"/items/{CARD}", {}),  # a card number where the route takes an int
        ("GET", f"/users/{quote(EMAIL)}", {}),  # personal data in an unmatched path
        ("GET", f"/accounts/{IBAN}/statement", {}),
        (
            "GET",
            f"/hello?token={TOKEN}&email={EMAIL}&password={PASSWORD}"
            f"&{ALLOWED_PARAM}={LOOK_ALIKES[0]}",
            {},
        ),
        (
            "GET",
            "/hello",
            {
                "Authorization": f"Bearer {BEARER}",
                "Proxy-Authorization": "Basic UGw0bnRlZEJhc2lj",
                "Cookie": "session=Pl4ntedCookie",
                "X-Api-Key": "Pl4ntedApiKey",
                "X-Auth-Token": "Pl4ntedAuthTok",
                "X-CSRF-Token": "Pl4ntedCsrf",
                "X-Customer": f"card {CARD}",
                "User-Agent": f"hostile-client/1.0 ({EMAIL})",
                "baggage": f"user.email={quote(EMAIL)},account=Pl4ntedBaggage",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "tracestate": f"vendor={EMAIL}",
            },
        ),
        ("GET", "/downstream", {"baggage": "account=Pl4ntedBaggage"}),
        ("POST", f"/hello?api_key={TOKEN}", {}),
        ("PURGE", f"/{EMAIL}", {}),
    ]


PLANTED_IN_REQUESTS = [
    EMAIL,
    CARD,
    IBAN,
    TOKEN,
    PASSWORD,
    BEARER,
    "UGw0bnRlZEJhc2lj",
    "Pl4ntedCookie",
    "Pl4ntedApiKey",
    "Pl4ntedAuthTok",
    "Pl4ntedCsrf",
    "Pl4ntedBaggage",
]


def send(base_port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def random_paths(count: int) -> list[str]:
    rng = random.Random(13)
    alphabet = string.ascii_lowercase + string.digits

    def token() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(6, 14)))

    return [f"/{token()}/{token()}" for _ in range(count)]


class Downstream:
    """The service's downstream on loopback: records what each call carried."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                received.append({"path": self.path, **dict(self.headers)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def installed(framework: str, telemetry_config: str, render) -> tuple[str, Path, Path]:
    name = f"{framework}-hostile" + ("-file" if telemetry_config == "file" else "")
    answers = {
        "telemetry_config": telemetry_config,
        "service_name": name,
        "framework": framework,
        "python_version": PYTHON_BY_FRAMEWORK[framework],
        "exporters": ["otlp_http"],
    }
    return (name, *installed_render(render, answers))


def test_hostile_traffic_leaves_nothing_and_mints_no_series(
    framework: str, installed, otelcol: Path, tmp_path: Path
) -> None:
    name, project, bin_dir = installed
    downstream = Downstream()
    paths = random_paths(BURST)
    config = project / "collector" / "otelcol-config.yaml"
    try:
        with (
            collector(otelcol, config, tmp_path) as col,
            prometheus(col.prometheus_port, tmp_path) as prom,
        ):
            env = {
                **col.service_env(),
                # A team that captures every header must still not export credentials.
                "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
                "REDACTION_ALLOWED_QUERY_PARAMS": ALLOWED_PARAM,
                "DOWNSTREAM_URL": (
                    f"http://svc-user:{PASSWORD}@127.0.0.1:{downstream.port}/cb?token={TOKEN}"
                ),
            }
            with services([(name, project, bin_dir, free_port(), env)], tmp_path) as started:
                service = started[name]
                responses = [
                    send(service.port, method, path, headers)
                    for method, path, headers in hostile_requests()
                ]
                with ThreadPoolExecutor(8) as pool:
                    statuses = list(pool.map(lambda p: send(service.port, "GET", p, {})[0], paths))
                assert set(statuses) == {404}, set(statuses)
                sent = len(responses) + BURST

                def server_spans() -> list[dict]:
                    return [
                        s
                        for s in otlp_json.spans(col.records())
                        if s["service"] == name and s["kind"] == SERVER
                    ]

                wait_until(lambda: len(server_spans()) >= sent, 60, f"{sent} server spans")
                calls = f'traces_span_metrics_calls_total{{service_name="{name}"}}'
                wait_until(
                    lambda: sum(float(r["value"][1]) for r in prom.query(calls)) >= sent,
                    60,
                    "Prometheus to count every request",
                )
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{col.prometheus_port}/metrics"
                ) as response:
                    exposition = response.read().decode()
                series = prom.series(f'{{service_name="{name}"}}')
                spans = server_spans()
            stdout = service.process.log()
            collector_output = col.output.read_text()
    finally:
        downstream.close()

    everything = {
        "collector output": collector_output,
        "collector :8889": exposition,
        "Prometheus": json.dumps(series),
        "service stdout": stdout,
        "responses": repr(responses),
    }
    for where, text in everything.items():
        found = [v for v in PLANTED_IN_REQUESTS if v in text] + leaked(text)
        assert not found, f"{where} holds {sorted(set(found))}"

    # Baggage from a client is not forwarded to the hosts the service calls.
    (call,) = downstream.requests
    assert not any(key.lower() == "baggage" for key in call), call

    label_sets: dict[str, set] = {}
    for s in series:
        labels = frozenset((k, v) for k, v in s.items() if k not in ("__name__", "le"))
        label_sets.setdefault(s["__name__"], set()).add(labels)
    per_metric = {metric: len(sets) for metric, sets in label_sets.items()}
    print(f"{framework}: at most {max(per_metric.values())} label sets per metric")
    # No client input became a span name or a series label.
    tokens = {part for path in paths for part in path.split("/") if part}
    names = {s["name"] for s in spans}
    assert not {n for n in names if any(t in n for t in tokens)}, names
    labels = {value for s in series for value in s.values()}
    assert not labels & tokens
    # Routes x methods x status codes, with every client URL folded into "no route".
    routes = {s["attrs"].get("http.route", "") for s in spans}
    methods = {s["attrs"].get("http.request.method") for s in spans}
    codes = {s["attrs"].get("http.response.status_code") for s in spans}
    bound = len(routes) * len(methods) * len(codes)
    assert max(per_metric.values()) <= bound, (bound, per_metric)
    assert len(routes) <= 6 and methods <= {"GET", "POST", "_OTHER"}, (routes, methods)

    # The harmless look-alike in an allowed query parameter came through intact.
    assert LOOK_ALIKES[0] in collector_output
