"""The Jinja extension that copier.yml loads: how an answer is written into each file format,
and the checks behind the prompts' validators.

Copier loads this file from the template itself (``_jinja_extensions`` through
copier-template-extensions), also when no generator is installed, so it imports nothing
beyond the standard library and Jinja. The generator and the tests import it as
``generator.copier_extension``.

Each filter takes any text and returns it written as one literal of its format, quotes
included; what no format can carry (control characters, line breaks) is refused by
``text_problem`` before anything is rendered.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

# Top-level modules in a rendered project's .venv, for every framework and exporter: its
# dependencies, theirs, the dev tools and the venv's own pip/setuptools. A package of the
# same name would shadow one of them. tests/answers/test_dependency_modules.py installs
# renders and fails when a module is missing here.
DEPENDENCY_MODULES = frozenset(
    {
        "_distutils_hack",
        "_pytest",
        "_yaml",
        "aio_pika",
        "aiormq",
        "annotated_doc",
        "annotated_types",
        "anyio",
        "asgiref",
        "attr",
        "attrs",
        "blinker",
        "certifi",
        "charset_normalizer",
        "click",
        "confluent_kafka",
        "django",
        "fastapi",
        "flask",
        "google",
        "grpc",
        "gunicorn",
        "h11",
        "httpcore",
        "httpcore2",
        "httpx",
        "httpx2",
        "idna",
        "iniconfig",
        "itsdangerous",
        "jinja2",
        "jsonschema",
        "jsonschema_specifications",
        "markupsafe",
        "multidict",
        "opentelemetry",
        "packaging",
        "pamqp",
        "pika",
        "pip",
        "pkg_resources",
        "pluggy",
        "prometheus_client",
        "propcache",
        "py",
        "pydantic",
        "pydantic_core",
        "pygments",
        "pytest",
        "pythonjsonlogger",
        "referencing",
        "requests",
        "rpds",
        "ruff",
        "setuptools",
        "sqlparse",
        "starlette",
        "truststore",
        "typing_extensions",
        "typing_inspection",
        "urllib3",
        "uvicorn",
        "werkzeug",
        "yaml",
        "yarl",
        "wrapt",
    }
)
# Names the rendered project itself uses next to src/<package>, or that pytest and the
# import system treat specially.
PROJECT_NAMES = frozenset({"test", "tests", "src", "site", "conftest"})
# "type" became a soft keyword in 3.12; this may run on 3.11 for a 3.13 project.
SOFT_KEYWORDS = frozenset(keyword.softkwlist) | {"type", "_"}

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_PACKAGE = re.compile(r"[a-z_][a-z0-9_]*")
_OWNER = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_. ]{0,61}[A-Za-z0-9])?")
_CONTROL_NAMES = {"\t": "a tab", "\n": "a line break", "\r": "a carriage return"}


# --- checks behind the validators: "" when fine, else one line naming answer and fix ---------


def text_problem(value: str, name: str) -> str:
    """Why a free-text answer cannot be written into every file, or ""."""
    if not value.strip():
        return f"{name} must not be empty: write one line."
    for character in value:
        if unicodedata.category(character) in {"Cc", "Cs", "Zl", "Zp"}:
            return (
                f"{name} contains {_describe(character)} (U+{ord(character):04X}), which a "
                "one-line text cannot carry: remove it."
            )
    return ""


def _describe(character: str) -> str:
    if character in _CONTROL_NAMES:
        return _CONTROL_NAMES[character]
    category = unicodedata.category(character)
    if category in {"Zl", "Zp"} or character == "\x85":
        return "a line break"
    if category == "Cs":
        return "a lone surrogate"
    return "a control character"


# The other services of the rendered compose.yaml (its local collector, backends, broker
# and worker): a service of the same name would replace one of them, and the collector's
# name is also that of its rules file (tests/deploy checks this list against compose.yaml).
COMPOSE_SERVICES = frozenset(
    {
        "otel-collector",
        "jaeger",
        "tempo",
        "loki",
        "prometheus",
        "grafana",
        "rabbitmq",
        "kafka",
        "worker",
    }
)


def service_name_problem(value: str) -> str:
    if value in COMPOSE_SERVICES:
        return (
            f"service_name {value!r} is taken by the project's local stack (compose.yaml): "
            f"pick another, e.g. {value}-api."
        )
    if _DNS_LABEL.fullmatch(value):
        return ""
    return (
        f"service_name {value!r} is not a DNS-1123 label: use 1-63 lowercase letters, digits "
        "or '-', starting with a letter and ending with a letter or digit (e.g. checkout-api)."
    )


def package_name_problem(value: str) -> str:
    if not _PACKAGE.fullmatch(value):
        return (
            f"package_name {value!r} is not a valid lowercase Python identifier: use lowercase "
            "letters, digits and '_', not starting with a digit (e.g. checkout_api)."
        )
    fix = f"pick another name, e.g. {value.strip('_') or 'my'}_service."
    if keyword.iskeyword(value) or value in SOFT_KEYWORDS:
        return f"package_name {value!r} is a Python keyword, so `import {value}` fails: {fix}"
    if value in sys.stdlib_module_names:
        return f"package_name {value!r} would shadow the standard library module {value}: {fix}"
    if value in DEPENDENCY_MODULES:
        return f"package_name {value!r} would shadow the installed module {value}: {fix}"
    if value in PROJECT_NAMES:
        return f"package_name {value!r} would shadow the project's own {value}: {fix}"
    return ""


def owner_problem(value: str) -> str:
    """The owner becomes a Backstage entity name (spaces turned into '-'), so it keeps to one."""
    if _OWNER.fullmatch(value.strip()):
        return ""
    return (
        f"owner {value!r} must be 1-63 letters, digits, spaces, '-', '_' or '.', starting and "
        "ending with a letter or digit (e.g. team-payments)."
    )


# Brokers a service can publish to and its worker consume from; the validator refuses the
# others until the template carries their client, worker and tests.
MESSAGING_BROKERS = ("rabbitmq", "kafka")
MESSAGING_DEFAULT_ADDRESSES = {"rabbitmq": "rabbitmq:5672", "kafka": "kafka:9092"}
_BROKER_ADDRESS = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?:[0-9]{1,5}")


def messaging_problem(value: str) -> str:
    if value == "none" or value in MESSAGING_BROKERS:
        return ""
    return (
        f"messaging {value!r} is not available yet: choose "
        f"{' or '.join(MESSAGING_BROKERS)}, or none."
    )


def broker_address_default(messaging: str, deploy_targets: Any) -> str:
    """The compose stack runs the broker under its own name; elsewhere nothing does."""
    if "compose" in (deploy_targets or ()):
        return MESSAGING_DEFAULT_ADDRESSES.get(messaging, "")
    return ""


def broker_address_problem(value: str, messaging: str) -> str:
    if messaging == "none":
        return ""
    if not value:
        return (
            f"messaging {messaging} publishes to a broker, but broker_address is empty and no "
            "compose stack runs one: give the broker's host:port (e.g. "
            f"{MESSAGING_DEFAULT_ADDRESSES.get(messaging, 'broker:5672')}), or add compose to "
            "deploy_targets."
        )
    if "@" in value or "://" in value:
        return (
            f"broker_address {value!r} must be a plain host:port: credentials and schemes "
            "go in the MESSAGING_URL environment variable at run time (a secret), never "
            "into the answers file."
        )
    if not _BROKER_ADDRESS.fullmatch(value) or not 1 <= int(value.rpartition(":")[2]) <= 65535:
        return (
            f"broker_address {value!r} is not host:port: give a host name and a port from "
            f"1 to 65535 (e.g. {MESSAGING_DEFAULT_ADDRESSES.get(messaging, 'broker:5672')})."
        )
    return ""


def namespace_problem(value: str) -> str:
    if _DNS_LABEL.fullmatch(value):
        return ""
    return (
        f"collector_namespace {value!r} is not a Kubernetes namespace name: use 1-63 lowercase "
        "letters, digits or '-', starting with a letter (e.g. observability)."
    )


# --- a service's OTLP endpoint on the platform's collector ------------------------------------

# The node's address from the downward API (status.hostIP), as Kubernetes expands it in a
# container's environment.
HOST_IP = "$(HOST_IP)"
_HOST_NAME = re.compile(
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
)
_ENDPOINT = re.compile(r"(?P<scheme>https?)://(?P<host>[^/:?#@]+):(?P<port>[0-9]{1,5})")
_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


def otlp_endpoint_problem(value: str, name: str) -> str:
    """Why ``value`` is no OTLP endpoint a pod can send to, or ""."""
    match = _ENDPOINT.fullmatch(value.strip())
    host = match["host"] if match else ""
    if match and (host == HOST_IP or _HOST_NAME.fullmatch(host)) and 0 < int(match["port"]) < 65536:
        return ""
    return (
        f"{name} {value!r} is not scheme://host:port: give http:// or https://, a lowercase host "
        f"name or {HOST_IP}, and a port from 1 to 65535, nothing after it (e.g. "
        "http://otel-agent.observability.svc.cluster.local:4318)."
    )


def otlp_endpoint_route(value: str) -> dict[str, Any]:
    """Where an endpoint leads, for the service's egress NetworkPolicy and environment.

    ``node_local``: the node's address (HOST_IP); ``namespace``: the namespace of an
    in-cluster Service name (``svc.ns``, ``svc.ns.svc[.cluster.local]``), "" for a bare
    Service name (the service's own namespace), None for an address outside the cluster.
    """
    match = _ENDPOINT.fullmatch(value.strip())
    if match is None:
        raise ValueError(otlp_endpoint_problem(value, "OTLP endpoint"))
    host, port = match["host"], int(match["port"])
    namespace: str | None = None
    if host != HOST_IP:
        suffix = next((end for end in _CLUSTER_SUFFIXES if host.endswith(end)), "")
        labels = host.removesuffix(suffix).split(".")
        # What the cluster's DNS resolves first (ndots 5): "svc" or "svc.namespace".
        if len(labels) <= 2:
            namespace = labels[1] if len(labels) == 2 else ""
    return {"host": host, "port": port, "node_local": host == HOST_IP, "namespace": namespace}


def dns_label(value: Any) -> str:
    """A folder name (or path) made into a DNS-1123 label: the default service name."""
    name = Path(str(value)).expanduser().resolve().name.lower()
    label = re.sub(r"[^a-z0-9]+", "-", name)
    label = re.sub(r"^[^a-z]+", "", label)[:63].rstrip("-")
    return label or "service"


def catalog_name(value: str) -> str:
    """The owner as a Backstage entity name: spaces become '-'."""
    return value.strip().replace(" ", "-")


# --- one literal per format ------------------------------------------------------------------


def _escape_controls(text: str, escape: Callable[[int], str]) -> str:
    return "".join(
        escape(ord(c)) if unicodedata.category(c) in {"Cc", "Zl", "Zp"} else c for c in text
    )


def toml_string(value: str) -> str:
    """A TOML basic string: backslash and quote escaped, control characters as \\uXXXX."""
    body = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _escape_controls(body, lambda code: f"\\u{code:04X}") + '"'


def json_string(value: str) -> str:
    """A JSON string, non-ASCII kept as written (valid UTF-8 JSON)."""
    return json.dumps(value, ensure_ascii=False)


# Characters YAML streams may carry raw (YAML 1.2 c-printable); others must be escaped.
_YAML_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar: always a string, whatever it looks like (yes, 017, null)."""
    body = value.replace("\\", "\\\\").replace('"', '\\"')
    body = _escape_controls(body, _yaml_escape)
    return '"' + _YAML_NON_PRINTABLE.sub(lambda m: _yaml_escape(ord(m.group())), body) + '"'


def _yaml_escape(code: int) -> str:
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def python_string(value: str) -> str:
    """A Python string literal, quoted as ruff format would quote it."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    body = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return quote + _escape_controls(body, _python_escape) + quote


def python_docstring(value: str) -> str:
    """A one-line triple-quoted docstring that ruff format leaves as it is."""
    body = _escape_controls(value.replace("\\", "\\\\"), _python_escape)
    # A quote is escaped only where it would end the literal or make ruff add a space:
    # first, last, or followed by another quote.
    characters = list(body)
    for index, character in enumerate(characters):
        following = characters[index + 1] if index + 1 < len(characters) else ""
        if character == '"' and (index == 0 or following in {"", '"'}):
            characters[index] = '\\"'
    return '"""' + "".join(characters) + '"""'


def _python_escape(code: int) -> str:
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# Inline Markdown (CommonMark plus GitHub's tables and strikethrough): characters that can
# start markup anywhere in a line; '&' only where it would start an entity.
_MARKDOWN_INLINE = re.compile(r"[\\`*\[\]<>~|]|&(?=#?[A-Za-z0-9]+;)")
# '_' makes emphasis only at a word's edge, so snake_case stays as written.
_MARKDOWN_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# At the start of a line: headings, list items, thematic breaks, ordered list numbers.
_MARKDOWN_LINE_START = re.compile(r"[#+-]|\d{1,9}(?=[.)](?:\s|$))")


def markdown_text(value: str) -> str:
    """Text that Markdown shows as written, on a line of its own or inside **bold**."""
    if any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in value):
        raise ValueError("Markdown text cannot carry control characters or line breaks")
    text = _MARKDOWN_INLINE.sub(lambda m: "\\" + m.group(), value)
    text = _MARKDOWN_UNDERSCORE.sub(r"\\_", text)
    start = _MARKDOWN_LINE_START.match(text)
    if start and text[0].isdigit():
        # A number starts a list only with its '.' or ')': escape that.
        text = text[: start.end()] + "\\" + text[start.end() :]
    elif start:
        text = "\\" + text
    return text


FILTERS: dict[str, Callable[..., Any]] = {
    "toml_string": toml_string,
    "json_string": json_string,
    "yaml_string": yaml_string,
    "python_string": python_string,
    "python_docstring": python_docstring,
    "markdown_text": markdown_text,
    "dns_label": dns_label,
    "catalog_name": catalog_name,
    "text_problem": text_problem,
    "service_name_problem": service_name_problem,
    "package_name_problem": package_name_problem,
    "owner_problem": owner_problem,
    "messaging_problem": messaging_problem,
    "broker_address_default": broker_address_default,
    "broker_address_problem": broker_address_problem,
    "namespace_problem": namespace_problem,
    "otlp_endpoint_problem": otlp_endpoint_problem,
    "otlp_endpoint_route": otlp_endpoint_route,
}


# Copier's CLI prints a refused --data/--defaults answer (a validator's ValueError) as a
# Python traceback with the message on its last line; these are its messages' openings.
_REFUSALS = ("Validation error for question ", "Question ")


def _print_refusals_in_one_line(previous: Any) -> Any:
    def hook(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        if issubclass(kind, ValueError) and str(error).startswith(_REFUSALS):
            print(f"copier: {' '.join(str(error).split())}", file=sys.stderr)
        else:
            previous(kind, error, traceback)

    hook.prints_refusals = True  # type: ignore[attr-defined]
    return hook


class AnswersExtension(Extension):
    """Registers the filters above on Copier's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(FILTERS)
        # Only an exception nobody caught reaches the hook (the copier command's refusals);
        # programs calling copier's API still get the ValueError. The exit code stays 1.
        if not getattr(sys.excepthook, "prints_refusals", False):
            sys.excepthook = _print_refusals_in_one_line(sys.excepthook)
