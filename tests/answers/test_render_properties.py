"""Property tier: generated answers (arbitrary Unicode text, valid and invalid names) either
are refused cleanly (one line naming the question, nothing written) or render a project
whose every YAML, JSON, TOML and Python file parses, whose every file carries the answer
back intact, and whose catalog-info.yaml passes Backstage's validator.

Render only. The `ci` profile (tests/answers/conftest.py) tries a fixed set of examples;
`HYPOTHESIS_PROFILE=local` tries more, fresh ones.
"""

from __future__ import annotations

import ast
import itertools
import json
import keyword
import re
import shutil
import subprocess
import sys
import tomllib
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from generator import copier_extension
from generator.rendering import render_service
from tests.answers import readback
from tests.support.built_tools import built_tool

# Characters each format gives a meaning to, mixed into arbitrary text so that examples
# hit them often.
MEANINGFUL = list("\"'\\`*_[](){}<>#&|~!:-.=+%@$ \t\n\r\x00\x07\x1b\x7f\x85\u2028\ufeff\U0001f600")
ANY_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(st.one_of(st.sampled_from(MEANINGFUL), st.characters()), max_size=60),
)
# Text every format can carry (no control characters, no line breaks), so that most
# examples render and their files get checked.
ONE_LINE = st.text(
    st.one_of(
        st.sampled_from([c for c in MEANINGFUL if c.isprintable() or c in " \ufeff"]),
        st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]),
    ),
    max_size=30,
)
# Words YAML 1.1 reads as booleans, null or numbers, and Markdown as markup.
LOOKALIKES = ["yes", "on", "No", "null", "017", "1_000", "True", "1e3", "0x1F", "- x", "# x"]
# Pieces that broke (or could break) a format when pasted unescaped: a one-line example is
# a few of them mixed with arbitrary text, so each example tries several.
HOSTILE = [
    '"', "\\", '"""', "'''", r"\u0041", r"C:\new", r"\x41", "*em*", "_em_", "`code`", "[a](b)",
    "<b>", "&amp;", "~~s~~", "a | b", "# ", "- ", "1. ", "> ", ": ", " #", "{{ x }}", "${x}",
    "\U0001f600", "\u00e9", "\u202e", "\ufeff", "\ufffe", *LOOKALIKES,
]  # fmt: skip
WITH_HOSTILE = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.sampled_from(HOSTILE), ONE_LINE), min_size=1, max_size=6
).map("".join)

T = TypeVar("T")


def mostly(common: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """About three examples in four from ``common`` (one_of would merge repeated branches;
    hypothesis favours small integers, so the common branch gets those)."""
    return st.integers(0, 3).flatmap(lambda draw: common if draw < 3 else rare)


DESCRIPTION = mostly(WITH_HOSTILE, ANY_TEXT)
OWNER_LIKE = st.from_regex(r"[A-Za-z0-9][-A-Za-z0-9_. ]{0,62}", fullmatch=True)
OWNER = mostly(OWNER_LIKE, st.one_of(st.sampled_from(LOOKALIKES), ANY_TEXT))
DNS_LABEL = st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
SHADOWING = sorted(
    set(keyword.kwlist[3:])  # not False/None/True: not lowercase identifiers
    | copier_extension.SOFT_KEYWORDS
    | {"json", "logging", "typing", "email", "http", "asyncio", "calendar", "site"}
    | copier_extension.DEPENDENCY_MODULES
)
# None: not answered, so the default applies (the folder's name, the service name's).
SERVICE_NAME = mostly(st.one_of(DNS_LABEL, st.none()), st.text(max_size=70))
PACKAGE_NAME = mostly(
    st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True), st.none()),
    st.one_of(st.sampled_from(SHADOWING), st.text(max_size=20)),
)
# A folder name a file system accepts: the destination whose name becomes service_name.
FOLDER = st.text(st.characters(blacklist_characters="/\x00"), min_size=1, max_size=40).filter(
    lambda name: name not in {".", ".."} and len(name.encode("utf-8", "surrogatepass")) < 200
)
# Mostly small renders: free text lands in the same files either way; the large one adds
# every Kubernetes and compose file to what must parse.
LAYOUT = mostly(
    st.just({"deploy_targets": [], "ci": "none"}),
    st.just({"deploy_targets": ["compose", "kubernetes"]}),
)
BACKSTAGE_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


@pytest.fixture(scope="session")
def backstage_validator() -> Path:
    return built_tool("install-backstage-validator", "BACKSTAGE_VALIDATOR_DIR", timeout=600)


