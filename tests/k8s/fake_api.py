"""A loopback stand-in for the Kubernetes API server that enforces one Role: it records
every request the real collector makes, answers the allowed ones as an empty cluster
would (an empty list, then a watch that stays open) and refuses the rest with 403, as
RBAC would. No kube-apiserver runs here; the requests and the refusals are the point."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, order=True)
class ApiRequest:
    verb: str  # get, list or watch
    api_group: str
    resource: str
    namespace: str  # "" for a cluster-wide request


def parse(path: str) -> ApiRequest | None:
    """The RBAC view of a resource request; None for discovery and other non-resource paths."""
    url = urllib.parse.urlsplit(path)
    parts = [p for p in url.path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    query = urllib.parse.parse_qs(url.query)
    watching = query.get("watch", ["false"])[0] in ("true", "1")
    verb = "get" if len(rest) > 1 else ("watch" if watching else "list")
    return ApiRequest(verb, group, rest[0], namespace)


@dataclass
class FakeApiServer:
    url: str
    requests: list[ApiRequest] = field(default_factory=list)
    refused: list[ApiRequest] = field(default_factory=list)

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "agent", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "agent"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path


def _list_body(request: ApiRequest, accept: str) -> dict[str, Any]:
    if "as=PartialObjectMetadataList" in accept:
        kind, api_version = "PartialObjectMetadataList", "meta.k8s.io/v1"
    else:
        kind = request.resource.rstrip("s").capitalize() + "List"
        api_version = f"{request.api_group}/v1" if request.api_group else "v1"
    return {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": "1"},
        "items": [],
    }


def _object_kind(request: ApiRequest, accept: str) -> tuple[str, str]:
    if "as=PartialObjectMetadata" in accept:
        return "PartialObjectMetadata", "meta.k8s.io/v1"
    kind = request.resource.removesuffix("s").capitalize()
    return kind, f"{request.api_group}/v1" if request.api_group else "v1"


@contextmanager
def fake_api_server(
    allowed: set[tuple[str, str, str, str]], *, watch_list: bool
) -> Iterator[FakeApiServer]:
    """``allowed``: (verb, api group, resource, namespace) the Role permits. With
    ``watch_list``, a watch asking for the initial state (sendInitialEvents, how
    client-go 1.35 lists) gets it, as from Kubernetes 1.34; without, it is refused as
    servers without the WatchList feature do, and clients fall back to list + watch."""
    stopping = threading.Event()
    state: dict[str, FakeApiServer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            request = parse(self.path)
            server = state["server"]
            if request is None:
                self._json(404, {"kind": "Status", "apiVersion": "v1", "code": 404})
                return
            server.requests.append(request)
            key = (request.verb, request.api_group, request.resource, request.namespace)
            if key not in allowed:
                server.refused.append(request)
                self._json(
                    403,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "Forbidden",
                        "code": 403,
                    },
                )
                return
            accept = self.headers.get("Accept", "")
            if request.verb != "watch":
                self._json(200, _list_body(request, accept))
                return
            initial_events = "sendInitialEvents=true" in self.path
            if initial_events and not watch_list:
                message = (
                    "sendInitialEvents is forbidden for watch unless the WatchList feature"
                    " gate is enabled"
                )
                self._json(
                    422,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "Invalid",
                        "code": 422,
                        "message": message,
                    },
                )
                return
            # A watch that stays open until the test ends; the initial state of an empty
            # namespace is a bookmark that marks its end.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if initial_events:
                kind, api_version = _object_kind(request, accept)
                bookmark = {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": kind,
                        "apiVersion": api_version,
                        "metadata": {
                            "resourceVersion": "1",
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
                data = json.dumps(bookmark).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            stopping.wait()

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state["server"] = FakeApiServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        stopping.set()
        httpd.shutdown()
        httpd.server_close()
