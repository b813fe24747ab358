"""Checks that need more than one document: names that must resolve, and rules of meaning.

A playbook can be well-formed and still wrong: a ``goto`` to a step that does not exist, a
``template`` nobody wrote, ``health.tier`` compared with a tier the health model does not
define, a CEL expression reading ``helth``. These checks run on documents that passed their
own validation and return findings with the path of the offending value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine._cel import CEL_VARIABLES, check_expression, members
from engine._conditions import AllOf, AnyOf, Cel, Change, Compare, Not
from engine._diagnose import Finding, suggest
from engine._documents import HealthModel, Playbook
from engine._errors import Code, Loc
from engine._fields import (
    ACCOUNT_ATTRIBUTES,
    BUILTIN_ROLES,
    HEALTH_FIELDS,
    OPERATORS,
    TRENDS,
    field_names,
    kind_of,
)
from engine._steps import (
    BranchStep,
    EmailStep,
    EscalateStep,
    GotoStep,
    StartPlaybookStep,
    TaskStep,
    WaitForStep,
)

Walked = tuple[Loc, Any]


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
        return [t.name for t in self.health.tiers] if self.health else []


def walk_steps(steps: list[Any], loc: Loc) -> Iterator[Walked]:
    """Every step, nested ones included, with its path."""
    for i, step in enumerate(steps):
        here = (*loc, i)
        yield here, step
        if isinstance(step, WaitForStep):
            yield from walk_steps(step.on_met, (*here, "on_met"))
            yield from walk_steps(step.on_timeout, (*here, "on_timeout"))
        elif isinstance(step, BranchStep):
            yield from walk_steps(step.then, (*here, "then"))
            yield from walk_steps(step.else_, (*here, "else"))


def check_playbook(book: Playbook, ctx: Context) -> list[Finding]:
    """Every set-wide problem of one playbook."""
    out: list[Finding] = []
    steps = list(walk_steps(book.steps, ("steps",)))
    ids: dict[str, Loc] = {}
    for loc, step in steps:
        if step.id in ids:
            out.append(
                Finding(
                    (*loc, "id"),
                    Code.STEP_ID_DUPLICATE,
                    f"step id {step.id!r} is already used at {_path(ids[step.id])}",
                )
            )
        else:
            ids[step.id] = loc
    roles = [*BUILTIN_ROLES, *book.roles]
    out += [
        Finding(
            ("roles", name),
            Code.NAME_DUPLICATE,
            f"{name!r} is a built-in role; declare only new ones",
            at_key=True,
        )
        for name in book.roles
        if name in BUILTIN_ROLES
    ]
    if book.entry.at is not None:
        dates = [book.entry.at] if isinstance(book.entry.at, str) else list(book.entry.at.values())
        if any(text.strip().startswith("enrolled") for text in dates):
            out.append(
                Finding(
                    ("entry", "at"),
                    Code.DATE_OFFSET_INVALID,
                    "an entry date cannot be anchored on enrolled, which it defines;"
                    " use renewal_date or start_date",
                )
            )
    ladder = [t.id for t in book.escalation.tiers] if book.escalation else []
    for loc, step in steps:
        if isinstance(step, GotoStep) and step.step not in ids:
            out.append(_unknown(loc, "step", Code.REF_STEP, "step", step.step, ids))
        if isinstance(step, StartPlaybookStep) and step.playbook not in ctx.playbooks:
            out.append(
                _unknown(
                    loc, "playbook", Code.REF_PLAYBOOK, "playbook", step.playbook, ctx.playbooks
                )
            )
        if isinstance(step, EmailStep):
            out += _template(loc, step.template, ctx)
            for part in ("to", "cc"):
                out += _roles((*loc, part), getattr(step, part), roles)
        if isinstance(step, TaskStep):
            out += _roles(loc, [step.assignee], roles, key="assignee")
        if getattr(step, "on_failure", None) == "escalate" and not book.escalation:
            out.append(
                Finding(
                    (*loc, "on_failure"),
                    Code.REF_ESCALATION_TIER,
                    "on_failure: escalate needs an escalation ladder, and this playbook has none",
                )
            )
        if isinstance(step, EscalateStep):
            if not book.escalation:
                out.append(
                    Finding(
                        (*loc, "type"),
                        Code.REF_ESCALATION_TIER,
                        "this playbook has no escalation ladder to engage",
                    )
                )
            elif step.tier is not None and step.tier not in ladder:
                out.append(
                    _unknown(
                        loc, "tier", Code.REF_ESCALATION_TIER, "escalation tier", step.tier, ladder
                    )
                )
    for i, name in enumerate(book.suppresses):
        if name not in ctx.playbooks or name == book.name:
            why = "a playbook cannot suppress itself" if name == book.name else None
            out.append(
                Finding(
                    ("suppresses", i),
                    Code.REF_PLAYBOOK,
                    why or f"unknown playbook {name!r}",
                    suggest(name, ctx.playbooks),
                )
            )
    out += _segments(book, ctx)
    out += _ladder(book, ctx, roles, steps)
    for loc, condition in _conditions(book, steps):
        out += check_condition(condition, loc, ctx)
    return out


def _ladder(book: Playbook, ctx: Context, roles: list[str], steps: list[Walked]) -> list[Finding]:
    if not book.escalation:
        return []
    out: list[Finding] = []
    tiers = book.escalation.tiers
    seen: set[str] = set()
    for i, tier in enumerate(tiers):
        loc: Loc = ("escalation", "tiers", i)
        if tier.id in seen:
            out.append(
                Finding(
                    (*loc, "id"),
                    Code.NAME_DUPLICATE,
                    f"escalation tier {tier.id!r} is defined twice",
                )
            )
        seen.add(tier.id)
        out += _roles((*loc, "notify"), tier.notify, roles)
        if tier.ack_sla is None and i < len(tiers) - 1:
            out.append(
                Finding(
                    loc,
                    Code.FIELD_MISSING,
                    f"tier {tier.id!r} needs 'ack_sla': a higher tier follows it",
                )
            )
        if "email" in tier.via:
            if tier.template is None:
                out.append(
                    Finding(
                        loc, Code.FIELD_MISSING, "'template' is required when via includes email"
                    )
                )
            else:
                out += _template(loc, tier.template, ctx)
        for key, channel in (("template", "email"), ("channel", "chat")):
            if getattr(tier, key) is not None and channel not in tier.via:
                out.append(
                    Finding(
                        (*loc, key),
                        Code.FIELD_CONFLICT,
                        f"'{key}' has no effect unless via includes {channel}",
                    )
                )
        if "chat" in tier.via and not tier.channel:
            out.append(
                Finding(loc, Code.FIELD_MISSING, "'channel' is required when via includes chat")
            )
    started = (
        book.escalation.when is not None
        or any(t.when for t in tiers)
        or any(
            isinstance(step, EscalateStep) or getattr(step, "on_failure", None) == "escalate"
            for _, step in steps
        )
    )
    if not started:
        out.append(
            Finding(
                ("escalation",),
                Code.LADDER_NEVER_STARTS,
                "nothing engages this ladder: give it a 'when', a tier a 'when',"
                " or add a step of type escalate",
                at_key=True,
            )
        )
    return out


def _segments(book: Playbook, ctx: Context) -> list[Finding]:
    if ctx.health is None:
        return []
    out = [
        Finding(
            ("segments", i),
            Code.REF_SEGMENT,
            f"unknown segment {name!r}",
            suggest(name, ctx.segments),
        )
        for i, name in enumerate(book.segments)
        if name not in ctx.segments
    ]
    if isinstance(book.entry.at, dict):
        for name in book.entry.at:
            if name != "default" and name not in ctx.segments:
                out.append(
                    Finding(
                        ("entry", "at", name),
                        Code.REF_SEGMENT,
                        f"unknown segment {name!r}",
                        suggest(name, [*ctx.segments, "default"]),
                        at_key=True,
                    )
                )
    return out


def _conditions(book: Playbook, steps: list[Walked]) -> Iterator[Walked]:
    if book.entry.when:
        yield ("entry", "when"), book.entry.when
    for part in ("exit", "goal"):
        trigger = getattr(book, part)
        if trigger and trigger.when:
            yield (part, "when"), trigger.when
    for loc, step in steps:
        if step.if_:
            yield (*loc, "if"), step.if_
        if isinstance(step, WaitForStep | BranchStep):
            yield (*loc, "condition"), step.condition
    if book.escalation:
        if book.escalation.when:
            yield ("escalation", "when"), book.escalation.when
        for i, tier in enumerate(book.escalation.tiers):
            if tier.when:
                yield ("escalation", "tiers", i, "when"), tier.when
        if book.escalation.recovery:
            yield ("escalation", "recovery", "when"), book.escalation.recovery.when


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
            return []
        return [_field_problem(name, (*loc, "change"), ctx, "health.score or a component")]
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
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    out: list[Finding] = []
    for i, value in enumerate(values):
        vloc = (*loc, op, i) if isinstance(cond.value, list) else (*loc, op)
        out += _constant(cond.field, kind, value, vloc, ctx)
    return out


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
        code = Code.CEL_SYNTAX if problem.kind == "syntax" else Code.CEL_NAME
        hint = suggest(problem.name, CEL_VARIABLES) if problem.kind == "name" else None
        out.append(Finding(loc, code, problem.message, hint, offset=(problem.line, problem.column)))
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


def _roles(loc: Loc, names: list[str], roles: list[str], key: str | None = None) -> list[Finding]:
    out = []
    for i, name in enumerate(names):
        if name not in roles:
            where = (*loc, key) if key else (*loc, i)
            out.append(
                Finding(
                    where,
                    Code.REF_ROLE,
                    f"unknown role {name!r}; declare it under 'roles' or use one of"
                    f" {', '.join(roles)}",
                    suggest(name, roles),
                )
            )
    return out


def _template(loc: Loc, name: str, ctx: Context) -> list[Finding]:
    if name in ctx.templates:
        return []
    return [_unknown(loc, "template", Code.REF_TEMPLATE, "email template", name, ctx.templates)]


def _unknown(loc: Loc, key: str, code: Code, what: str, name: str, known: Any) -> Finding:
    return Finding((*loc, key), code, f"unknown {what} {name!r}", suggest(name, known))


def _path(loc: Loc) -> str:
    from engine._errors import format_loc

    return format_loc(loc)


def check_health_model(model: HealthModel) -> list[Finding]:
    """Weights that sum to 100 over known components, and tiers that cover 0-100 in order."""
    out: list[Finding] = []
    segments = [*model.segments, "default"]
    for segment, weights in model.weights.items():
        loc: Loc = ("weights", segment)
        if segment not in segments:
            out.append(
                Finding(
                    loc,
                    Code.REF_SEGMENT,
                    f"unknown segment {segment!r}",
                    suggest(segment, segments),
                    at_key=True,
                )
            )
        for component, weight in weights.items():
            if component not in model.components:
                out.append(
                    Finding(
                        (*loc, component),
                        Code.REF_COMPONENT,
                        f"unknown health component {component!r}",
                        suggest(component, model.components),
                        at_key=True,
                    )
                )
            elif not 0 <= weight <= 100:
                out.append(
                    Finding(
                        (*loc, component),
                        Code.WEIGHTS_INVALID,
                        f"weight {weight:g} is outside 0-100",
                    )
                )
        total = sum(weights.values())
        if abs(total - 100) > 1e-6:
            out.append(
                Finding(
                    loc, Code.WEIGHTS_INVALID, f"weights of {segment} sum to {total:g}, not 100"
                )
            )
    uncovered = [s for s in model.segments if s not in model.weights]
    if uncovered and "default" not in model.weights:
        out.append(
            Finding(
                ("weights",),
                Code.WEIGHTS_INVALID,
                f"no weights for {', '.join(uncovered)} and no default",
            )
        )
    names: set[str] = set()
    for i, tier in enumerate(model.tiers):
        if tier.name in names:
            out.append(
                Finding(
                    ("tiers", i, "name"),
                    Code.NAME_DUPLICATE,
                    f"tier {tier.name!r} is defined twice",
                )
            )
        names.add(tier.name)
        if i and tier.min >= model.tiers[i - 1].min:
            out.append(
                Finding(
                    ("tiers", i, "min"),
                    Code.TIERS_INVALID,
                    f"tier {tier.name!r} starts at {tier.min:g}, not below the tier"
                    f" above it ({model.tiers[i - 1].min:g}); list tiers from"
                    " healthiest down",
                )
            )
    if model.tiers[-1].min != 0:
        out.append(
            Finding(
                ("tiers", len(model.tiers) - 1, "min"),
                Code.TIERS_INVALID,
                "the last tier must start at 0 so every score has a tier",
            )
        )
    return out
