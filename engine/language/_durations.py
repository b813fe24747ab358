"""Durations (``3d``, ``1d12h``) and date offsets (``renewal_date - 90d``) as CS ops write them.

Both stay strings in the language model, so the JSON Schema can show the same pattern an
editor checks, and become seconds in the compiled plan. Months and years are refused: they
have no fixed length, and a renewal step that drifts by three days is a bug report.
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
DATE_OFFSET_PATTERN = rf"^\s*(?:{'|'.join(ANCHORS)})\s*(?:[+-]\s*{_PART}(?:{_PART})*)?\s*$"
_DURATION = re.compile(DURATION_PATTERN)
_PARTS = re.compile(r"([0-9]+)([wdhms])")
_OFFSET = re.compile(r"^\s*([a-z_]+)\s*(?:([+-])\s*(\S+))?\s*$")
_MAX_SECONDS = 20 * 365 * 86_400


def duration_seconds(text: str) -> int:
    """Seconds in a duration string already checked by :data:`Duration`."""
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _PARTS.findall(text))


def _check_duration(text: str) -> str:
    # fullmatch: a pattern's $ also matches before a final newline, and "3d\n" is no duration.
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
            {"text": text},
        )
    if duration_seconds(text) > _MAX_SECONDS:
        raise PydanticCustomError(
            Code.DURATION_INVALID, "'{text}' is longer than 20 years", {"text": text}
        )
    return text


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
    match = _OFFSET.match(text)
    assert match, text
    anchor, sign, amount = match.groups()
    seconds = duration_seconds(amount) if amount else 0
    return DateOffset(anchor, -seconds if sign == "-" else seconds)


def _check_date_offset(text: str) -> str:
    match = _OFFSET.match(text)
    words = text.split()
    if not match and len(words) == 2 and words[0] in ANCHORS:
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}' is not a date offset: put + or - between the anchor and the duration,"
            " as in {anchor} - {amount}",
            {"text": text, "anchor": words[0], "amount": words[1]},
        )
    if not match or match.group(1) not in ANCHORS:
        anchor = match.group(1) if match else (words[0] if words else text)
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}' is not a date offset: write ANCHOR, ANCHOR + DURATION or"
            " ANCHOR - DURATION, where ANCHOR is one of {anchors}" + _suggest(anchor),
            {"text": text, "anchors": ", ".join(ANCHORS)},
        )
    _, sign, amount = match.groups()
    if sign and not (amount and _DURATION.fullmatch(amount)):
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}': '{amount}' after the sign is not a duration (use 3d, 12h, 1w)",
            {"text": text, "amount": amount or ""},
        )
    if amount and duration_seconds(amount) > _MAX_SECONDS:
        # A date this far off overflows the calendar (enrolled + 9999999d): the run could
        # never take its first step.
        raise PydanticCustomError(
            Code.DATE_OFFSET_INVALID,
            "'{text}': an offset of more than 20 years",
            {"text": text},
        )
    return text


def _suggest(word: str) -> str:
    from difflib import get_close_matches

    close = get_close_matches(word, ANCHORS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


DateOffsetText = Annotated[
    str,
    AfterValidator(_check_date_offset),
    Field(
        json_schema_extra={"pattern": DATE_OFFSET_PATTERN},
        examples=["enrolled + 3d", "renewal_date - 90d", "start_date"],
    ),
]
