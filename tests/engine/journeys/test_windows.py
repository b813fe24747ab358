"""Send windows, business days and time zones, on the real time-skipping server.

Each run is put on a chosen date (the clock offset a simulation uses, engine.journeys._clock),
so a Saturday is a Saturday and a holiday a holiday; every action's moment is the server's
time plus that offset.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import PlaybookSet, load
from engine.journeys._clock import memo_for
from engine.journeys._messages import RunInput, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from tests.support import Recorder

FIXTURES = Path(__file__).parents[2] / "fixtures" / "windows"
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def windows() -> PlaybookSet:
    return load([FIXTURES])


async def run_on(
    env: WorkflowEnvironment,
    playbooks: PlaybookSet,
    playbook: str,
    enrolled: datetime,
    account: dict[str, Any],
) -> tuple[list[tuple[datetime, str]], RunStatus]:
    """Run ``playbook`` for an account enrolled at ``enrolled`` (its own calendar date), to
    its end; each action with the moment it happened on that calendar, and the last status."""
    recorder = Recorder()
    queue = f"q-{uuid.uuid4()}"
    # Whole seconds, rounded up, as the memo keeps them: the run starts at ``enrolled``.
    offset = timedelta(seconds=math.ceil((enrolled - await env.get_current_time()).total_seconds()))
    run_input = RunInput(
        plan=playbooks.plan(playbook),
        account_id="acct",
        cycle=1,
        enrolled_at=enrolled,
        facts=Facts(now=enrolled, health=Health(score=70, tier="good"), account=account),
    )
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        handle = await env.client.start_workflow(
            PlaybookRunWorkflow.run,
            run_input,
            id=f"playbook/{playbook}/acct/1",
            task_queue=queue,
            memo=memo_for(offset),
        )
        await handle.result()
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    # The server's clock has a sub-second part the offset does not carry.
    actions = [((at + offset).replace(microsecond=0), step) for at, _, step, _ in recorder.actions]
    return actions, status


async def test_day_3_email_on_a_saturday_in_tokyo_waits_for_monday_0900_local(
    skipping_env: WorkflowEnvironment, windows: PlaybookSet
) -> None:
    """Enrolled Wednesday 14:00 in Tokyo, the day-3 email falls on Saturday: it goes Monday
    09:00 Tokyo time, the deferral is in why, and the internal task after it is not held."""
    enrolled = datetime(2027, 3, 3, 14, 0, tzinfo=TOKYO).astimezone(UTC)
    actions, status = await run_on(
        skipping_env,
        windows,
        "cadence",
        enrolled,
        {"name": "Kaisha", "segment": "enterprise", "timezone": "Asia/Tokyo"},
    )
    local = [(at.astimezone(TOKYO), step) for at, step in actions]
    assert local[0] == (datetime(2027, 3, 8, 9, 0, tzinfo=TOKYO), "day-3-email")
    assert local[1] == (datetime(2027, 3, 8, 9, 0, tzinfo=TOKYO), "internal-note")
    deferred = [d for d in status.why if d.kind == "deferred"]
    assert [d.rule for d in deferred] == ["steps.day-3-email.send_window"]
    assert deferred[0].seen == {
        "window": "weekdays 09:00-17:00",
        "zone": "Asia/Tokyo",
        "local time": "2027-03-06 14:00 Sat",
    }
    assert "2027-03-08 09:00 Asia/Tokyo" in deferred[0].detail


async def test_a_2bd_wait_skips_a_public_holiday_of_the_accounts_calendar(
    skipping_env: WorkflowEnvironment, windows: PlaybookSet
) -> None:
    """From Friday 2027-03-19 10:00 in Tokyo, 2bd skips the weekend and Monday's substitute
    holiday (Vernal Equinox fell on Sunday): Wednesday 10:00, where a US account gets Tuesday."""
    enrolled = datetime(2027, 3, 16, 10, 0, tzinfo=TOKYO).astimezone(UTC)
    actions, _ = await run_on(
        skipping_env, windows, "cadence", enrolled, {"name": "Kaisha", "calendar": "japan"}
    )
    steps = {step: at.astimezone(TOKYO) for at, step in actions}
    assert steps["day-3-email"] == datetime(2027, 3, 19, 10, 0, tzinfo=TOKYO)
    assert steps["follow-up"] == datetime(2027, 3, 24, 10, 0, tzinfo=TOKYO)


async def test_a_2bd_wait_on_a_calendar_without_that_holiday_counts_monday(
    skipping_env: WorkflowEnvironment, windows: PlaybookSet
) -> None:
    """The same days on the US calendar (the set's default): Monday 2027-03-22 works."""
    enrolled = datetime(2027, 3, 16, 10, 0, tzinfo=NEW_YORK).astimezone(UTC)
    actions, _ = await run_on(skipping_env, windows, "cadence", enrolled, {"name": "Initech"})
    steps = {step: at.astimezone(NEW_YORK) for at, step in actions}
    assert steps["follow-up"] == datetime(2027, 3, 23, 10, 0, tzinfo=NEW_YORK)


async def test_the_dst_change_does_not_move_a_0900_window(
    skipping_env: WorkflowEnvironment, windows: PlaybookSet
) -> None:
    """Daily emails in New York across the spring change (2027-03-14) all go at 09:00 local
    time: 14:00 UTC before it, 13:00 UTC after; the one a 24-hour wait brings to 10:00 EDT is
    held to the next morning's window."""
    enrolled = datetime(2027, 3, 12, 8, 0, tzinfo=NEW_YORK).astimezone(UTC)
    actions, status = await run_on(
        skipping_env,
        windows,
        "daily",
        enrolled,
        {"name": "Initech", "timezone": "America/New_York"},
    )
    assert [at for at, _ in actions] == [
        datetime(2027, 3, 12, 14, 0, tzinfo=UTC),
        datetime(2027, 3, 13, 14, 0, tzinfo=UTC),
        datetime(2027, 3, 15, 13, 0, tzinfo=UTC),
        datetime(2027, 3, 16, 13, 0, tzinfo=UTC),
    ]
    assert {at.astimezone(NEW_YORK).strftime("%H:%M") for at, _ in actions} == {"09:00"}
    deferred = [d.seen["local time"] for d in status.why if d.kind == "deferred"]
    assert deferred == ["2027-03-12 08:00 Fri", "2027-03-14 10:00 Sun"]
