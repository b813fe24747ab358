"""The dashboard's building blocks: rows and sections, and how each kind of figure is written.

Both faces of the dashboard (engine.dashboard._view) write a share, an amount, a change or a
missing figure the same way through these, so a number cannot read one way in one section
and another in the next.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field


class Row(BaseModel):
    key: str
    cells: list[str]
    account: str | None = None
    """The account the row is about: the page links its first cell to the account's page."""


class Section(BaseModel):
    key: str
    title: str
    headers: list[str]
    rows: list[Row]
    bars: list[tuple[str, float]] = Field(default_factory=list)
    """What the page draws as a bar chart: label and value."""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def money(value: float) -> str:
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def signed(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}" if value else "0"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def check(value: float | None, target: float, above: bool) -> str:
    if value is None:
        return "-"
    return "met" if (value >= target if above else value < target) else "missed"


def na(reason: str) -> str:
    """A figure the engine has no data for: said, with why, never a number made up."""
    return f"n/a: {reason}"


def target(name: str, value: float) -> str:
    if name == "time_to_value_days":
        return f"< {value:g} days"
    return f"{value * 100:g}%+"


def vs(now: float | None, then: float | None, shown: Callable[[float | None], str]) -> str:
    """The previous period's value and the change, e.g. ``90.0% (+5.0 pts)``."""
    if then is None:
        return "n/a"
    if now is None:
        return shown(then)
    return f"{shown(then)} ({(now - then) * 100:+.1f} pts)"


def multiple(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
