"""Checks that need more than one document: names that must resolve, and rules of meaning.

A playbook can be well-formed and still wrong: a ``goto`` to a step that does not exist, a
``template`` nobody wrote, ``health.tier`` compared with a tier the health model does not
define, a CEL expression reading ``helth``. These checks run on documents that passed their
own validation and return findings with the path of the offending value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.language import _by_segment
from engine.language._check_conditions import Context, check_condition, unknown_segments
from engine.language._contact import ContactPolicy
from engine.language._diagnose import Finding, suggest
from engine.language._documents import HealthModel, Playbook
from engine.language._errors import Code, Loc
from engine.language._experiments import check_experiment
from engine.language._fields import BUILTIN_ROLES
from engine.language._steps import (
    ApprovalStep,
    BranchStep,
    EmailStep,
    EscalateStep,
    GotoStep,
    StartPlaybookStep,
    TaskStep,
    WaitForStep,
    WaitStep,
    branches,
)

Walked = tuple[Loc, Any]


def walk_steps(steps: list[Any], loc: Loc) -> Iterator[Walked]:
    """Every step, nested ones included, with its path."""
    for i, step in enumerate(steps):
        here = (*loc, i)
        yield here, step
        for key, nested in branches(step):
            yield from walk_steps(nested, (*here, key))


def check_contact_policy(policy: ContactPolicy, books: dict[str, Playbook]) -> list[Finding]:
    """Its exempt playbooks exist, and its audience are roles some playbook can send to."""
    out = []
    for i, name in enumerate(policy.exempt):
        if name not in books:
            why = f"no playbook {name!r} in the set to exempt"
            out.append(Finding(("exempt", i), Code.REF_PLAYBOOK, why, suggest(name, books)))
    roles = set(BUILTIN_ROLES) | {r for book in books.values() for r in book.roles}
    for i, role in enumerate(policy.audience):
        if role not in roles:
            why = f"unknown role {role!r}; use a built-in role or one a playbook declares"
            out.append(Finding(("audience", i), Code.REF_ROLE, why, suggest(role, sorted(roles))))
    return out


def _review(loc: Loc, step: EmailStep, roles: list[str]) -> list[Finding]:
    if step.review is not None:
        return _roles(loc, [step.review], roles, key="review")
    return [
        Finding((*loc, key), Code.FIELD_CONFLICT, f"{key} goes with review: who reviews the email")
        for key in ("review_within", "unreviewed")
        if getattr(step, key) is not None
    ]


def _approval_sla(loc: Loc, step: ApprovalStep, has_ladder: bool) -> list[Finding]:
    if step.sla is None:
        return []
    if not has_ladder:
        why = "sla engages the escalation ladder, and this playbook has none"
        return [Finding((*loc, "sla"), Code.REF_ESCALATION_TIER, why)]
    sla, sla_by = _by_segment.seconds(step.sla)
    timeout, timeout_by = _by_segment.seconds(step.timeout)
    for segment in ["default", *sorted(set(sla_by or {}) | set(timeout_by or {}))]:
        # Each segment's sla against its own timeout (its own or the default).
        wanted = _by_segment.for_segment(sla, sla_by, segment)
        limit = _by_segment.for_segment(timeout, timeout_by, segment)
        if wanted >= limit:
            of = "" if segment == "default" else f" for {segment}"
            why = (
                f"sla ({_shown(step.sla, segment)}) must be shorter than timeout"
                f" ({_shown(step.timeout, segment)}){of}: the ladder engages while the"
                " request is still open"
            )
            return [Finding((*loc, "sla"), Code.FIELD_CONFLICT, why)]
    return []


def _shown(value: str | dict[str, str], segment: str) -> str:
    """A duration as written, the segment's when it is written by segment."""
    if isinstance(value, dict):
        return value.get(segment, value[_by_segment.DEFAULT])
    return value


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
        if isinstance(step, StartPlaybookStep) and step.playbook == book.name:
            # The run that would be started is this one, still running: it could never enroll.
            out.append(
                Finding(
                    (*loc, "playbook"),
                    Code.REF_PLAYBOOK,
                    "a playbook cannot start itself; to repeat steps, use a goto",
                )
            )
        elif isinstance(step, StartPlaybookStep) and step.playbook not in ctx.playbooks:
            out.append(
                _unknown(
                    loc, "playbook", Code.REF_PLAYBOOK, "playbook", step.playbook, ctx.playbooks
                )
            )
        if isinstance(step, EmailStep):
            out += _template(loc, step.template, ctx)
            for part in ("to", "cc"):
                out += _roles((*loc, part), getattr(step, part), roles)
            out += _review(loc, step, roles)
        if isinstance(step, TaskStep):
            out += _roles(loc, [step.assignee], roles, key="assignee")
        if isinstance(step, ApprovalStep):
            out += _roles(loc, [step.approver], roles, key="approver")
            out += _approval_sla(loc, step, has_ladder=book.escalation is not None)
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
    if book.experiment is not None:
        settings = ctx.health.experiments if ctx.health else None
        out += check_experiment(book.experiment, ids, settings, ctx.tiers)
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
            isinstance(step, EscalateStep)
            or getattr(step, "on_failure", None) == "escalate"
            or (isinstance(step, ApprovalStep) and step.sla is not None)
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
    if book.escalation:
        for i, tier in enumerate(book.escalation.tiers):
            out += unknown_segments(tier.ack_sla, ("escalation", "tiers", i, "ack_sla"), ctx)
    for loc, step in walk_steps(book.steps, ("steps",)):
        if isinstance(step, WaitStep):
            out += unknown_segments(step.for_, (*loc, "for"), ctx)
        elif isinstance(step, WaitForStep | ApprovalStep):
            out += unknown_segments(step.timeout, (*loc, "timeout"), ctx)
        if isinstance(step, ApprovalStep):
            out += unknown_segments(step.sla, (*loc, "sla"), ctx)
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
        if isinstance(step, WaitForStep | BranchStep) and step.condition is not None:
            yield (*loc, "condition"), step.condition
    if book.escalation:
        if book.escalation.when:
            yield ("escalation", "when"), book.escalation.when
        for i, tier in enumerate(book.escalation.tiers):
            if tier.when:
                yield ("escalation", "tiers", i, "when"), tier.when
        if book.escalation.recovery:
            yield ("escalation", "recovery", "when"), book.escalation.recovery.when


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
    from engine.language._errors import format_loc

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
    lists = model.tier_lists()
    if "default" not in lists:
        out.append(
            Finding(
                ("tiers",),
                Code.TIERS_INVALID,
                "tiers by segment need a 'default' list for the segments without their own",
            )
        )
    first = model.default_tiers
    for segment, tiers in lists.items():
        where: Loc = ("tiers", segment) if isinstance(model.tiers, dict) else ("tiers",)
        if isinstance(model.tiers, dict) and segment not in segments:
            out.append(
                Finding(
                    where,
                    Code.REF_SEGMENT,
                    f"unknown segment {segment!r}",
                    suggest(segment, segments),
                    at_key=True,
                )
            )
        out += _tier_list(tiers, where)
        if [t.name for t in tiers] != [t.name for t in first] and tiers is not first:
            out.append(
                Finding(
                    where,
                    Code.TIERS_INVALID,
                    f"the tiers of {segment} must be {', '.join(t.name for t in first)}, in"
                    " that order (only their minimums differ by segment)",
                )
            )
    return out


def _tier_list(tiers: list[Any], where: Loc) -> list[Finding]:
    """Tiers named once each, from the highest minimum down to 0."""
    out: list[Finding] = []
    names: set[str] = set()
    for i, tier in enumerate(tiers):
        if tier.name in names:
            out.append(
                Finding(
                    (*where, i, "name"),
                    Code.NAME_DUPLICATE,
                    f"tier {tier.name!r} is defined twice",
                )
            )
        names.add(tier.name)
        if i and tier.min >= tiers[i - 1].min:
            out.append(
                Finding(
                    (*where, i, "min"),
                    Code.TIERS_INVALID,
                    f"tier {tier.name!r} starts at {tier.min:g}, not below the tier"
                    f" above it ({tiers[i - 1].min:g}); list tiers from"
                    " healthiest down",
                )
            )
    if tiers[-1].min != 0:
        out.append(
            Finding(
                (*where, len(tiers) - 1, "min"),
                Code.TIERS_INVALID,
                "the last tier must start at 0 so every score has a tier",
            )
        )
    return out
