"""Contact caps across playbooks, on the time-skipping server with the real account and run
workflows: three journeys enrolled together each email the customer at once, under a cap of
two emails per contact per 7 days. The two higher-priority ones go, the third waits for the
first slot to free (7 days) or is dropped, as the policy says, and each deferral or drop is
in the journey's why with the cap and what used it."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._contacts import SETTLE
from engine.journeys._messages import AccountEvent, AttributeChange, Decision, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import Recorder, eventually
from workers.worker import build_worker

CAPS = Path(__file__).parents[2] / "fixtures" / "caps"
ORDER = ["welcome", "renewal-notice", "qbr-invite"]  # by priority, highest first
DAY = timedelta(days=1)


def _set(tmp_path: Path, policy: str | None) -> Path:
    book = tmp_path / "set"
    shutil.copytree(CAPS, book)
    if policy is None:
        (book / "contact.yaml").unlink()
    else:
        text = (book / "contact.yaml").read_text()
        (book / "contact.yaml").write_text(text.replace("when_capped: defer", policy))
    return book


async def _journeys(
    env: WorkflowEnvironment, book: Path, days: int, order: list[str] = ORDER
) -> tuple[dict[str, float], dict[str, list[Decision]]]:
    """Enroll one account in the playbooks of ``order`` together; the day each email went
    (after the signing, each once), and each journey's decisions."""
    client = env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    found = load([book])
    recorder = Recorder()
    async with build_worker(client, queue, recorder.activities()):
        catalog = build_catalog(found.plans(), found.health_plan(), found.contact_plan())  # type: ignore[arg-type]
        await publish(client, catalog, queue)
        contact = {"name": "Acme", "contact_email": "dana@acme.example"}
        await send(client, account, AttributeChange(event_id="a", set=contact), queue)
        signed: datetime = await env.get_current_time()
        await send(client, account, AccountEvent(event_id="s", name="contract.signed"), queue)
        handle = client.get_workflow_handle(account_workflow_id(account))

        async def enrolled() -> AccountStatus | None:
            status: AccountStatus = await handle.query(AccountWorkflow.status)
            return status if set(order) <= set(status.enrollments) else None

        status = await eventually(enrolled, "all three enroll")
        await env.sleep(timedelta(days=days))
        why = await _why(env, status, order)
    sent = {
        playbook: (at - signed) / DAY
        for at, playbook, step, _ in recorder.actions
        if step.endswith("-email")
    }
    assert len(sent) == len([a for a in recorder.actions if a[2].endswith("-email")])
    return sent, why


async def _why(
    env: WorkflowEnvironment, status: AccountStatus, order: list[str]
) -> dict[str, list[Decision]]:
    why = {}
    for name in order:
        run = env.client.get_workflow_handle(status.enrollments[name].workflow_id)
        run_status: RunStatus = await run.query(PlaybookRunWorkflow.status)
        why[name] = run_status.why
    return why


