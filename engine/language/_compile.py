"""Compilation: a validated playbook (or health model) becomes its plan.

The compiler never fails on a playbook that passed validation: every name it looks up was
resolved by the checks. It is deterministic, so the same YAML always yields the same hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.language import _by_segment
from engine.language._calendar import CalendarPlan, business_days, parse_window
from engine.language._conditions import AllOf, AnyOf, Cel, Change, Compare, Not
from engine.language._counts import Count
from engine.language._documents import EmailTemplate, HealthModel, Playbook, Trigger
from engine.language._durations import duration_seconds, parse_date_offset
from engine.language._experiments import compile_experiment
from engine.language._plan import (
    AllPlan,
    AnyPlan,
    ApprovalNode,
    BranchNode,
    CelPlan,
    ChangePlan,
    ComparePlan,
    ConditionPlan,
    CountPlan,
    DateAt,
    EmailNode,
    EndNode,
    EntryPlan,
    EscalateNode,
    HealthModelPlan,
    LadderPlan,
    Node,
    NotifyNode,
    NotPlan,
    Plan,
    ReentryPlan,
    StartPlaybookNode,
    TaskNode,
    TemplatePlan,
    TierBand,
    TierPlan,
    TriggerPlan,
    WaitForNode,
    WaitNode,
    WebhookNode,
    content_hash,
)
from engine.language._steps import (
    ApprovalStep,
    BranchStep,
    EmailStep,
    EndStep,
    EscalateStep,
    GotoStep,
    NotifyStep,
    StartPlaybookStep,
    TaskStep,
    WaitForStep,
    WaitStep,
    WebhookStep,
    branches,
)


def compile_condition(condition: Any) -> ConditionPlan:
    """The plan form of a condition tree."""
    if isinstance(condition, AllOf):
        return AllPlan(items=[compile_condition(c) for c in condition.all_])
    if isinstance(condition, AnyOf):
        return AnyPlan(items=[compile_condition(c) for c in condition.any_])
    if isinstance(condition, Not):
        return NotPlan(item=compile_condition(condition.not_))
    if isinstance(condition, Compare):
        value, by_segment = _by_segment.split(condition.value)
        return ComparePlan(
            field=condition.field, op=condition.operator, value=value, by_segment=by_segment
        )
    if isinstance(condition, Change):
        bound, by_segment = _by_segment.split(condition.value)
        return ChangePlan(
            field=condition.change,
            window_seconds=duration_seconds(condition.over),
            op=condition.operator,
            value=bound,
            by_segment=by_segment,
        )
    if isinstance(condition, Count):
        spec = condition.count
        return CountPlan(
            event=spec.event,
            window_seconds=duration_seconds(spec.over),
            op=spec.operator,
            value=spec.value,
        )
    assert isinstance(condition, Cel)
    return CelPlan(expression=condition.cel.strip())


def _maybe(condition: Any) -> ConditionPlan | None:
    return None if condition is None else compile_condition(condition)


DEFAULT_REVIEW_WITHIN = "3d"
"""How long a reviewed email waits for its reviewer when the step does not say."""


def _date(text: str) -> DateAt:
    offset = parse_date_offset(text)
    return DateAt(anchor=offset.anchor, offset_seconds=offset.seconds)


def step_graph(steps: list[Any]) -> tuple[dict[str, list[str]], set[str], dict[str, str]]:
    """Successors of every step id (gotos included), the ids that really wait, and gotos."""
    graph: dict[str, list[str]] = {}
    waits: set[str] = set()
    gotos: dict[str, str] = {}

    def visit(items: list[Any], after: str | None) -> None:
        for i, step in enumerate(items):
            nxt = items[i + 1].id if i + 1 < len(items) else after
            succ = [nxt] if nxt else []
            if isinstance(step, GotoStep):
                gotos[step.id] = step.step
                succ = [step.step] + (succ if step.if_ else [])
            elif branches(step):
                # Each outcome goes to its first step, or straight on when its list is empty;
                # a guard that does not hold also goes straight on.
                lists = [nested for _, nested in branches(step)]
                firsts = [branch[0].id if branch else nxt for branch in lists]
                succ = [s for s in firsts if s] + ([nxt] if step.if_ and nxt else [])
                for branch in lists:
                    visit(branch, nxt)
            elif isinstance(step, EndStep):
                succ = [nxt] if (step.if_ and nxt) else []
            # A wait that a guard can skip guarantees no pause.
            if (
                isinstance(step, WaitStep)
                and step.for_
                and step.if_ is None
                and (
                    _by_segment.shortest_seconds(step.for_) > 0
                    if not isinstance(step.for_, str) or business_days(step.for_) is None
                    else (business_days(step.for_) or 0) > 0
                )
            ):
                waits.add(step.id)
            graph[step.id] = succ

    visit(steps, None)
    return graph, waits, gotos


def loops_without_wait(steps: list[Any]) -> list[str]:
    """Ids of gotos that close a loop in which no ``wait`` with ``for`` guarantees progress."""
    graph, waits, gotos = step_graph(steps)
    bad: list[str] = []
    for goto, target in gotos.items():
        # Search from the target back to this goto, never passing through a real wait.
        seen: set[str] = set()
        stack = [target]
        while stack:
            node = stack.pop()
            if node in seen or node in waits or node not in graph:
                continue
            if node == goto:
                bad.append(goto)
                break
            seen.add(node)
            stack.extend(graph[node])
    return bad


def compile_playbook(
    book: Playbook,
    templates: Mapping[str, EmailTemplate],
    source: str | None = None,
    calendars: Mapping[str, CalendarPlan] | None = None,
) -> Plan:
    """The plan of a playbook whose names all resolve (it passed validation), with the set's
    compiled ``calendars`` (engine.language._calendar.compile_calendar)."""
    gotos = {
        s.id: s.step for s in _all_steps(book.steps) if isinstance(s, GotoStep) and s.if_ is None
    }

    def resolve(step_id: str | None) -> str | None:
        seen: set[str] = set()
        while step_id in gotos and step_id not in seen:
            seen.add(step_id)
            step_id = gotos[step_id]
        return step_id

    nodes: dict[str, Node] = {}
    used_templates: set[str] = set()

    def visit(items: list[Any], after: str | None) -> str | None:
        for i, step in enumerate(items):
            nxt = resolve(items[i + 1].id if i + 1 < len(items) else after)
            if isinstance(step, GotoStep):
                if step.if_ is not None:
                    # A guarded goto stays a node: a branch on its guard.
                    nodes[step.id] = BranchNode(
                        id=step.id,
                        condition=compile_condition(step.if_),
                        then=resolve(step.step),
                        otherwise=nxt,
                    )
                continue
            common: dict[str, Any] = {"id": step.id, "when": _maybe(step.if_), "next": nxt}
            if isinstance(step, WaitForStep):
                nodes[step.id] = WaitForNode(
                    **common,
                    condition=_maybe(step.condition),
                    event=step.event,
                    timeout_seconds=_by_segment.seconds(step.timeout)[0],
                    timeout_by_segment=_by_segment.seconds(step.timeout)[1],
                    on_met=visit(step.on_met, nxt) if step.on_met else nxt,
                    on_timeout=visit(step.on_timeout, nxt) if step.on_timeout else nxt,
                )
            elif isinstance(step, BranchStep):
                nodes[step.id] = BranchNode(
                    **common,
                    condition=compile_condition(step.condition),
                    then=visit(step.then, nxt) if step.then else nxt,
                    otherwise=visit(step.else_, nxt) if step.else_ else nxt,
                )
            elif isinstance(step, ApprovalStep):
                nodes[step.id] = ApprovalNode(
                    **common,
                    title=step.title,
                    approver=step.approver,
                    description=step.description,
                    priority=step.priority,
                    timeout_seconds=_by_segment.seconds(step.timeout)[0],
                    sla_seconds=_by_segment.seconds(step.sla)[0] if step.sla else None,
                    timeout_by_segment=_by_segment.seconds(step.timeout)[1],
                    sla_by_segment=_by_segment.seconds(step.sla)[1] if step.sla else None,
                    on_approve=visit(step.on_approve, nxt) if step.on_approve else nxt,
                    on_reject=visit(step.on_reject, nxt) if step.on_reject else nxt,
                    on_timeout=visit(step.on_timeout, nxt) if step.on_timeout else nxt,
                )
            else:
                nodes[step.id] = _simple_node(step, common, used_templates)
        return resolve(items[0].id) if items else after

    start = visit(book.steps, None)
    # Nested steps were compiled before their parent; list nodes in the order authors read.
    nodes = {s.id: nodes[s.id] for s in _all_steps(book.steps) if s.id in nodes}
    ladder = None
    if book.escalation:
        esc = book.escalation
        used_templates |= {t.template for t in esc.tiers if t.template}
        ladder = LadderPlan(
            when=_maybe(esc.when),
            tiers=[
                TierPlan(
                    id=t.id,
                    notify=t.notify,
                    via=t.via,
                    title=t.title,
                    template=t.template,
                    channel=t.channel,
                    ack_sla_seconds=_by_segment.seconds(t.ack_sla)[0] if t.ack_sla else None,
                    when=_maybe(t.when),
                    ack_sla_by_segment=_by_segment.seconds(t.ack_sla)[1] if t.ack_sla else None,
                )
                for t in esc.tiers
            ],
            recovery=_maybe(esc.recovery.when) if esc.recovery else None,
            recovery_for_seconds=(
                duration_seconds(esc.recovery.for_) if esc.recovery and esc.recovery.for_ else 0
            ),
        )
    at = book.entry.at
    entry = EntryPlan(
        when=_maybe(book.entry.when),
        event=book.entry.event,
        at=(
            {}
            if at is None
            else {"default": _date(at)}
            if isinstance(at, str)
            else {k: _date(v) for k, v in at.items()}
        ),
    )
    fields: dict[str, Any] = {
        "name": book.name,
        "version": book.version,
        "description": book.description.strip(),
        "owner": book.owner,
        "stage": book.stage,
        "segments": sorted(book.segments),
        "priority": book.priority,
        "suppresses": sorted(book.suppresses),
        "roles": book.roles,
        "entry": entry,
        "exit": _trigger(book.exit),
        "goal": _trigger(book.goal),
        "reentry": ReentryPlan(
            policy=book.reentry.policy,
            cooldown_seconds=duration_seconds(book.reentry.cooldown)
            if book.reentry.cooldown
            else None,
        ),
        "start": start,
        "nodes": nodes,
        "escalation": ladder,
        "templates": {
            name: TemplatePlan(
                subject=templates[name].subject,
                text=templates[name].text,
                html=templates[name].html,
            )
            for name in sorted(used_templates)
        },
        "catch_up": book.catch_up,
        "send_window": parse_window(book.send_window) if book.send_window else None,
        "calendars": dict(sorted((calendars or {}).items())),
        "experiment": compile_experiment(book.experiment),
    }
    draft = Plan(hash="", source=source, **fields)
    return draft.model_copy(update={"hash": content_hash(draft)})


def _all_steps(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for step in items:
        out.append(step)
        for _, nested in branches(step):
            out += _all_steps(nested)
    return out


def _trigger(trigger: Trigger | None) -> TriggerPlan | None:
    if trigger is None:
        return None
    held = duration_seconds(trigger.for_) if trigger.for_ else None
    return TriggerPlan(when=_maybe(trigger.when), event=trigger.event, for_seconds=held or None)


def _simple_node(step: Any, common: dict[str, Any], used_templates: set[str]) -> Node:
    if isinstance(step, WaitStep):
        days = business_days(step.for_) if isinstance(step.for_, str) else None
        return WaitNode(
            **common,
            seconds=_by_segment.seconds(step.for_)[0] if step.for_ and days is None else None,
            seconds_by_segment=_by_segment.seconds(step.for_)[1]
            if step.for_ and days is None
            else None,
            until=_date(step.until) if step.until else None,
            business_days=days,
        )
    if isinstance(step, EscalateStep):
        return EscalateNode(**common, tier=step.tier)
    if isinstance(step, EndStep):
        # A guarded end that does not fire is skipped like any other node: keep its next.
        follow = common["next"] if step.if_ is not None else None
        return EndNode(**{**common, "next": follow}, outcome=step.outcome, reason=step.reason)
    common["on_failure"] = step.on_failure
    common["catch_up"] = step.catch_up
    common["send_window"] = step.send_window
    if isinstance(step, EmailStep):
        used_templates.add(step.template)
        review = {}
        if step.review is not None:
            review = {
                "review": step.review,
                "review_seconds": duration_seconds(step.review_within or DEFAULT_REVIEW_WITHIN),
                "unreviewed": step.unreviewed or "discard",
            }
        return EmailNode(**common, template=step.template, to=step.to, cc=step.cc, **review)
    if isinstance(step, TaskStep):
        return TaskNode(
            **common,
            title=step.title,
            assignee=step.assignee,
            due_seconds=duration_seconds(step.due),
            priority=step.priority,
            description=step.description,
        )
    if isinstance(step, NotifyStep):
        return NotifyNode(**common, channel=step.channel, message=step.message)
    if isinstance(step, WebhookStep):
        return WebhookNode(**common, url=step.url, method=step.method, body=step.body)
    assert isinstance(step, StartPlaybookStep)
    return StartPlaybookNode(**common, playbook=step.playbook)


def compile_health_model(model: HealthModel, source: str | None = None) -> HealthModelPlan:
    """The plan of a health model: weights as fractions, one set per segment."""
    declared = [*model.segments, *(["default"] if "default" in model.weights else [])]
    weights = {
        segment: {
            c: model.weights.get(segment, model.weights.get("default", {})).get(c, 0.0) / 100
            for c in model.components
        }
        for segment in declared
    }
    draft = HealthModelPlan(
        name=model.name,
        version=model.version,
        hash="",
        segments=model.segments,
        components=list(model.components),
        weights=weights,
        tiers=[TierBand(name=t.name, min=t.min) for t in model.default_tiers],
        tiers_by_segment={
            segment: [TierBand(name=t.name, min=t.min) for t in tiers]
            for segment, tiers in model.tier_lists().items()
            if segment != "default"
        }
        or None,
        trend_window_seconds=duration_seconds(model.trend.window),
        trend_threshold=model.trend.threshold,
        missing=model.missing,
        source=source,
    )
    return draft.model_copy(update={"hash": content_hash(draft)})
