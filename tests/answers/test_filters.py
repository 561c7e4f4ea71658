"""The template's per-format filters and answer checks, as plain functions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import copier_extension as ext
from tests.answers import readback

HOSTILE = [
    'The "checkout" service',
    'ends with a quote"',
    '"starts with a quote',
    'three """ quotes',
    "trailing backslash \\",
    r"C:\new \u0041 \x41 \N{BULLET}",
    "emoji 😀 and CJK 中文 and RTL שלום",
    "# not a heading",
    "- not a list",
    "1. not a list",
    "2024) not a list",
    "*bold* _em_ snake_case __dunder__ `code` [link](x) <b>tag</b> ~~strike~~ a | b",
    "&amp; &#169; R&D",
    "yes",
    "null",
    "017",
    "1_000",
    "key: value # comment",
    "{braces} [brackets] 'single' ${{ github }} {{ jinja }}",
    "\ufeff BOM, \u200b zero width, \u202e override, \ufffe non-character",
    "\U0010fffd plane 16",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_each_filter_reads_back_exactly(value: str) -> None:
    assert readback.from_toml(ext.toml_string(value)) == value
    assert readback.from_json(ext.json_string(value)) == value
    assert readback.from_yaml(ext.yaml_string(value)) == value
    assert readback.from_python(ext.python_string(value)) == value
    assert readback.from_docstring(ext.python_docstring(value) + "\n") == value
    if value == value.strip():
        assert readback.from_markdown(ext.markdown_text(value)) == value
        assert readback.from_markdown_bold(ext.markdown_text(value)) == value


@pytest.mark.parametrize("value", ["\x07bell", "tab\there", "\x7f", "\x85", "a\u2028b"])
def test_escaping_formats_also_carry_control_characters(value: str) -> None:
    assert readback.from_toml(ext.toml_string(value)) == value
    assert readback.from_json(ext.json_string(value)) == value
    assert readback.from_yaml(ext.yaml_string(value)) == value
    assert readback.from_python(ext.python_string(value)) == value
    with pytest.raises(ValueError, match="control characters or line breaks"):
        ext.markdown_text(value)


def test_python_literals_are_as_ruff_formats_them(tmp_path: Path) -> None:
    source = tmp_path / "literals.py"
    lines = [ext.python_docstring(HOSTILE[0]), ""]
    lines += [f"value_{index} = {ext.python_string(value)}" for index, value in enumerate(HOSTILE)]
    for index, value in enumerate(HOSTILE):
        lines += ["", "", f"def f_{index}():", f"    {ext.python_docstring(value)}"]
    source.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        ["ruff", "format", "--diff", "--no-cache", str(source)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_markdown_keeps_ordinary_text_as_written() -> None:
    assert ext.markdown_text("team-payments") == "team-payments"
    assert ext.markdown_text("checkout_api, v1.2 (beta).") == "checkout_api, v1.2 (beta)."


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("two\nlines", "a line break (U+000A)"),
        ("tab\there", "a tab (U+0009)"),
        ("bell\x07", "a control character (U+0007)"),
        ("cr\r", "a carriage return (U+000D)"),
        ("nel\x85", "a line break (U+0085)"),
        ("ls\u2028", "a line break (U+2028)"),
        ("   ", "must not be empty"),
    ],
)
def test_text_problem_names_the_character(value: str, fragment: str) -> None:
    message = ext.text_problem(value, "description")
    assert message.startswith("description ") and fragment in message
    assert "\n" not in message


def test_text_problem_accepts_any_printable_text() -> None:
    assert all(ext.text_problem(value, "description") == "" for value in HOSTILE)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("class", "is a Python keyword"),
        ("import", "is a Python keyword"),
        ("match", "is a Python keyword"),
        ("type", "is a Python keyword"),
        ("json", "standard library module json"),
        ("asyncio", "standard library module asyncio"),
        ("httpx", "installed module httpx"),
        ("pythonjsonlogger", "installed module pythonjsonlogger"),
        ("prometheus_client", "installed module prometheus_client"),
        ("starlette", "installed module starlette"),
        ("tests", "project's own tests"),
        ("Checkout", "not a valid lowercase Python identifier"),
    ],
)
def test_package_name_problem(name: str, fragment: str) -> None:
    message = ext.package_name_problem(name)
    assert message.startswith(f"package_name {name!r} ")
    assert fragment in message and "e.g." in message


def test_package_name_accepts_ordinary_names() -> None:
    assert ext.package_name_problem("checkout_api") == ""
    assert ext.package_name_problem("orders2") == ""


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/srv/checkout-api", "checkout-api"),
        ("/srv/My Service_2", "my-service-2"),
        ("/srv/2fast", "fast"),
        ("/srv/" + "x" * 70, "x" * 63),
        ("/srv/Ünïcode--", "n-code"),
        ("/srv/123", "service"),
    ],
)
def test_dns_label_from_a_folder(path: str, label: str) -> None:
    assert ext.dns_label(path) == label
    assert ext.service_name_problem(label) == ""


@pytest.mark.parametrize("owner", ["team-", "-team", "team.", "", "a" * 64, "tëam"])
def test_owner_problem_refuses_what_backstage_cannot_name(owner: str) -> None:
    assert ext.owner_problem(owner).startswith(f"owner {owner!r} must be")


@pytest.mark.parametrize("owner", ["team-payments", "Team Payments", " padded ", "a", "017"])
def test_owner_problem_accepts_entity_names(owner: str) -> None:
    assert ext.owner_problem(owner) == ""
