"""Conditions checked against the set they live in: fields, operators, constants and CEL names.

A condition can parse and still name nothing: ``health.tier`` compared with a tier the
health model does not define, a component nobody scores, a CEL expression reading ``helth``.
:class:`Context` is what a playbook may refer to (the rest of its set); the checks here
return findings positioned at the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.language._by_segment import segment_names
from engine.language._cel import CEL_VARIABLES, check_expression, members
from engine.language._conditions import AllOf, AnyOf, Cel, Change, Compare, Not
from engine.language._counts import Count, cel_count_problems
from engine.language._diagnose import Finding, suggest
from engine.language._documents import HealthModel
from engine.language._errors import Code, Loc
from engine.language._fields import (
    ACCOUNT_ATTRIBUTES,
    HEALTH_FIELDS,
    OPERATORS,
    TRENDS,
    field_names,
    kind_of,
)


@dataclass
class Context:
    """The names a playbook may refer to: the rest of its set."""

    playbooks: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)
    health: HealthModel | None = None
    ambiguous_health: list[str] = field(default_factory=list)
    """Files of several HealthModels found beside a file, when none was named."""

    @property
    def components(self) -> list[str]:
        return list(self.health.components) if self.health else []

    @property
    def segments(self) -> list[str]:
        return list(self.health.segments) if self.health else []

    @property
    def tiers(self) -> list[str]:
        return [t.name for t in self.health.default_tiers] if self.health else []


def check_condition(condition: Any, loc: Loc, ctx: Context) -> list[Finding]:
    """Names, operators and constants of a condition tree against the catalogue."""
    if isinstance(condition, AllOf | AnyOf):
        key = "all" if isinstance(condition, AllOf) else "any"
        items = condition.all_ if isinstance(condition, AllOf) else condition.any_
        return [f for i, c in enumerate(items) for f in check_condition(c, (*loc, key, i), ctx)]
    if isinstance(condition, Not):
        return check_condition(condition.not_, (*loc, "not"), ctx)
    if isinstance(condition, Compare):
        return _compare(condition, loc, ctx)
    if isinstance(condition, Change):
        name = condition.change
        if name == "health.score" or (
            kind_of(name, ctx.components) == "number" and name.startswith("health.components.")
        ):
            return unknown_segments(condition.value, (*loc, condition.operator), ctx)
        return [_field_problem(name, (*loc, "change"), ctx, "health.score or a component")]
    if isinstance(condition, Count):
        return []  # the event name, window and bound are the model's to check
    assert isinstance(condition, Cel)
    return _cel(condition.cel, (*loc, "cel"), ctx)


def _compare(cond: Compare, loc: Loc, ctx: Context) -> list[Finding]:
    kind = kind_of(cond.field, ctx.components)
    if kind is None:
        return [_field_problem(cond.field, (*loc, "field"), ctx, None)]
    op = cond.operator
    if op not in OPERATORS[kind]:
        return [
            Finding(
                (*loc, op),
                Code.CONDITION_OPERATOR,
                f"{cond.field} ({kind}) cannot be compared with {op!r};"
                f" use {', '.join(OPERATORS[kind])}",
                "compare dates through days_to_renewal or days_since_start"
                if kind == "date"
                else None,
                at_key=True,
            )
        ]
    if isinstance(cond.value, dict):
        # A threshold by segment: each segment named is one the model has, each value fits.
        out = unknown_segments(cond.value, (*loc, op), ctx)
        for segment, value in cond.value.items():
            out += _constant(cond.field, kind, value, (*loc, op, segment), ctx)
        return out
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    out = []
    for i, value in enumerate(values):
        vloc = (*loc, op, i) if isinstance(cond.value, list) else (*loc, op)
        out += _constant(cond.field, kind, value, vloc, ctx)
    return out


def unknown_segments(value: object, loc: Loc, ctx: Context) -> list[Finding]:
    """A value by segment's keys that are not segments of the health model (nor default)."""
    if ctx.health is None:
        return []
    return [
        Finding(
            (*loc, name),
            Code.REF_SEGMENT,
            f"unknown segment {name!r}",
            suggest(name, [*ctx.segments, "default"]),
            at_key=True,
        )
        for name in segment_names(value)
        if name not in ctx.segments
    ]


def _constant(name: str, kind: str, value: Any, loc: Loc, ctx: Context) -> list[Finding]:
    choices: list[str] | None = {
        "tier": ctx.tiers if ctx.health else None,
        "trend": list(TRENDS),
        "segment": ctx.segments if ctx.health else None,
    }.get(kind)
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return [Finding(loc, Code.CONDITION_VALUE, f"{name} is a number; {value!r} is not")]
    if kind in ("text", "date", "list") and not isinstance(value, str):
        return [Finding(loc, Code.CONDITION_VALUE, f"{name} holds text; {value!r} is not text")]
    if choices is not None and value not in choices:
        code = {"tier": Code.REF_HEALTH_TIER, "segment": Code.REF_SEGMENT}.get(
            kind, Code.CONDITION_VALUE
        )
        return [
            Finding(
                loc,
                code,
                f"unknown {kind} {value!r}; the {kind}s are {', '.join(choices)}",
                suggest(value, choices),
            )
        ]
    return []


def _field_problem(name: str, loc: Loc, ctx: Context, allowed: str | None) -> Finding:
    if name.startswith("health.components."):
        component = name.split(".", 2)[2]
        return Finding(
            loc,
            Code.REF_COMPONENT,
            f"unknown health component {component!r}",
            suggest(component, ctx.components),
        )
    if allowed and kind_of(name, ctx.components):
        return Finding(loc, Code.REF_FIELD, f"{name} cannot be measured as a change; use {allowed}")
    return Finding(
        loc, Code.REF_FIELD, f"unknown field {name!r}", suggest(name, field_names(ctx.components))
    )


def _cel(expression: str, loc: Loc, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for problem in check_expression(expression):
        code = {"syntax": Code.CEL_SYNTAX, "limit": Code.CEL_TOO_COMPLEX}.get(
            problem.kind, Code.CEL_NAME
        )
        hint = suggest(problem.name, CEL_VARIABLES) if problem.kind == "name" else None
        out.append(Finding(loc, code, problem.message, hint, offset=(problem.line, problem.column)))
    for message, offset in cel_count_problems(expression):
        line = expression.count("\n", 0, offset) + 1
        column = offset - (expression.rfind("\n", 0, offset) + 1) + 1
        out.append(Finding(loc, Code.CEL_NAME, message, offset=(line, column)))
    if out:
        return out
    for root, name, sub, line, column in members(expression):
        known = (
            HEALTH_FIELDS | {"components": "any"}
            if root == "health"
            else (ACCOUNT_ATTRIBUTES | {"attributes": "any"})
        )
        if name not in known:
            hint = suggest(name, known)  # "did you mean 'score'?", said in full below
            out.append(
                Finding(
                    loc,
                    Code.CEL_NAME,
                    f"unknown field '{root}.{name}'",
                    hint and hint.replace("mean '", f"mean '{root}.", 1),
                    offset=(line, column),
                )
            )
        elif root == "health" and name == "components" and sub and sub not in ctx.components:
            out.append(
                Finding(
                    loc,
                    Code.REF_COMPONENT,
                    f"unknown health component {sub!r}",
                    suggest(sub, ctx.components),
                    offset=(line, column),
                )
            )
    return out
