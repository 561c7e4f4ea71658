"""The service's own redaction (the rendered src/<pkg>/telemetry/redaction.py), on generated input:
the same rules as the collector, plus the Luhn check the collector cannot make."""

from __future__ import annotations

import importlib.util
import logging
import sys
from types import ModuleType
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.payloads import ALL_PLANTED, LOOK_ALIKES, leaked, redaction_rules
from tests.hostile.strategies import card_numbers, look_alikes, secrets_in_text

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def redaction(render) -> ModuleType:
    """The rendered module, imported alone (it needs only the standard library)."""
    path = render({"framework": "flask"}, service_name="hostile-module") / "src"
    spec = importlib.util.spec_from_file_location(
        "rendered_redaction", path / "hostile_module" / "telemetry" / "redaction.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_rules_are_the_templates(redaction: ModuleType) -> None:
    assert redaction.RULES == {r["name"]: r["regex"] for r in redaction_rules()}


def test_planted_values_are_masked_and_look_alikes_kept(redaction: ModuleType) -> None:
    for value in ALL_PLANTED:
        assert leaked(redaction.redact(f"x {value.text}, {value.text}.")) == [], value
    for text in LOOK_ALIKES:
        assert redaction.redact(text) == text


@SETTINGS
@given(secrets_in_text())
def test_generated_secrets_never_survive(redaction: ModuleType, case) -> None:
    text, secret = case
    masked = redaction.redact(text)
    assert secret not in masked
    assert redaction.redact(masked) == masked


@SETTINGS
@given(look_alikes())
def test_look_alikes_are_never_touched(redaction: ModuleType, text: str) -> None:
    assert redaction.redact(f"id {text} seen") == f"id {text} seen"


@SETTINGS
@given(card_numbers(), st.integers(1, 9))
def test_a_card_failing_the_luhn_check_is_kept(redaction, card: str, change: int) -> None:
    last = str((int(card[-1]) + change) % 10)
    not_a_card = card[:-1] + last
    assert redaction.redact(not_a_card) == not_a_card


@SETTINGS
@given(
    st.dictionaries(st.text("abcdefgh_", min_size=1, max_size=8), st.text(max_size=20), max_size=6)
)
def test_query_values_never_survive(redaction: ModuleType, params: dict[str, str]) -> None:
    masked = redaction.redact_query(urlencode(params))
    assert all(value == redaction.MASK for _, value in parse_qsl(masked, keep_blank_values=True))


def test_log_record_fields_and_exceptions(redaction: ModuleType) -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "for %s", ("a@b.org",), None)
    record.request = type("Request", (), {"__str__": lambda s: "<GET /x?token=abc123456>"})()
    record.card_number = 4111111111111111
    try:
        raise KeyError("jane.doe@example.com")
    except KeyError:
        record.exc_info = sys.exc_info()
    assert redaction.RedactingFilter().filter(record)
    assert record.getMessage() == "for ****"
    assert "abc123456" not in record.request
    assert record.card_number == "****"
    assert "jane.doe@example.com" not in str(record.exc_info[1])
    assert record.exc_info[0] is KeyError
