"""Values by segment: ``ack_sla: {enterprise: 4h, default: 1d}``.

Seed 001 gives enterprise accounts tighter SLAs and their own health thresholds; writing one
playbook per segment to say so would copy everything else. So wherever a duration of the
ladder or a wait, or a number a condition compares with, is written, a mapping of segment to
value may stand instead, with a ``default`` (required: an account with no segment, or one the
mapping does not name, must still get a value).

In a plan the default stays where the single value always was, and the other segments go
in a ``..._by_segment`` mapping left out of the plan's JSON while unset, so the hash of a
playbook that uses none is what it was. The journey picks the value with the account's
``segment`` attribute when it reads it (:func:`for_segment`): pure, so workflow code calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from engine.language._base import Slug
from engine.language._durations import Duration, duration_seconds
from engine.language._errors import Code

if TYPE_CHECKING:
    from engine.language._facts import Facts

DEFAULT = "default"
T = TypeVar("T")


def _with_default(value: dict[str, Any]) -> dict[str, Any]:
    if DEFAULT not in value:
        first = ", ".join(f"{k}: {v}" for k, v in list(value.items())[:1])
        # No context given: pydantic leaves the braces of the example as written.
        raise PydanticCustomError(
            Code.FIELD_MISSING,
            "a value by segment needs a 'default' for every other segment, e.g."
            f" {{{first}, default: ...}}",
        )
    return value


DurationBySegment = Annotated[
    dict[Slug, Duration], Field(min_length=1), AfterValidator(_with_default)
]
"""A duration per segment, with ``default``: ``{enterprise: 4h, default: 1d}``."""
NumberBySegment = Annotated[
    dict[Slug, int | float], Field(min_length=1), AfterValidator(_with_default)
]
"""A number per segment, with ``default``: ``{enterprise: 70, default: 50}``."""


def split(value: T | dict[str, T]) -> tuple[T, dict[str, T] | None]:
    """``value`` as written, as (the default, the other segments or None): a plan's form."""
    if isinstance(value, dict):
        others = {k: v for k, v in value.items() if k != DEFAULT}
        return value[DEFAULT], others or None
    return value, None


def seconds(value: str | dict[str, str]) -> tuple[int, dict[str, int] | None]:
    """A duration or durations by segment as seconds, in a plan's form (see :func:`split`)."""
    default, others = split(value)
    by = {k: duration_seconds(v) for k, v in others.items()} if others else None
    return duration_seconds(default), by


def default_seconds(value: str | dict[str, str]) -> int:
    """The default's seconds (for checks that look at one value, such as a loop's pause)."""
    return seconds(value)[0]


def shortest_seconds(value: str | dict[str, str]) -> int:
    """The shortest of the values: a loop pauses only if every segment's wait does."""
    default, others = seconds(value)
    return min([default, *(others or {}).values()])


def for_segment(default: T, by_segment: Mapping[str, T] | None, segment: object) -> T:
    """The value for an account of ``segment`` (whatever its attribute holds): its own, or
    the default when it has none, names another segment or is not a name."""
    if by_segment and isinstance(segment, str) and segment in by_segment:
        return by_segment[segment]
    return default


def for_facts(default: T, by_segment: Mapping[str, T] | None, facts: Facts) -> T:
    """The value for the account ``facts`` describe (its ``segment`` attribute)."""
    return for_segment(default, by_segment, facts.account.get("segment"))


def segment_names(value: object) -> list[str]:
    """The segments a value by segment names (not ``default``); none for a single value."""
    return [k for k in value if k != DEFAULT] if isinstance(value, dict) else []
