"""What the hostile tier plants, and what must come out unharmed.

PLANTED maps each redaction rule (copier.yml `redaction_rules`) to values only that rule
matches, so removing the rule makes them leak. A value's `secret` is the part that must
never appear in anything that leaves the service or the collector. Add a value here and
every carrier of the tier sends it.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Planted:
    text: str
    secret: str  # the part that must not leave, where the text also holds harmless words


def _p(text: str, secret: str | None = None) -> Planted:
    return Planted(text, secret or text)


PLANTED: dict[str, list[Planted]] = {
    "email": [_p("jane.doe@example.com"), _p("ops+alerts@corp.example.org")],
    "jwt": [_p("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlcGxhbnRlZA")],
    "url_userinfo": [_p("http://svc-user:Pl4ntedPw@db-host:5432/app", "Pl4ntedPw")],
    "credential": [
        _p("Bearer Pl4ntedBearerTok", "Pl4ntedBearerTok"),
        _p("Basic UGw0bnRlZEJhc2lj", "UGw0bnRlZEJhc2lj"),
    ],
    "query_secret": [
        _p("token=Pl4ntedQueryTok", "Pl4ntedQueryTok"),
        _p("password=Pl4ntedPass", "Pl4ntedPass"),
    ],
    "card": [
        _p("4111 1111 1111 1111"),  # Visa, grouped
        _p("5555-5555-5555-4444"),  # Mastercard, grouped by '-'
        _p("378282246310005"),  # American Express
        _p("6011111111111117"),  # Discover
        _p("3530111333300000"),  # JCB
        _p("30569309025904"),  # Diners Club, 14 digits
        _p("6200000000000005"),  # UnionPay
        _p("6759649826438453"),  # Maestro
        _p("cc_4012888888881881", "4012888888881881"),  # next to '_'
    ],
    "iban": [_p("GB82 WEST 1234 5698 7654 32"), _p("DE89370400440532013000")],
}

ALL_PLANTED = [value for values in PLANTED.values() for value in values]

# Values that look like the patterns' targets and must come out exactly as they went in.
LOOK_ALIKES = [
    "5b8efff798038103d269b633813fc60c",  # a trace id
    "eee19b7ec3c1b174",  # a span id
    "9f1c2b7e-4d3a-4b8e-9c51-2e7d3f6a8b10",  # a UUID
    "1764498264123456789",  # epoch nanoseconds
    "1764498264123",  # epoch milliseconds
    "2026-11-30T10:24:24.123+00:00",
    "GET /items/<int:item_id> took 42 ms",
    "build 3f2a9c1e0b4d",
]


def leaked(text: str) -> list[str]:
    """The planted secrets found in ``text`` (digits-only forms of card numbers too)."""
    found = []
    for value in ALL_PLANTED:
        forms = {value.secret, value.secret.replace(" ", "").replace("-", "")}
        if any(form in text for form in forms):
            found.append(value.secret)
    return found


def redaction_rules() -> list[dict[str, Any]]:
    """The rules as copier.yml defines them (a JSON list, no Jinja)."""
    copier = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    return yaml.safe_load(copier["redaction_rules"]["default"])


def _attrs(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]


def _numbered(prefix: str, texts: list[str]) -> dict[str, str]:
    return {f"{prefix}.{i}": text for i, text in enumerate(texts)}


TRACE_ID = "5b8efff798038103d269b633813fc60c"


def _resource(service: str, texts: list[str]) -> dict[str, Any]:
    return {"attributes": _attrs({"service.name": service, **_numbered("owner", texts)})}


def otlp_span_payload(service: str, texts: list[str]) -> dict[str, Any]:
    """A span carrying ``texts`` in every place a sender can write text that the collector
    can reach, and the look-alikes as plain attributes. Not in links: OTTL 0.158 cannot
    read or edit a link's attributes (docs/safety.md), and the services make no links."""
    joined = " | ".join(texts)
    return {
        "resourceSpans": [
            {
                "resource": _resource(service, texts),
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": "eee19b7ec3c1b174",
                                "traceState": "vendor=jane.doe@example.com",
                                "name": f"checkout {joined}",
                                "kind": 2,
                                "startTimeUnixNano": "1764498264000000000",
                                "endTimeUnixNano": "1764498264100000000",
                                "attributes": _attrs(
                                    {
                                        **_numbered("note", texts),
                                        **_numbered("look_alike", LOOK_ALIKES),
                                        "http.request.method": "GET",
                                        "http.route": "/checkout",
                                    }
                                ),
                                "events": [
                                    {
                                        "timeUnixNano": "1764498264050000000",
                                        "name": f"retry {joined}",
                                        "attributes": _attrs(
                                            {"exception.message": f"failed: {joined}"}
                                        ),
                                    }
                                ],
                                "status": {"code": 2, "message": f"failed for {joined}"},
                            }
                        ]
                    }
                ],
            }
        ]
    }


def otlp_log_payload(service: str, texts: list[str]) -> dict[str, Any]:
    joined = " | ".join(texts)
    return {
        "resourceLogs": [
            {
                "resource": _resource(service, texts),
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1764498264000000000",
                                "severityNumber": 9,
                                "eventName": f"login {joined}",
                                "body": {"stringValue": f"user typed {joined}"},
                                "attributes": _attrs(
                                    {**_numbered("field", texts), **_numbered("look", LOOK_ALIKES)}
                                ),
                                "traceId": TRACE_ID,
                                "spanId": "eee19b7ec3c1b174",
                            }
                        ]
                    }
                ],
            }
        ]
    }


def otlp_metric_payload(service: str, texts: list[str]) -> dict[str, Any]:
    return {
        "resourceMetrics": [
            {
                "resource": _resource(service, texts),
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "hostile.probe",
                                "sum": {
                                    "aggregationTemporality": 2,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "asInt": "1",
                                            "timeUnixNano": "1764498264000000000",
                                            "attributes": _attrs({"customer": text, "n": str(i)}),
                                        }
                                        for i, text in enumerate(texts)
                                    ],
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }


def post_otlp(endpoint: str, signal: str, payload: dict[str, Any]) -> None:
    """Send one OTLP/HTTP JSON request to the collector (``signal``: traces, logs, metrics)."""
    request = urllib.request.Request(
        f"{endpoint}/v1/{signal}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status
