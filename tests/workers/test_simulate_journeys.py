"""Simulations of the shipped playbooks: the real workflows on the time-skipping server.

The scenarios are the example files the README runs, so the documented commands and these
promises stay the same thing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import load
from engine.journeys._catalog import Catalog, build_catalog
from engine.journeys._messages import HealthEvent
from workers.simulate import runner
from workers.simulate.inputs import TimedRow, read_account, read_rows, resolve_days
from workers.simulate.report import Entry, timeline
from workers.simulate.runner import Result, Scenario, run

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "simulate"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    shipped = load([ROOT / "playbooks"])
    return build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]


async def simulate(catalog: Catalog, timeline_file: str, days: int) -> list[Entry]:
    account = read_account(EXAMPLES / "acme.yaml")
    rows = read_rows(EXAMPLES / timeline_file, account.id)
    start = resolve_days(rows, account.start, EXAMPLES / timeline_file)
    scenario = Scenario({account.id: account.attributes}, rows, start, days)
    return timeline(await run(catalog, scenario))


async def test_onboarding_runs_its_day_1_3_7_14_30_plan_with_rendered_emails(
    catalog: Catalog,
) -> None:
    """30 days of the shipped onboarding: each day's actions, subjects and recipients. Day 14
    (2027-01-18) is a US holiday on the company calendar: its customer email waits for the
    next working day's send window, and the tasks after it follow."""
    entries = await simulate(catalog, "onboarding.jsonl", 30)
    actions = [(e.day, e.step) for e in entries if e.playbook == "onboarding" and e.action]
    assert actions == [
        (1, "welcome"),
        (1, "grant-access"),
        (3, "kickoff-call"),
        (3, "initial-training"),
        (7, "check-in-email"),
        (7, "check-in"),
        (15, "offer-working-session"),
        (15, "remove-blockers"),
        (15, "manager-heads-up"),
        (30, "review-invite"),
        (30, "onboarding-review"),
    ]
    welcome = next(e for e in entries if e.step == "welcome")
    assert welcome.subject == "Welcome to the team, Acme: your first 30 days"
    assert welcome.to == ["ops@acme.example", "cc dana@example.com"]
    assert welcome.at.date().isoformat() == "2027-01-05"
    heads_up = next(e for e in entries if e.step == "manager-heads-up")
    assert heads_up.to == ["maria@example.com"]
    timeout = next(e for e in entries if e.kind == "wait_timeout")
    assert (timeout.day, timeout.step) == (14, "steps.first-value")
    assert timeout.seen == {"health.components.outcomes": None, "account.tags": None}
    branch = next(e for e in entries if e.kind == "branch")
    assert (branch.day, branch.detail, branch.seen) == (30, "true", {"health.tier": "healthy"})


async def test_churn_timeline_climbs_the_ladder_takes_the_ack_and_recovers(
    catalog: Catalog,
) -> None:
    """Critical on day 10: CSM, manager after the 2-day SLA, ack that day, recovery on 34
    (to day 50, before the retention offer is asked)."""
    entries = await simulate(catalog, "churn.jsonl", 50)
    churn = [e for e in entries if e.playbook == "churn-prevention"]
    ladder = [
        (e.day, e.kind, e.step)
        for e in churn
        if e.kind in ("escalated", "sla_missed", "acknowledged", "de-escalated")
    ]
    assert ladder == [
        (10, "escalated", "escalation.tiers.csm"),
        (12, "sla_missed", "escalation.tiers.csm"),
        (12, "escalated", "escalation.tiers.manager"),
        (12, "acknowledged", "escalation.tiers.manager"),
        (34, "de-escalated", "escalation.recovery"),
    ]
    enrolled = next(e for e in churn if e.kind == "enrolled")
    assert (enrolled.day, enrolled.seen) == (10, {"health.tier": "critical"})
    csm_email = next(e for e in churn if e.step == "escalation.csm" and e.action == "email")
    assert csm_email.subject == "[At risk] Acme: health 30.0 (critical), action plan needed"
    assert csm_email.to == ["dana@example.com"]
    assert next(e for e in churn if e.kind == "acknowledged").detail == "by maria@example.com"
    assert "escalation.executive" not in {e.step for e in churn}
    closed = [(e.day, e.step) for e in churn if e.kind == "closed"]
    assert closed[0] == (34, "ladder")


