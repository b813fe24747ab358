"""The waiting steps of a playbook run: ``wait_for`` a condition, ``wait`` until a date, and
the watch that re-reads goal, exit and ladder conditions when the calendar turns them.

Kept beside the run's interpreter (``engine.journeys._run``), which calls them with itself,
seen as a :class:`~engine.journeys._journey.Journey`; they run inside that workflow, so they
are as deterministic as it is.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._summaries as _summaries
    from engine.journeys._catch_up import GRACE
    from engine.journeys._evaluate import evaluate
    from engine.journeys._journey import Journey, stop_if_ending
    from engine.language._facts import anchor_date, anchor_problem, anchor_value
    from engine.language._plan import ConditionPlan, DateAt

ANCHOR_WHY = "anchor-why"
"""workflow.patched id: a date wait whose anchor is missing or not a date says so in ``why``;
runs from before waited silently."""


async def wait_for(run: Journey, condition: ConditionPlan, timeout: int, node_id: str) -> bool:
    """Until ``condition`` holds (True) or ``timeout`` seconds pass (False), recording which."""
    deadline = run.wait_ends = _clock.now() + timedelta(seconds=timeout)
    run.waiting = f"waiting for its condition, gives up {_summaries.moment(deadline)}"
    run.describe()
    while True:
        verdict = evaluate(condition, run.facts())
        if verdict.result:
            run.record("wait_met", f"steps.{node_id}", verdict.seen)
            return True
        remaining = deadline - _clock.now()
        if remaining <= timedelta(0):
            run.record("wait_timeout", f"steps.{node_id}", verdict.seen)
            return False
        facts = run.latest_facts
        with contextlib.suppress(TimeoutError):
            # New facts (a reading, a renewal date set) can move the moment the calendar turns
            # the condition, so exact runs wake at each and compute the next wake-up again.
            await workflow.wait_condition(
                lambda facts=facts: (  # type: ignore[misc]
                    (run.exact_journeys and run.latest_facts is not facts)
                    or evaluate(condition, run.facts()).result
                ),
                timeout=run.wake_within(remaining, [condition]),
                timeout_summary=_summaries.wait_for(node_id, deadline),
            )
        stop_if_ending(run)


async def wait_for_event(run: Journey, event: str, timeout: int, node_id: str) -> bool:
    """Until the lifecycle event ``event`` arrives (True) or ``timeout`` seconds pass (False).

    An event received since the run began counts, so a kickoff that happened before the
    step was reached meets it at once; one that met this step before does not count again
    when the step runs a second time (a loop).
    """
    deadline = run.wait_ends = _clock.now() + timedelta(seconds=timeout)
    run.waiting = f"waiting for the event {event}, gives up {_summaries.moment(deadline)}"
    run.describe()
    taken = run.events_taken.get(node_id, 0)

    def arrived() -> int | None:
        for index in range(taken, len(run.events)):
            if run.events[index] == event:
                return index
        return None

    remaining = deadline - _clock.now()
    if arrived() is None and remaining > timedelta(0):
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: arrived() is not None,
                timeout=remaining,
                timeout_summary=_summaries.wait_for(node_id, deadline),
            )
        stop_if_ending(run)
    index = arrived()
    seen = {"event": event}
    if index is None:
        run.record("wait_timeout", f"steps.{node_id}", seen)
        return False
    run.events_taken[node_id] = index + 1
    run.record("wait_met", f"steps.{node_id}", seen)
    return True


async def watch_calendar(run: Journey) -> None:
    """Re-read the goal, the exit and the ladder's conditions when the calendar turns one
    (``days_since_enrollment >= 90``), not only when new facts arrive."""
    plan = run.input.plan
    conditions = [trigger.when for trigger in (plan.goal, plan.exit) if trigger is not None]
    if plan.escalation is not None:
        conditions += [plan.escalation.when, *(t.when for t in plan.escalation.tiers)]
    while True:
        facts = run.latest_facts
        wake = run.wake_within(None, conditions)
        due = run.endings_due
        if due is not None:  # a goal or exit held for a window completes it then
            left = max(due - _clock.now(), timedelta(seconds=1))
            wake = left if wake is None else min(wake, left)
        try:
            await workflow.wait_condition(
                lambda facts=facts: run.latest_facts is not facts,  # type: ignore[misc]
                timeout=wake,
                timeout_summary="recheck goal, exit and escalation on the calendar",
            )
        except TimeoutError:
            run.check_endings()
            run.ladder.observe()
        stop_if_ending(run)


async def wait_until(run: Journey, at: DateAt, node_id: str) -> datetime | None:
    """Until the date ``at`` stands for, however often its anchor moves meanwhile.

    Returns the date when it had *passed* (engine.journeys._catch_up): more than a day
    before the account enrolled, or more than a day behind once its anchor moved (a renewal
    date set or moved during the wait). A date that came while the run was held elsewhere
    (a pause, a long wait before this one) is not passed: it is due now. Else None.
    """
    # Re-reads the anchor whenever it changes: a renewal date that moves reschedules the
    # wait, and a step already passed never runs again because the walk only goes on.
    moved = False
    told: str | None = None  # why the date is unknown, as last recorded
    while True:
        target = run.wait_ends = _target(run, at)
        anchors = run.anchors
        run.waiting = (
            f"waiting until {_summaries.moment(target)}"
            if target is not None
            else f"waiting for the account's {at.anchor}"
        )
        run.describe()
        if target is None:
            problem = anchor_problem(run.facts().account, at.anchor)
            if problem != told and workflow.patched(ANCHOR_WHY):
                seen = {at.anchor: anchor_value(run.facts().account, at.anchor)}
                run.record("waiting", f"steps.{node_id}", seen, f"{problem}: waits until it has")
            told = problem
            await workflow.wait_condition(lambda a=anchors: run.anchors != a)  # type: ignore[misc]
            moved = True
            continue
        remaining = target - _clock.now()
        if remaining <= timedelta(0):
            late = target < run.input.enrolled_at - GRACE or (moved and -remaining > GRACE)
            return target if late else None
        moved = True  # unless the timer fires below, the anchor moved
        try:
            await workflow.wait_condition(
                lambda a=anchors: run.anchors != a,  # type: ignore[misc]
                timeout=remaining,
                timeout_summary=_summaries.wait_until(node_id, at, target),
            )
        except TimeoutError:
            return None
        finally:
            stop_if_ending(run)


def _target(run: Journey, at: DateAt) -> datetime | None:
    if at.anchor == "enrolled":
        base: datetime | None = run.input.enrolled_at
    else:
        facts = run.facts()
        base = anchor_date(facts.account, at.anchor, facts.zone)
    return None if base is None else base + timedelta(seconds=at.offset_seconds)