async def test_over_the_cap_the_lowest_priority_waits_for_a_slot(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    sent, why = await _journeys(skipping_env, _set(tmp_path, "when_capped: defer"), days=10)
    assert sorted(sent, key=sent.__getitem__) == ORDER
    assert sent["welcome"] < 0.01 and sent["renewal-notice"] < 0.01
    assert 7 <= sent["qbr-invite"] < 7.01  # when the first email leaves the 7-day window
    [deferred] = [d for d in why["qbr-invite"] if d.kind == "contact_deferred"]
    assert deferred.rule == "steps.qbr-invite-email.contact"
    assert deferred.seen == {"contacts": ["dana@acme.example"], "policy": "two-a-week"}
    assert deferred.detail == (
        "dana@acme.example had 2 of 2 emails per 7d (from welcome, renewal-notice)"
    )
    for name in ("welcome", "renewal-notice"):
        assert not [d for d in why[name] if d.kind.startswith("contact_")]


async def test_with_drop_the_message_over_the_cap_is_not_sent(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    sent, why = await _journeys(skipping_env, _set(tmp_path, "when_capped: drop"), days=10)
    assert sorted(sent) == ["renewal-notice", "welcome"]
    [dropped] = [d for d in why["qbr-invite"] if d.kind == "contact_dropped"]
    assert dropped.detail.startswith("dana@acme.example had 2 of 2 emails per 7d")
    assert not [d for d in why["qbr-invite"] if d.kind == "action"]


async def test_without_a_policy_everything_goes_at_once(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    sent, why = await _journeys(skipping_env, _set(tmp_path, None), days=2)
    assert sorted(sent) == sorted(ORDER) and max(sent.values()) < 0.01
    assert not [d for ds in why.values() for d in ds if d.kind.startswith("contact_")]


@pytest.mark.parametrize("exempt", ["qbr-invite"])
async def test_an_exempt_playbook_neither_waits_nor_counts(
    skipping_env: WorkflowEnvironment, tmp_path: Path, exempt: str
) -> None:
    book = _set(tmp_path, f"when_capped: defer\nexempt: [{exempt}]")
    sent, _ = await _journeys(skipping_env, book, days=2)
    assert sorted(sent) == sorted(ORDER) and max(sent.values()) < 0.01


async def test_priority_picks_among_requests_of_the_same_moment(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The highest-priority journey asks a second after the others (its email follows a
    1-second wait): it still goes first, since the account decides requests of the same
    moment together, and the lowest-priority one waits."""
    book = _set(tmp_path, "when_capped: defer")
    welcome = book / "welcome.yaml"
    welcome.write_text(
        welcome.read_text().replace("steps:\n", "steps:\n  - {id: breath, type: wait, for: 1s}\n")
    )
    sent, _ = await _journeys(skipping_env, book, days=10)
    assert sent["welcome"] < 0.01 and sent["renewal-notice"] < 0.01
    assert 7 <= sent["qbr-invite"] < 7.01


async def test_requests_that_cannot_contend_are_decided_at_once(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Two journeys under a cap of three a week: whatever each asks next fits too, so
    neither waits the settle for a higher-priority rival; each email goes the moment it is
    asked for (on this clock, within a second of the signing, where the settle is 2 s)."""
    book = _set(tmp_path, "when_capped: defer")
    policy = book / "contact.yaml"
    policy.write_text(policy.read_text().replace("max: 2,", "max: 3,"))
    (book / "qbr-invite.yaml").unlink()
    pair = ["welcome", "renewal-notice"]
    sent, why = await _journeys(skipping_env, book, days=2, order=pair)
    assert sorted(sent) == sorted(pair)
    assert max(sent.values()) * DAY < SETTLE
    assert not [d for ds in why.values() for d in ds if d.kind.startswith("contact_")]


async def test_three_journeys_over_a_cap_of_two_still_settle(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The neighbouring case: with three journeys running, a cap of two can bind, so the
    first emails wait the settle (priority picks) before going."""
    sent, _ = await _journeys(skipping_env, _set(tmp_path, "when_capped: defer"), days=10)
    assert SETTLE <= sent["welcome"] * DAY < 2 * SETTLE
    assert SETTLE <= sent["renewal-notice"] * DAY < 2 * SETTLE


async def test_two_journeys_under_a_cap_of_two_settle_the_second(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Under a cap of two, once the first of two journeys sent, the other and a second email
    of the first could want the last slot: a request that comes after the first send settles
    before it goes. (Two requests the account hears in one task both fit and go at once.)"""
    book = _set(tmp_path, "when_capped: defer")
    (book / "qbr-invite.yaml").unlink()
    pair = ["welcome", "renewal-notice"]
    sent, _ = await _journeys(skipping_env, book, days=2, order=pair)
    first, second = sorted(sent.values())
    assert first * DAY < SETTLE and second * DAY < 2 * SETTLE
    together = second - first < 0.1 / 86400  # heard in the same account task
    assert together or second * DAY >= SETTLE
