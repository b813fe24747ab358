"""Running PlaybookTests: each test's account through the real workflows, then its checks.

Each test is a simulation of its own (a fresh time-skipping server, the worker with the
recording actions, the catalog of the playbooks it names), so tests are as independent as
unit tests; they run a few at a time. The timeline a test gets is the one ``playbook
simulate`` prints, and each expectation is read against it with the plans at hand, so an
email "from template X to role Y" is matched through the step or tier that sent it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from engine.journeys._catalog import Catalog, build_catalog
from engine.language._loader import PlaybookSet
from engine.language._plan import ApprovalNode, EmailNode, Plan, TaskNode, TierPlan
from engine.language._tests import Expectation, PlaybookTest
from engine.language._yaml import Positions
from workers.directory import Directory
from workers.simulate.inputs import InputError, TimedRow, _timed, resolve_days
from workers.simulate.report import Entry, line, timeline
from workers.simulate.runner import ClockStopped, Scenario, SimulationError, run

_CONTEXT_DAYS = 2
"""A failure shows the actual timeline this many days either side of the expected window."""
_CONTEXT_LINES = 40
"""At most this many lines of it: an expectation on any day would show the whole timeline."""
_TAIL_DAYS = 30
"""Days simulated past the last row or expectation when a test does not say."""


@dataclass
class Failure:
    """One expectation the timeline did not meet, with where it is written."""

    path: str
    line: int
    column: int
    expected: str
    found: str
    context: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{self.path}:{self.line}:{self.column}: expected {self.expected}; {self.found}"
        return "\n".join([head, *(f"    {text}" for text in self.context)])


@dataclass
class Outcome:
    """What became of one test."""

    name: str
    path: str
    passed: int
    failures: list[Failure]
    seconds: float = 0.0
    error: str | None = None
    """The test could not run (a bad timeline, a server that failed)."""
    arms: list[str] = field(default_factory=list)
    """The arms the test's account fell in, ``playbook experiment:arm`` (its runs' experiment
    decisions), so an author sees which version of a playbook under test it went through."""

    @property
    def ok(self) -> bool:
        return not self.failures and self.error is None


async def run_tests(
    found: PlaybookSet,
    *,
    directory: Directory | None = None,
    jobs: int | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every test of ``found``, ``jobs`` at a time (default: one per CPU)."""
    health = found.health_plan()
    if health is None:
        raise SimulationError("no health model in the set: tests need one")
    plans = {plan.name: plan for plan in found.plans()}
    gate = asyncio.Semaphore(jobs or len(os.sched_getaffinity(0)) or 1)

    async def one(name: str) -> Outcome:
        test = found.tests[name]
        path, positions = found.test_sources[name]
        chosen = [plans[n] for n in (test.playbooks or sorted(plans))]
        catalog = build_catalog(chosen, health, found.contact_plan())
        async with gate:
            outcome = await _run_one(test, path, positions, catalog, directory)
        if progress is not None:
            progress(outcome)
        return outcome

    return list(await asyncio.gather(*(one(name) for name in sorted(found.tests))))


async def _run_one(
    test: PlaybookTest,
    path: str,
    positions: Positions,
    catalog: Catalog,
    directory: Directory | None,
) -> Outcome:
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        scenario = _scenario(test, path, positions)
        try:
            result = await run(catalog, scenario, directory=directory)
        except ClockStopped:
            # The test server stops its clock by chance (workers.simulate.runner._drive): once
            # more on a fresh one, as a backtest's shard does.
            result = await run(catalog, scenario, directory=directory)
    except (InputError, SimulationError) as error:
        return Outcome(test.name, path, 0, [], loop.time() - began, str(error).splitlines()[0])
    entries = timeline(result)
    failures: list[Failure] = []
    checked = 0
    for part, expectations in (("expect", test.expect), ("never", test.never)):
        for index, expectation in enumerate(expectations):
            checked += 1
            failure = _check(part == "never", expectation, entries, catalog.plans)
            if failure is not None:
                expected, found, context = failure
                line_no, column = positions.of_key((part, index, expectation.what))
                failures.append(Failure(path, line_no, column, expected, found, context))
    arms = [
        f"{e.playbook} {e.seen.get('experiment')}:{e.seen.get('arm')}"
        for e in entries
        if e.kind == "experiment" and e.step.startswith("experiment.")
    ]
    return Outcome(
        test.name, path, checked - len(failures), failures, loop.time() - began, arms=arms
    )


def _scenario(test: PlaybookTest, path: str, positions: Positions) -> Scenario:
    account = test.account
    rows: list[TimedRow] = []
    errors: list[str] = []
    for index, row in enumerate(test.timeline):
        line_no = positions.of_value(("timeline", index))[0]
        record: dict[str, Any] = row.model_dump(exclude_none=True, exclude_defaults=True)
        try:
            rows.append(_timed(line_no, record, account.id, Path(path)))
        except Exception as error:  # noqa: BLE001 - every bad row becomes its one line
            errors.append(f"{path}:{line_no}: {error}")
    if errors:
        raise InputError(errors)
    start = resolve_days(rows, date.fromisoformat(account.start), Path(path))
    last = max(
        [r.day or 0 for r in rows]
        + [d for e in (*test.expect, *test.never) for d in e.window() if d is not None]
        + [0]
    )
    return Scenario(
        accounts={account.id: account.all_attributes()},
        rows=rows,
        start=start,
        days=test.days or last + _TAIL_DAYS,
    )