class Tally:
    """What the examples did, for the figures printed at the end and for the Backstage run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counter = itertools.count()
        self.outcomes: Counter[str] = Counter()
        self.catalogs: list[tuple[Path, dict[str, Any]]] = []

    def keep_catalog(self, project: Path, answers: dict[str, Any]) -> None:
        """A copy under a plain name: the validator prints one line per file path."""
        copy = self.root / "catalogs" / f"{len(self.catalogs)}.yaml"
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(project / "catalog-info.yaml", copy)
        self.catalogs.append((copy, answers))

    def destination(self, folder: str = "svc") -> Path:
        return self.root / str(next(self.counter)) / folder

    def render(self, destination: Path, answers: dict[str, Any]) -> Path | str:
        """The project, or the refusal's message after checking it is clean."""
        try:
            return render_service(destination, answers, lock=False)
        except ValueError as refusal:
            message = str(refusal)
            assert message.startswith("Validation error for question '"), message
            assert "\n" not in message.strip(), message
            assert not destination.exists() or not any(destination.iterdir())
            self.outcomes["refused"] += 1
            self.outcomes[f"refused {message.split(chr(39))[1]}"] += 1
            return message


def has_unwritable(text: str) -> bool:
    return any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in text)


def check_every_file_parses(project: Path) -> None:
    for path in project.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yaml", ".yml"}:
            list(yaml.safe_load_all(text))
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".py":
            ast.parse(text, filename=str(path))


# Line length is left out: names over about 40 characters still push template lines past
# 100 characters (test_longest_names_render_lint_clean below).
def check_ruff(project: Path) -> None:
    for command in (
        ["ruff", "check", "--no-cache", "-q", "--extend-ignore", "E501", "src", "tests"],
        ["ruff", "format", "--check", "--no-cache", "-q", "src", "tests"],
    ):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


def check_text_reads_back(project: Path, answers: dict[str, Any]) -> dict[str, Any]:
    """Every file the description and owner land in gives them back as answered."""
    description, owner = answers["description"].strip(), answers["owner"].strip()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["description"] == description
    assert pyproject["authors"] == [{"name": owner}]
    package = answers.get("package_name") or answers["service_name"].replace("-", "_")
    init = (project / "src" / package / "__init__.py").read_text()
    assert readback.from_docstring(init) == description
    catalog = yaml.safe_load((project / "catalog-info.yaml").read_text())
    assert catalog["metadata"]["description"] == description
    assert catalog["spec"]["owner"] == owner.replace(" ", "-")
    readme = (project / "README.md").read_text().splitlines()
    assert readme[0] == f"# {answers['service_name']}"
    assert readback.from_markdown(readme[2]) == description
    bold = readme[4].split(". Generated from", 1)[0] + "."
    assert readback.from_markdown_bold(bold.removeprefix("Owned by **").removesuffix("**.")) == (
        owner
    )
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["description"] == answers["description"]
    assert recorded["owner"] == answers["owner"]
    return catalog


