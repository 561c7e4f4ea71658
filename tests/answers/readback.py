"""Read a value back from each format as its own parser (or renderer) sees it."""

from __future__ import annotations

import ast
import html
import json
import tomllib

import yaml
from markdown_it import MarkdownIt

# GitHub's Markdown is CommonMark plus tables and strikethrough.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def from_toml(literal: str) -> object:
    return tomllib.loads(f"key = {literal}\n")["key"]


def from_json(literal: str) -> object:
    return json.loads(literal)


def from_yaml(literal: str) -> object:
    return yaml.safe_load(f"key: {literal}\n")["key"]


def from_python(literal: str) -> object:
    return ast.literal_eval(literal)


def from_docstring(source: str) -> str | None:
    return ast.get_docstring(ast.parse(source), clean=False)


def markdown_paragraph(html_text: str) -> str:
    """The text of a one-paragraph HTML rendering, or an AssertionError naming the markup."""
    assert html_text.startswith("<p>") and html_text.endswith("</p>\n"), html_text
    inner = html_text[3:-5]
    assert "<" not in inner, f"Markdown made markup of the text: {html_text!r}"
    return html.unescape(inner)


def from_markdown(text: str) -> str:
    return markdown_paragraph(_MARKDOWN.render(text + "\n"))


def from_markdown_bold(text: str) -> str:
    rendered = _MARKDOWN.render(f"Owned by **{text}**.\n")
    prefix, suffix = "<p>Owned by <strong>", "</strong>.</p>\n"
    assert rendered.startswith(prefix) and rendered.endswith(suffix), rendered
    inner = rendered[len(prefix) : -len(suffix)]
    assert "<" not in inner, rendered
    return html.unescape(inner)
