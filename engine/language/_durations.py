"""Durations (``3d``, ``1d12h``) and date offsets (``renewal_date - 90d``) as CS ops write them.

A date offset's anchor is ``enrolled``, ``start_date``, ``renewal_date`` or the name of any
date attribute the account carries (``go_live_date + 7d``): the value is read when the journey
runs (engine.language._facts.anchor_date). A name one letter away from a built-in anchor is
refused as the typo it almost always is (``renwal_date``).

Both stay strings in the language model, so the JSON Schema can show the same pattern an
editor checks, and become seconds in the compiled plan. Months and years are refused: they
have no fixed length, and a renewal step that drifts by three days is a bug report. Both are
bounded by 20 years: a timer or a date further out overflows the date arithmetic of the
workflow, which would then fail every task of every run instead of failing validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from engine.language._errors import Code

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = r"[0-9]+[wdhms]"
DURATION_PATTERN = rf"^{_PART}(?:{_PART})*$"
ANCHORS = ("enrolled", "start_date", "renewal_date")
"""The built-in anchors; any other anchor names an account attribute."""
ANCHOR_NAME = r"[a-z][a-z0-9_]{0,63}"
"""An attribute a date offset may be anchored on: a lowercase name, as attribute keys go."""
DATE_OFFSET_PATTERN = rf"^\s*{ANCHOR_NAME}\s*(?:[+-]\s*{_PART}(?:{_PART})*)?\s*$"
_ANCHOR = re.compile(ANCHOR_NAME)
# Closer than this to a built-in anchor (difflib's ratio) is a typo, not another attribute:
# renwal_date (0.96) and enroled (0.93) are refused, start_at (0.89) and enrolled_at are not.
_TYPO = 0.9
_DURATION = re.compile(DURATION_PATTERN)
_PARTS = re.compile(r"([0-9]+)([wdhms])")
_OFFSET = re.compile(r"\s*([a-z][a-z0-9_]*)\s*(?:([+-])\s*(\S+))?\s*")
MAX_YEARS = 20
MAX_SECONDS = MAX_YEARS * 365 * 86_400
# A part with more digits than this is over 20 years in any unit; int() of thousands of
# digits is refused (ValueError) or slow, so such parts are never converted.
_MAX_DIGITS = 12


def duration_seconds(text: str) -> int:
    """Seconds in a duration string already checked by :data:`Duration`."""
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _PARTS.findall(text))


def _too_long(text: str) -> bool:
    parts = _PARTS.findall(text)
    return any(len(n.lstrip("0")) > _MAX_DIGITS for n, _ in parts) or (
        duration_seconds(text) > MAX_SECONDS
    )


def _check_duration(text: str) -> str:
    # fullmatch, not match: the pattern's $ would accept a final newline ("3d\n").
    if not _DURATION.fullmatch(text):
        hint = ""
        if re.fullmatch(r"[0-9]+\s*(mo|months?|y|years?)", text.strip()):
            hint = "; months and years vary in length, write days (30d, 365d)"
        elif re.fullmatch(r"[0-9]+\s*(days?|hours?|minutes?|weeks?)", text.strip()):
            hint = "; write the unit as one letter (3d, 2h, 1w)"
        raise PydanticCustomError(
            Code.DURATION_INVALID,
            "'{text}' is not a duration: use a number and a unit w, d, h, m or s, as in 3d,"
            " 12h or 1d12h" + hint,
            {"text": _shorter(text)},
        )
    if _too_long(text):
        raise PydanticCustomError(
            Code.DURATION_INVALID,
            "'{text}' is longer than {years} years; a duration may be at most {days}d",
            {"text": _shorter(text), "years": MAX_YEARS, "days": MAX_SECONDS // 86_400},
        )
    return text


check_duration = _check_duration
"""A duration string as written, or a DURATION_INVALID error (for types that widen it)."""


def _shorter(text: str) -> str:
    """``text`` as a one-line message can repeat it: control characters escaped, cut short."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 40 else text[:37] + "..."


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(
        json_schema_extra={"pattern": DURATION_PATTERN},
        examples=["3d", "12h", "1w", "1d12h"],
    ),
]


@dataclass(frozen=True)
class DateOffset:
    """A parsed date offset: an anchor date plus signed seconds."""

    anchor: str
    seconds: int


def parse_date_offset(text: str) -> DateOffset:
    """Split a date offset string already checked by :data:`DateOffsetText`."""
    match = _OFFSET.fullmatch(text)
    assert match, text
    anchor, sign, amount = match.groups()
    seconds = duration_seconds(amount) if amount else 0
    return DateOffset(anchor, -seconds if sign == "-" else seconds)


def _check_date_offset(text: str) -> str:
    match = _OFFSET.fullmatch(text)
    words = text.split()
    if not match and len(words) == 2 and _ANCHOR.fullmatch(words[0]):
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}' is not a date offset: put + or - between the anchor and the duration,"
            " as in {anchor} - {amount}",
            {"text": _shorter(text), "anchor": words[0], "amount": _shorter(words[1])},
        )
    anchor = match.group(1) if match else (words[0] if words else text)
    typo = _typo(anchor)
    if not match or not _ANCHOR.fullmatch(anchor) or typo:
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}' is not a date offset: write ANCHOR, ANCHOR + DURATION or"
            " ANCHOR - DURATION, where ANCHOR is {anchors} or the name of a date attribute"
            + (f" (did you mean {typo!r}?)" if typo else ""),
            {"text": _shorter(text), "anchors": ", ".join(ANCHORS)},
        )
    _, sign, amount = match.groups()
    if sign and not (amount and _DURATION.fullmatch(amount)):
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}': '{amount}' after the sign is not a duration (use 3d, 12h, 1w)",
            {"text": _shorter(text), "amount": _shorter(amount or "")},
        )
    if amount and _too_long(amount):
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}' reaches more than {years} years from {anchor}; an offset may be at most"
            " {days}d",
            {
                "text": _shorter(text),
                "years": MAX_YEARS,
                "anchor": match.group(1),
                "days": MAX_SECONDS // 86_400,
            },
        )
    return text


def _typo(word: str) -> str | None:
    """The built-in anchor ``word`` misspells, or None (it is one, or another name)."""
    from difflib import SequenceMatcher, get_close_matches

    if word in ANCHORS:
        return None
    close = get_close_matches(word, ANCHORS, n=1, cutoff=0.6)
    if not close:
        return None
    if not _ANCHOR.fullmatch(word) or SequenceMatcher(None, word, close[0]).ratio() >= _TYPO:
        return close[0]
    return None


DateOffsetText = Annotated[
    str,
    AfterValidator(_check_date_offset),
    Field(
        json_schema_extra={"pattern": DATE_OFFSET_PATTERN},
        examples=["enrolled + 3d", "renewal_date - 90d", "start_date", "go_live_date + 7d"],
    ),
]