def _check(
    never: bool, e: Expectation, entries: list[Entry], plans: dict[str, Plan]
) -> tuple[str, str, list[str]] | None:
    """None when the timeline meets ``e``; else what was expected, what was found, and the
    lines of the timeline around it."""
    first, last = e.window()
    inside = [
        x for x in entries if (first is None or x.day >= first) and (last is None or x.day <= last)
    ]
    matched = [x for x in inside if _matches(e, x, plans)]
    when = (
        f"on day {first}"
        if first is not None and first == last
        else f"between days {first} and {last}"
        if first is not None
        else "on any day"
    )
    what = _describe(e)
    if never:
        if not matched:
            return None
        return f"never {what} {when}", f"found {len(matched)}:", [_line(x) for x in matched]
    if (e.times is None and matched) or (e.times is not None and len(matched) == e.times):
        return None
    wanted = f"{e.times} x " if e.times is not None else ""
    near = [
        x
        for x in entries
        if (first is None or x.day >= first - _CONTEXT_DAYS)
        and (last is None or x.day <= last + _CONTEXT_DAYS)
    ]
    if near:
        found = f"found {len(matched)}, the timeline there:"
    else:
        # Nothing happened near it: the closest things before and after say where it went.
        before = [x for x in entries if first is not None and x.day < first - _CONTEXT_DAYS]
        after = [x for x in entries if last is not None and x.day > last + _CONTEXT_DAYS]
        near = before[-1:] + after[:1]
        found = f"found {len(matched)}" + (
            ", nothing within 2 days; the nearest:" if near else ", and the timeline is empty"
        )
    shown = [_line(x) for x in near[:_CONTEXT_LINES]]
    if len(near) > _CONTEXT_LINES:
        shown.append(f"... and {len(near) - _CONTEXT_LINES} more (playbook simulate shows all)")
    return f"{wanted}{what} {when}", found, shown


def _describe(e: Expectation) -> str:
    of = f" ({e.playbook})" if e.playbook else ""
    if e.email is not None:
        return f"email {e.email}" + (f" to {e.to}" if e.to else "") + of
    if e.task is not None:
        return f"task for {e.task}" + (f" titled *{e.title}*" if e.title else "") + of
    if e.skipped is not None:
        return f"skipped {e.skipped}" + (f" ({e.reason})" if e.reason else "")
    if e.escalated is not None:
        return f"escalated to tier {e.escalated}{of}"
    if e.step is not None:
        return f"step {e.step} acted{of}"
    return f"{e.what} {getattr(e, e.what)}"


def _line(entry: Entry) -> str:
    return line(entry, with_seen=False)


def _matches(e: Expectation, x: Entry, plans: dict[str, Plan]) -> bool:
    if e.playbook is not None and x.playbook != e.playbook:
        return False
    what = e.what
    if what == "enrolled":
        return x.kind == "enrolled" and x.playbook == e.enrolled
    if what == "skipped":
        return (
            x.kind == "skipped"
            and x.playbook == e.skipped
            and (e.reason is None or e.reason.lower() in x.detail.lower())
        )
    if what == "escalated":
        return x.kind == "escalated" and x.step == f"escalation.tiers.{e.escalated}"
    if what in ("goal", "exit"):
        return x.kind == what and x.playbook == getattr(e, what)
    if what == "ended":
        return x.kind in ("goal", "exit", "end") and x.playbook == e.ended
    if x.kind != "action":
        return False
    if what == "step":
        # An action's record names its step; a start_playbook step, which has no record,
        # shows as the run's decision on steps.ID.
        return x.step in (e.step, f"steps.{e.step}")
    if x.action is None:
        return False
    sender = _sender(plans.get(x.playbook), x.step)
    if what == "email":
        return (
            x.action == "email"
            and _template(sender) == e.email
            and (e.to is None or _reaches(e.to, sender, x))
        )
    assert e.task is not None
    return (
        x.action == "task"
        and _reaches(e.task, sender, x)
        and (e.title is None or e.title.lower() in (x.subject or "").lower())
    )


def _sender(plan: Plan | None, step: str) -> Any:
    """The step node or escalation tier behind an action of the timeline."""
    if plan is None:
        return None
    if step.startswith("escalation.") and plan.escalation is not None:
        tier = step.removeprefix("escalation.")
        return next((t for t in plan.escalation.tiers if t.id == tier), None)
    return plan.nodes.get(step)


def _template(sender: Any) -> str | None:
    if isinstance(sender, EmailNode):
        return sender.template
    if isinstance(sender, TierPlan):
        return sender.template
    return None


def _reaches(who: str, sender: Any, x: Entry) -> bool:
    """Whether the action went to ``who``: an address it reached, or a role it was for."""
    if "@" in who:
        return any(address.removeprefix("cc ") == who for address in x.to)
    if isinstance(sender, EmailNode):
        return who in sender.to or who in sender.cc
    if isinstance(sender, TaskNode):
        return sender.assignee == who
    if isinstance(sender, ApprovalNode):  # an approval request is a task for the approver
        return sender.approver == who
    if isinstance(sender, TierPlan):
        return who in sender.notify
    return False
