"""A run whose steps end stands its ladder down there, after engaging the tier its last
steps asked for (engine.journeys._run_patches.LADDER_STOPS).

Before, the run cancelled the ladder as the steps ended; when that cancel landed as the
ladder's own wait came true (an escalate step just before an end), Python 3.11's
``asyncio.wait_for`` could swallow it, and the ladder engaged the tier and climbed on,
keeping the run open until something else ended it, for good if nothing did. Real workflows
on the time-skipping server, through the simulation.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine import load
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, HealthEvent
from workers.simulate.inputs import TimedRow
from workers.simulate.runner import Scenario, run

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "ladder_stops"
ACCOUNT = {"name": "Acme", "csm": "dana@example.com", "manager": "maria@example.com"}


async def test_a_run_that_asks_its_ladder_and_ends_engages_that_tier_and_ends_there() -> None:
    """handover asks for its manager tier and ends in one task, a week in: the manager is
    engaged, the ladder stands down and the run ends that day, and nothing happens after
    (no climb past the manager's two-day SLA, no run left open)."""
    book = load([PLAYBOOKS])
    catalog = build_catalog(book.plans(), book.health_plan())  # type: ignore[arg-type]
    messages = [AccountEvent(name="contract.signed"), HealthEvent(score=50)]
    rows = [TimedRow(line=1, account="acme", day=0, on=None, messages=messages)]
    result = await run(catalog, Scenario({"acme": ACCOUNT}, rows, date(2027, 1, 4), 40))
    [status] = result.runs.values()
    assert status.result is not None and status.result.ended_by == "end"
    ended = next(d for d in status.why if d.kind == "end")
    assert round(result.day_of(ended.at)) == 7
    # From the moment it ended (the hand-over step's request is of the same instant).
    after = [(d.kind, d.rule) for d in status.why if d.at >= ended.at]
    assert after == [
        ("escalation_requested", "steps.hand-over"),
        ("end", "steps.handed"),
        ("escalated", "escalation.tiers.manager"),
        ("action", "escalation.tiers.manager.task"),
        ("stood_down", "escalation"),
    ]
    assert [(round(result.day_of(a.at)), a.step) for a in result.actions] == [
        (0, "escalation.csm"),
        (7, "escalation.manager"),
    ]