async def test_an_account_without_a_contact_fails_the_email_as_production_would(
    catalog: Catalog, tmp_path: Path
) -> None:
    """No contact_email: the welcome email fails with NoRecipient, in the timeline once,
    under its rule."""
    account = tmp_path / "nocontact.yaml"
    account.write_text(
        "id: globex\nsegment: mid-market\nowner: dana@example.com\nname: Globex\n",
        encoding="utf-8",
    )
    who = read_account(account)
    rows = read_rows(EXAMPLES / "onboarding.jsonl", who.id)
    scenario = Scenario({who.id: who.attributes}, rows, resolve_days(rows, None, account), 2)
    entries = timeline(await run(catalog, scenario))
    welcome = [e for e in entries if e.step in ("welcome", "steps.welcome")]
    assert [(e.kind, e.step, e.action) for e in welcome] == [
        ("action_failed", "steps.welcome", "email")
    ]
    assert "nobody to email for customer on account globex" in welcome[0].detail


async def test_nothing_after_the_last_day_is_recorded_however_long_results_take(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renewal's -60-day step falls due at midnight, a second after the last moment of a
    6-day run; the server's clock runs on with the wall clock while results are gathered
    (here slowly, as on a busy machine), and what happens then is not in the result."""
    account = read_account(EXAMPLES / "acme.yaml")
    renewal = account.start + timedelta(days=67)
    attributes = {**account.attributes, "segment": "smb", "renewal_date": renewal.isoformat()}
    rows = [TimedRow(line=1, account=account.id, day=0, on=None, messages=[HealthEvent(score=75)])]

    def renewal_steps(result: Result) -> set[tuple[float, str]]:
        return {
            (round(result.day_of(a.at), 3), a.step)
            for a in result.actions
            if a.playbook == "renewal"
        }

    seven = await run(catalog, Scenario({account.id: attributes}, rows, account.start, 7))
    assert (7.0, "prepare-proposal") in renewal_steps(seven)
    gather = runner._collect

    async def slowly(*args: Any) -> Any:
        await asyncio.sleep(3)
        return await gather(*args)

    monkeypatch.setattr(runner, "_collect", slowly)
    six = await run(catalog, Scenario({account.id: attributes}, rows, account.start, 6))
    # Enrolled 67 days before renewal, so its -90 steps had passed: the CRM webhook runs, the
    # customer's value-review email is skipped (the default catch_up).
    assert {step for _, step in renewal_steps(six)} == {"open-crm-opportunity"}


async def test_an_override_row_is_the_update_people_send_and_a_refusal_is_a_note(
    catalog: Catalog, tmp_path: Path
) -> None:
    """Day 1 sets an override (the account shows it with the model's score, until 00:00 of
    day 5 on its calendar); day 2 clears it; a second clear on day 3 has nothing to clear
    and is a note in the result, not a failure."""
    timeline_file = tmp_path / "timeline.jsonl"
    timeline_file.write_text(
        '{"day": 0, "score": 85}\n'
        '{"day": 1, "override": 40, "reason": "champion left", "until_day": 5, "by": "dana"}\n'
        '{"day": 2, "override": "clear", "by": "dana"}\n'
        '{"day": 3, "override": "clear", "by": "dana"}\n',
        encoding="utf-8",
    )
    account = read_account(EXAMPLES / "acme.yaml")
    rows = read_rows(timeline_file, account.id)
    start = resolve_days(rows, account.start, timeline_file)
    result = await run(catalog, Scenario({account.id: account.attributes}, rows, start, 4))
    status = result.accounts[account.id]
    kinds = [d.kind for d in status.why if d.rule == "account.health.override"]
    assert kinds == ["override", "override_cleared"]
    [set_] = [d for d in status.why if d.kind == "override"]
    assert set_.seen["until"].startswith(f"{start + timedelta(days=5)}T00:00:00")
    assert status.override is None and status.health.score == 85
    assert any(
        "override for acme not taken: no health override in force" in n for n in result.notes
    )
