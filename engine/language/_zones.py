"""IANA time zones from the ``tzdata`` package, never from the host.

``zoneinfo.ZoneInfo("Asia/Tokyo")`` reads the host's ``/usr/share/zoneinfo`` first, so two
workers with different system packages could disagree on an offset and a replayed journey
would then take other decisions than the run it replays. Every zone here is read from the
``tzdata`` package the lock pins, the same bytes on every machine. The names are read once, at
import (outside any workflow sandbox, which refuses ``open`` at run time); a zone's rules are
read the first time it is asked for and kept.
"""

from __future__ import annotations

import functools
from difflib import get_close_matches
from importlib import resources
from zoneinfo import ZoneInfo

import tzdata  # type: ignore[import-untyped]  # a data package: no code, no stubs

UTC_NAME = "UTC"
ZONES: frozenset[str] = frozenset(
    line.strip()
    for line in resources.files(tzdata).joinpath("zones").read_text(encoding="utf-8").splitlines()
    if line.strip()
)
"""Every zone name the pinned tzdata knows (Asia/Tokyo, America/New_York, UTC...)."""
_BY_LOWER = {name.lower(): name for name in ZONES}


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The rules of the zone ``name`` (a name of :data:`ZONES`), from tzdata."""
    path = resources.files(tzdata).joinpath("zoneinfo", *name.split("/"))
    with path.open("rb") as file:
        return ZoneInfo.from_file(file, key=name)


def zone_problem(value: object) -> str | None:
    """Why ``value`` cannot name a time zone, with a hint where one is near, or None."""
    if not isinstance(value, str):
        return f"{_short(value)} is not a time zone name (write an IANA name, as Asia/Tokyo)"
    if value in ZONES:
        return None
    hint = ""
    if value.lower() in _BY_LOWER:
        hint = f" (did you mean {_BY_LOWER[value.lower()]!r}?)"
    else:
        close = get_close_matches(value, sorted(ZONES), n=1, cutoff=0.7)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    return f"unknown time zone {_short(value)}: use an IANA name, as Asia/Tokyo or UTC" + hint


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
