"""Conditions: the small grammar CS ops use for entry, exit, goals, branches and recovery.

A condition is a mapping recognised by its key: ``all``, ``any``, ``not``, ``field`` (compare a
value), ``change`` (movement of a score over a window) or ``cel`` (an expression in the Common
Expression Language, the escape hatch). Field names and values are checked against the health
model and the account attributes later, in the set-wide checks, where both are known.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from engine.language._base import Model, Scalar
from engine.language._by_segment import NumberBySegment
from engine.language._counts import Count
from engine.language._durations import Duration
from engine.language._errors import Code

COMPARE_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains")
CHANGE_OPERATORS = ("lt", "lte", "gt", "gte")
FIELD_PATTERN = r"^[a-z_]+(?:\.[a-z0-9_-]+)*$"
_ATTRIBUTE = {"in": "in_"}


class AllOf(Model):
    """True when every condition in the list is true."""

    all_: list[Condition] = Field(alias="all", min_length=1)
    """Conditions that must all hold."""


class AnyOf(Model):
    """True when at least one condition in the list is true."""

    any_: list[Condition] = Field(alias="any", min_length=1)
    """Conditions of which one must hold."""


class Not(Model):
    """True when the inner condition is false."""

    not_: Condition = Field(alias="not")
    """The condition to negate."""


def _exactly_one(model: Model, names: tuple[str, ...], what: str) -> str:
    given = [n for n in names if getattr(model, _ATTRIBUTE.get(n, n)) is not None]
    if len(given) != 1:
        raise PydanticCustomError(
            Code.CONDITION_OPERATOR,
            "{what} needs exactly one operator of {ops}; found {found}",
            {"what": what, "ops": ", ".join(names), "found": ", ".join(given) or "none"},
        )
    return given[0]


class Compare(Model):
    """Compare one value of the account with a constant: ``{field: health.score, lt: 40}``."""

    field: str = Field(pattern=FIELD_PATTERN)
    """What to compare: health.score, health.tier, health.trend, health.components.NAME,
    account.ATTRIBUTE, account.attributes.CUSTOM, days_since_enrollment, days_to_renewal or
    days_since_start."""
    eq: Scalar | None = None
    """Holds when the value equals this."""
    ne: Scalar | None = None
    """Holds when the value differs from this."""
    lt: int | float | NumberBySegment | None = None
    """Holds when the value is below this number (or, by segment with a default, the
    account's: {enterprise: 70, default: 50})."""
    lte: int | float | NumberBySegment | None = None
    """Holds when the value is at most this number (or the account's segment's)."""
    gt: int | float | NumberBySegment | None = None
    """Holds when the value is above this number (or the account's segment's)."""
    gte: int | float | NumberBySegment | None = None
    """Holds when the value is at least this number (or the account's segment's)."""
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    """Holds when the value is one of these."""
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    """Holds when the value is none of these."""
    contains: Scalar | None = None
    """Holds when the value (a list, such as account.tags) contains this."""

    @model_validator(mode="after")
    def _one_operator(self) -> Compare:
        _exactly_one(self, COMPARE_OPERATORS, f"comparison of {self.field}")
        return self

    @property
    def operator(self) -> str:
        return _exactly_one(self, COMPARE_OPERATORS, "comparison")

    @property
    def value(self) -> Any:
        return getattr(self, _ATTRIBUTE.get(self.operator, self.operator))


class Change(Model):
    """Movement of a score over a window: ``{change: health.score, over: 30d, lte: -15}``."""

    change: str = Field(pattern=FIELD_PATTERN)
    """The score whose change is measured: health.score or health.components.NAME."""
    over: Duration
    """The window: the change is the score now minus the score this long ago."""
    lt: int | float | NumberBySegment | None = None
    """Holds when the change is below this (negative means a drop); or by segment, with a
    default: {enterprise: -10, default: -15}."""
    lte: int | float | NumberBySegment | None = None
    """Holds when the change is at most this (or the account's segment's)."""
    gt: int | float | NumberBySegment | None = None
    """Holds when the change is above this (or the account's segment's)."""
    gte: int | float | NumberBySegment | None = None
    """Holds when the change is at least this (or the account's segment's)."""

    @model_validator(mode="after")
    def _one_operator(self) -> Change:
        _exactly_one(self, CHANGE_OPERATORS, f"change of {self.change}")
        return self

    @property
    def operator(self) -> str:
        return _exactly_one(self, CHANGE_OPERATORS, "change")

    @property
    def value(self) -> float | dict[str, float]:
        bound = getattr(self, self.operator)
        if isinstance(bound, dict):
            return {k: float(v) for k, v in bound.items()}
        return float(bound)


class Cel(Model):
    """An expression in the Common Expression Language, checked when the playbook is validated."""

    cel: str = Field(min_length=1)
    """The expression; it sees health, account, days_since_enrollment, days_to_renewal,
    days_since_start and today, can count events with event_count("NAME", "90d"), and must
    yield true or false."""


CONDITION_KEYS = ("all", "any", "not", "field", "change", "count", "cel")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((key for key in CONDITION_KEYS if key in value), None)
    return _KIND_OF_MODEL.get(type(value))


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[Compare, Tag("field")]
    | Annotated[Change, Tag("change")]
    | Annotated[Count, Tag("count")]
    | Annotated[Cel, Tag("cel")],
    Discriminator(
        _condition_kind,
        custom_error_type=Code.CONDITION_KIND,
        custom_error_message=(
            "a condition is a mapping with one of the keys all, any, not, field, change, count"
            " or cel"
        ),
    ),
]
"""A condition: ``all``/``any``/``not`` of conditions, a ``field`` comparison, a ``change``
over a window, a ``count`` of events in a window, or a ``cel`` expression."""

_KIND_OF_MODEL: dict[type, str] = {
    AllOf: "all",
    AnyOf: "any",
    Not: "not",
    Compare: "field",
    Change: "change",
    Count: "count",
    Cel: "cel",
}

for _model in (AllOf, AnyOf, Not):
    _model.model_rebuild()
