"""What an account can hold: the limits on the values events bring, for the edge and the workflow.

An accepted value the workflow cannot use froze an account for good: a renewal date of
0001-01-05 made every workflow task fail on date arithmetic (OverflowError), three attribute
values of 900 kB made its history refuse the next payload. So the same rules are applied
twice. At the edge (the API, ``playbook event``, ingest: ``engine.client._operate``) a value
outside them is refused with one line before anything is sent. In the account workflow, a
value that got in anyway (sent before these rules, or by a client of our own) is left out of
the account's attributes and the refusal recorded in ``why``; the rest of the event applies.

Pure functions, no I/O: the workflow sandbox runs them.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from engine.language._facts import DATE_MAX, DATE_MIN
from engine.language._zones import zone_problem

DATE_ATTRIBUTES = ("renewal_date", "start_date")
"""Attributes the journeys do calendar arithmetic on; each must be a date in range."""
NAME_ATTRIBUTES = ("segment", "owner")
"""Attributes the engine reads as names (weights and entries by segment, the owner's inbox;
both are search attributes): each must be text or null, at most MAX_NAME characters."""
ZONE_VALUES = "calendar-attribute-values"
"""workflow.patched id: accounts from before it took any timezone and calendar values."""
CALENDAR_ATTRIBUTES = ("timezone", "calendar")
"""Attributes that place an account on the calendar: its IANA time zone (known to the
pinned tzdata) and the name of its Calendar (text; a name no Calendar has means the set's
default, as for an account without one)."""
MAX_NAME = 200
MAX_KEY = 64
MAX_TEXT = 4_096
"""Characters in one text value."""
MAX_NUMBER = 1e15
"""Largest magnitude of a number (an ARR in any currency fits; int64 and doubles agree)."""
MAX_DEPTH = 5
"""Lists and mappings inside a value, nested at most this deep."""
MAX_SET_BYTES = 64_000
"""One event's attribute changes, as JSON."""
MAX_ACCOUNT_BYTES = 256_000
"""All of an account's attributes, as JSON: they travel in every journey's updates."""
LARGE_VALUE_BYTES = 1_024
MAX_LARGE_BYTES = 192_000
"""Large values (over LARGE_VALUE_BYTES) may fill the account only this far, so the small
ones a journey runs on (a renewal date, an owner, ARR) always have room left."""
MAX_EVENT_NAME = 200


def key_problem(key: Any) -> str | None:
    """Why ``key`` cannot name an attribute, or None."""
    if not isinstance(key, str) or not key:
        return "attribute names are non-empty text"
    if len(key) > MAX_KEY:
        return f"attribute name of {len(key)} characters (at most {MAX_KEY})"
    if _control(key):
        return "attribute names hold no control characters"
    return None


def value_problem(key: str, value: Any, *, names: bool = True, zones: bool = True) -> str | None:
    """Why the attribute ``key`` cannot take ``value``, or None.

    ``names=False`` is the rule before NAME_ATTRIBUTES were checked, for accounts whose
    history took a number as a segment or owner (engine.journeys._account replays them);
    ``zones=False`` the rule before CALENDAR_ATTRIBUTES were."""
    if key in DATE_ATTRIBUTES and value is not None:
        return _date_problem(value)
    if zones and key == "timezone" and value is not None:
        return zone_problem(value)
    if zones and key == "calendar" and value is not None:
        if not isinstance(value, str):
            return f"{_short(value)} is not text (a calendar is a name)"
        return text_problem("the calendar", value, MAX_NAME)
    if names and key in NAME_ATTRIBUTES and value is not None:
        if not isinstance(value, str):
            return f"{_short(value)} is not text (a {key} is a name)"
        return text_problem(f"the {key}", value, MAX_NAME)
    return _json_problem(value, 0)


def set_problem(values: dict[str, Any]) -> str | None:
    """Why an event's attribute changes cannot be taken as a whole (their size), or None."""
    size = json_size(values)
    if size > MAX_SET_BYTES:
        return f"attribute changes of {size:,} bytes (at most {MAX_SET_BYTES:,} per event)"
    return None


def text_problem(what: str, text: str, limit: int) -> str | None:
    """Why a name (an event's, an account's) cannot be taken, or None."""
    if not text:
        return f"{what} is empty"
    if len(text) > limit:
        return f"{what} of {len(text):,} characters (at most {limit})"
    if _control(text):
        return f"{what} holds a control character"
    return None


def usable(
    changes: dict[str, Any], current: dict[str, Any], *, names: bool = True, zones: bool = True
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The changes an account can take, and each one it cannot with the reason.

    For the workflow: every value checked as at the edge, then the account's total size, so
    a stream of large values stops at the limit instead of growing the history without end.
    """
    kept: dict[str, Any] = {}
    refused: list[tuple[str, str]] = []
    for key, value in changes.items():
        problem = key_problem(key) or value_problem(key, value, names=names, zones=zones)
        if problem is None:
            kept[key] = value
        else:
            refused.append((str(key)[:MAX_KEY], problem))
    if kept and json_size({**current, **kept}) > MAX_LARGE_BYTES:
        # One at a time, in order: the first values that fit are kept.
        merged = dict(current)
        for key in list(kept):
            large = json_size(kept[key]) > LARGE_VALUE_BYTES
            limit = MAX_LARGE_BYTES if large else MAX_ACCOUNT_BYTES
            if json_size({**merged, key: kept[key]}) > limit:
                del kept[key]
                refused.append((key, f"the account's attributes would pass {limit:,} bytes"))
            else:
                merged[key] = kept[key]
    return kept, refused


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (anything JSON cannot hold counted as text)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def _date_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{value!r} is not a date (write 2027-03-31)"
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return f"{value[:40]!r} is not a date (write 2027-03-31)"
    if not DATE_MIN <= day <= DATE_MAX:
        return f"{day.isoformat()} is outside {DATE_MIN.isoformat()}..{DATE_MAX.isoformat()}"
    return None


def _json_problem(value: Any, depth: int) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "numbers must be finite"
        if abs(value) > MAX_NUMBER:
            return f"number beyond +-{MAX_NUMBER:.0e}"
        return None
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"text of {len(value):,} characters (at most {MAX_TEXT:,})"
        if "\x00" in value:
            return "text holds a NUL character"
        return None
    if isinstance(value, list | dict):
        if depth >= MAX_DEPTH:
            return f"lists and mappings nested deeper than {MAX_DEPTH}"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for inner_key, inner in items:
            if isinstance(value, dict) and not isinstance(inner_key, str):
                return "mapping keys are text"
            problem = _json_problem(inner, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"a {type(value).__name__} is not a JSON value"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)