def validate_catalogs(validator: Path, tally: Tally) -> None:
    if not tally.catalogs:
        return
    result = subprocess.run(
        ["node", str(validator / "validate.mjs"), *(str(path) for path, _ in tally.catalogs)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    answers_by_file = {str(path): answers for path, answers in tally.catalogs}
    errors = [line for line in result.stdout.splitlines() if not line.startswith("ok ")]
    assert not errors and result.returncode == 0, (
        "\n".join(
            f"{line}\n  answers: {answers_by_file.get(line.split(' ')[1].rstrip(':'))!r}"
            for line in errors
        )
        + result.stderr
    )
    assert result.stdout.count("\nok ") + result.stdout.startswith("ok ") == len(tally.catalogs)


def report(tally: Tally, what: str) -> None:
    print(f"\n{what}: {dict(tally.outcomes)}", file=sys.stderr)


def test_free_text_answers_render_intact_or_are_refused(
    tmp_path: Path, backstage_validator: Path
) -> None:
    tally = Tally(tmp_path)

    small = {"deploy_targets": [], "ci": "none"}

    # The values of the issue that found each defect, tried on every run before the others.
    @given(description=DESCRIPTION, owner=OWNER, layout=LAYOUT)
    @example(description='The "checkout" service', owner="yes", layout=small)
    @example(description='ends with a quote"', owner="on", layout=small)
    @example(description="trailing backslash \\", owner="null", layout=small)
    @example(description=r"C:\new \u0041", owner="017", layout=small)
    @example(description="carriage\rreturn", owner="1_000", layout=small)
    @example(description="emoji \U0001f600", owner="Team Payments", layout=small)
    @example(description="# heading?", owner="team _core_ 1", layout=small)
    def check(description: str, owner: str, layout: dict[str, Any]) -> None:
        answers = {"service_name": "svc", "description": description, "owner": owner, **layout}
        tally.outcomes["tried"] += 1
        outcome = tally.render(tally.destination(), answers)
        description_ok = bool(description.strip()) and not has_unwritable(description)
        catalog_name = owner.strip().replace(" ", "-")
        owner_ok = len(catalog_name) <= 63 and bool(BACKSTAGE_NAME.fullmatch(catalog_name))
        if isinstance(outcome, str):
            question = "description" if not description_ok else "owner"
            assert not (description_ok and owner_ok), f"refused a valid answer: {outcome}"
            assert outcome.startswith(f"Validation error for question '{question}'"), outcome
            return
        assert description_ok and owner_ok, f"accepted {answers!r}"
        tally.outcomes["rendered"] += 1
        check_every_file_parses(outcome)
        check_ruff(outcome)
        check_text_reads_back(outcome, answers)
        tally.keep_catalog(outcome, answers)

    check()
    validate_catalogs(backstage_validator, tally)
    report(tally, "free text")
    assert tally.outcomes["rendered"] >= 5 and tally.outcomes["refused"] >= 5, tally.outcomes


def test_names_render_or_are_refused(tmp_path: Path, backstage_validator: Path) -> None:
    tally = Tally(tmp_path)

    @given(
        service_name=SERVICE_NAME,
        package_name=PACKAGE_NAME,
        folder=FOLDER,
    )
    def check(service_name: str | None, package_name: str | None, folder: str) -> None:
        answers: dict[str, Any] = {"deploy_targets": ["compose", "kubernetes"]}
        if service_name is not None:
            answers["service_name"] = service_name
        if package_name is not None:
            answers["package_name"] = package_name
        tally.outcomes["tried"] += 1
        destination = tally.destination(folder)
        outcome = tally.render(destination, answers)
        expected_service = (
            service_name if service_name is not None else copier_extension.dns_label(destination)
        )
        service_ok = bool(re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", expected_service))
        if isinstance(outcome, str):
            if service_ok:
                assert outcome.startswith("Validation error for question 'package_name'"), outcome
            return
        assert service_ok, f"accepted service_name {expected_service!r}"
        tally.outcomes["rendered"] += 1
        recorded = yaml.safe_load((outcome / ".copier-answers.yml").read_text())
        assert recorded["service_name"] == expected_service
        package = recorded["package_name"]
        assert package.isidentifier() and not keyword.iskeyword(package)
        assert package not in sys.stdlib_module_names
        assert (outcome / "src" / package / "__init__.py").is_file()
        check_every_file_parses(outcome)
        check_ruff(outcome)
        defaults = {"description": recorded["description"], "owner": recorded["owner"]}
        catalog = check_text_reads_back(outcome, {**recorded, **defaults})
        assert catalog["metadata"]["name"] == expected_service
        tally.keep_catalog(outcome, answers)

    check()
    validate_catalogs(backstage_validator, tally)
    report(tally, "names")
    assert tally.outcomes["rendered"] >= 5 and tally.outcomes["refused"] >= 5, tally.outcomes


def _lint(project: Path) -> None:
    for command in (
        ["ruff", "check", "--no-cache", "-q", "."],
        ["ruff", "format", "--check", "--no-cache", "-q", "."],
    ):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("framework", ["flask", "fastapi", "django"])
def test_long_names_render_lint_clean(render, framework: str) -> None:
    """A 37-character service and package name: every line they land in still passes the
    render's own lint and format checks."""
    _lint(render({"service_name": "checkout-service-" + "x" * 20, "framework": framework}))


# The longest names a DNS label allows, with the answers that add the most modules.
LONGEST_NAME_ANSWERS = [
    {},
    {"messaging": "kafka", "telemetry_config": "file"},
    {"messaging": "rabbitmq", "demo_routes": False},
]


@pytest.mark.parametrize("answers", LONGEST_NAME_ANSWERS, ids=["default", "kafka-file", "rabbitmq"])
@pytest.mark.parametrize("framework", ["flask", "fastapi", "django"])
def test_longest_names_render_lint_clean(render, framework: str, answers: dict) -> None:
    """A 63-character service and package name, the longest Kubernetes takes: every line
    they land in still passes the render's own lint and format checks."""
    name = "checkout-service-" + "x" * 46
    assert len(name) == 63
    _lint(render({"service_name": name, "framework": framework, **answers}))
