"""Plain HTTP against the processes the tests start (loopback only)."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url``; returns (status, body), error statuses included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_ok(url: str) -> bool:
    """True once ``url`` answers 200; False while nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
