"""The prompts of copier.yml as data: strict answer checks and the options reference.

Copier keeps the questionnaire; this module only reads the question definitions so that
answers given up front (presets, --data) are checked strictly before copier runs: copier
itself turns "maybe" into True for a bool and a comma string into a one-item list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import CliError

_BOOL_WORDS = {"true": True, "yes": True, "false": False, "no": False}
_INT = re.compile(r"[+-]?\d+")
_EXPECTED = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "yaml": "a YAML value",
    "json": "a JSON value",
}


@dataclass(frozen=True)
class Question:
    name: str
    type: str
    help: str
    default: Any
    choices: dict[str, Any]  # label -> value, in copier.yml order
    multiselect: bool
    when: str | bool

    @property
    def asked(self) -> bool:
        """False for values computed from other answers (``when: false``)."""
        return self.when is not False

    @property
    def condition(self) -> str | None:
        """The Jinja condition without its braces, or None when always asked."""
        if self.when is True:
            return None
        return str(self.when).strip().removeprefix("{{").removesuffix("}}").strip()


def load_questions(config: Mapping[str, Any]) -> list[Question]:
    """Every question of a parsed copier.yml, asked or computed, in file order."""
    questions = []
    for name, spec in config.items():
        if name.startswith("_"):
            continue
        spec = spec if isinstance(spec, dict) else {"default": spec}
        choices = spec.get("choices") or {}
        if isinstance(choices, list):
            choices = {str(value): value for value in choices}
        questions.append(
            Question(
                name=name,
                type=spec.get("type", "str"),
                help=" ".join(str(spec.get("help", "")).split()),
                default=spec.get("default"),
                choices=dict(choices),
                multiselect=bool(spec.get("multiselect", False)),
                when=spec.get("when", True),
            )
        )
    return questions


def prompts(config: Mapping[str, Any]) -> dict[str, Question]:
    return {question.name: question for question in load_questions(config) if question.asked}


def check_answers(
    answers: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    origin: str,
    from_text: bool = False,
    version: str | None = None,
) -> dict[str, Any]:
    """Typed, validated answers; refuses unknown keys and values of the wrong type.

    Values are YAML-typed (a preset) or, with ``from_text``, command-line text to convert
    (``--data key=value``: true/false, numbers, a,b lists); ``origin`` names where they came
    from in the refusal message.
    """
    questions = prompts(config)
    checked = {}
    for key, value in answers.items():
        question = questions.get(key)
        if question is None:
            release = f" in template version {version}" if version else ""
            raise CliError(
                f"{origin}: unknown answer {key!r}{release}; "
                f"valid answers are: {', '.join(questions)}"
            )
        checked[key] = _check_value(question, value, origin, from_text)
    return checked


def parse_data(pairs: list[str]) -> dict[str, str]:
    """``key=value`` command-line answers, as text; the type check comes next."""
    data = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise CliError(f"--data {pair!r} is not key=value (e.g. --data framework=fastapi)")
        data[key.strip()] = value
    return data


def _check_value(question: Question, value: Any, origin: str, from_text: bool) -> Any:
    where = f"{origin}: {question.name}"
    if not from_text and isinstance(value, str) and question.type != "str":
        # YAML already typed it: a quoted "true" or "42" in a preset is a mistake to point out.
        raise CliError(f"{where} must be {_EXPECTED[question.type]}, got the text {value!r}")
    if question.multiselect:
        items = _as_list(value, where, from_text)
        for item in items:
            _check_choice(question, item, where)
        return items
    kind = question.type
    if kind == "bool":
        return _as_bool(value, where)
    if kind == "int":
        return _as_int(value, where)
    if kind == "float":
        return _as_float(value, where)
    if kind == "str":
        if not isinstance(value, str):
            raise CliError(
                f"{where} must be text, got {value!r} ({type(value).__name__}); quote it in "
                f"YAML, e.g. {question.name}: {str(value)!r}"
            )
        if question.choices:
            _check_choice(question, value, where)
        return value
    # yaml/json questions take structured values as they are.
    return value


def _check_choice(question: Question, value: Any, where: str) -> None:
    values = list(question.choices.values())
    if value not in values:
        raise CliError(f"{where} {value!r} is not one of: {', '.join(map(str, values))}")


def _as_list(value: Any, where: str, from_text: bool) -> list[Any]:
    if isinstance(value, str) and from_text:
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list):
        return value
    raise CliError(f"{where} must be a list, e.g. [a, b] in YAML or a,b on the command line")


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise CliError(f"{where} must be true or false, got {value!r}")


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value)
    raise CliError(f"{where} must be a whole number, got {value!r}")


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    else:
        number = math.nan
    if not math.isfinite(number):
        raise CliError(f"{where} must be a number, got {value!r}")
    return number


def render_options(config: Mapping[str, Any], output_format: str) -> str:
    """The reference of every prompt, as plain text or as the Markdown of docs/options.md."""
    questions = list(prompts(config).values())
    if output_format == "markdown":
        return _markdown(questions)
    blocks = []
    for question in questions:
        lines = [f"{question.name} ({_type_label(question)})"]
        if question.choices:
            lines.append(f"  choices: {', '.join(_choice_values(question))}")
        lines.append(f"  default: {_default_label(question).replace('`', '')}")
        if question.condition:
            lines.append(f"  asked when: {question.condition}")
        lines.append(f"  {question.help}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _markdown(questions: list[Question]) -> str:
    lines = [
        "# Template options",
        "",
        "<!-- Generated by `otel-service options --format markdown > docs/options.md`; "
        "a test fails when it is stale. -->",
        "",
        "Every prompt of `copier.yml`, in the order Copier asks them. Pass answers with",
        "`otel-service new DEST --data name=value` or in a preset file; see",
        "[upgrading.md](upgrading.md) for changing them later.",
        "",
    ]
    for question in questions:
        lines += [f"## `{question.name}`", "", question.help, ""]
        lines.append(f"- type: {_type_label(question)}")
        if question.choices:
            choices = ", ".join(
                f"`{value}` ({label})" if label != str(value) else f"`{value}`"
                for label, value in question.choices.items()
            )
            lines.append(f"- choices: {choices}")
        lines.append(f"- default: {_default_label(question)}")
        if question.condition:
            lines.append(f"- asked when: `{question.condition}`")
        lines.append("")
    return "\n".join(lines)


def _type_label(question: Question) -> str:
    return f"list of {question.type}" if question.multiselect else question.type


def _choice_values(question: Question) -> list[str]:
    return [str(value) for value in question.choices.values()]


def _default_label(question: Question) -> str:
    if question.default is None:
        return "none (required)"
    if isinstance(question.default, str) and "{{" in question.default:
        return f"derived: `{question.default}`"
    if isinstance(question.default, bool):
        return str(question.default).lower()
    if isinstance(question.default, list):
        return f"`[{', '.join(map(str, question.default))}]`"
    return f"`{question.default}`"
