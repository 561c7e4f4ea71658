"""Hypothesis strategies: secrets of every kind the rules cover, set in ordinary text, and
the harmless values that look like them (ids, UUIDs, timestamps, numbers)."""

from __future__ import annotations

import uuid

from hypothesis import strategies as st

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_WORD = st.text(_LOWER, min_size=1, max_size=10)
# Text around a secret: words and punctuation, ending (and starting) with a space so the
# character next to the secret is never one that is part of it.
_PROSE = st.lists(_WORD, max_size=4).map(lambda words: " ".join(words))


def _luhn_complete(partial: str) -> str:
    """``partial`` plus the check digit that makes it pass the Luhn check."""
    for check in "0123456789":
        digits = partial + check
        total = 0
        for position, digit in enumerate(reversed(digits)):
            value = int(digit) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw) -> str:
    prefix = draw(
        st.sampled_from(
            ["4", "51", "55", "2221", "2720", "34", "37", "6011", "65", "3528", "36", "62", "6759"]
        )
    )
    length = draw(st.integers(13, 19))
    body = draw(
        st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1)
    )
    number = _luhn_complete(prefix + body)
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


@st.composite
def emails(draw) -> str:
    local = draw(
        st.text(_LOWER + "0123456789._+", min_size=1, max_size=12).filter(lambda s: s[0].isalnum())
    )
    domain = draw(_WORD)
    at = draw(st.sampled_from(["@", "%40"]))
    return f"{local}{at}{domain}.{draw(st.sampled_from(['com', 'org', 'example', 'de']))}"


@st.composite
def ibans(draw) -> str:
    country = draw(st.sampled_from(["GB", "DE", "FR", "NL", "ES", "IT"]))
    check = draw(st.text("0123456789", min_size=2, max_size=2))
    groups = draw(
        st.lists(
            st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=4),
            min_size=3,
            max_size=6,
        )
    )
    return draw(st.sampled_from(["", " "])).join([country + check, *groups])


# With a digit, so a token can never be one of the prose's words.
_TOKEN = st.text(_LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=24).filter(
    lambda token: any(c.isdigit() for c in token)
)


@st.composite
def secrets_in_text(draw) -> tuple[str, str]:
    """(text, secret): the secret somewhere in prose; the secret must not survive."""
    kind = draw(st.sampled_from(["card", "email", "iban", "bearer", "query", "userinfo"]))
    token = draw(_TOKEN)
    if kind == "card":
        text = secret = draw(card_numbers())
    elif kind == "email":
        text = secret = draw(emails())
    elif kind == "iban":
        text = secret = draw(ibans())
    elif kind == "bearer":
        text, secret = f"{draw(st.sampled_from(['Bearer', 'bearer', 'Basic']))} {token}", token
    elif kind == "query":
        name = draw(st.sampled_from(["token", "access_token", "password", "api_key", "secret"]))
        text, secret = f"/cb?{name}={token}&page=2", token
    else:
        text, secret = f"postgres://app:{token}@db-host:5432/app", token
    return f"{draw(_PROSE)} {text} {draw(_PROSE)}", secret


def look_alikes() -> st.SearchStrategy[str]:
    """Values no rule may touch."""
    # Ids made only of decimal digits are indistinguishable from card numbers (a 16-digit
    # span id starting 2-6 is masked by the collector, about 1 in 4,000 ids written as
    # text): docs/safety.md says so, and generated ids hold a letter.
    hex_ids = (
        st.sampled_from([16, 32])
        .flatmap(lambda n: st.text("0123456789abcdef", min_size=n, max_size=n))
        .filter(lambda s: not s.isdigit())
    )
    uuids = st.uuids(version=4).map(str)
    epoch = st.integers(1_600_000_000_000, 1_999_999_999_999)
    timestamps = st.one_of(epoch.map(str), epoch.map(lambda ms: str(ms * 1_000_000)))
    numbers = st.integers(0, 10**9).map(str)
    return st.one_of(hex_ids, uuids, timestamps, numbers, st.just(str(uuid.UUID(int=0))))
