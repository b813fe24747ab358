"""Late enrollment in a date-anchored playbook, on the real time-skipping server: passed
steps do not flood the customer, every skip is in `why`, and the playbook (or a step) can
ask for the old behaviour."""

from __future__ import annotations

import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys._messages import RunInput, RunResult, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts
from tests.support import Recorder

FIXTURES = Path(__file__).parents[2] / "fixtures"

RENEWAL = """\
kind: Playbook
name: renewal-late
version: 1
description: The renewal timeline, -90/-60/-30 days and the day itself.
owner: cs-ops@example.com
stage: renew
entry: {event: contract.signed}
{catch_up}
steps:
  - {id: wait-90, type: wait, until: renewal_date - 90d}
  - {id: review-email, type: email, template: welcome, to: [customer]}
  - {id: review-task, type: task, title: Prepare the review, assignee: csm, due: 7d}
  - {id: wait-60, type: wait, until: renewal_date - 60d}
  - {id: contract-email, type: email, template: welcome, to: [csm], cc: [sponsor]}
  - {id: wait-30, type: wait, until: renewal_date - 30d}
  - {id: outreach-email, type: email, template: welcome, to: [customer]{outreach}}
  - {id: outreach-task, type: task, title: Call about the renewal, assignee: csm, due: 2d}
  - {id: wait-0, type: wait, until: renewal_date}
  - {id: renewal-day, type: task, title: Confirm the renewal, assignee: csm, due: 1d}
roles:
  sponsor: The customer's executive sponsor
"""


async def _late_run(
    env: WorkflowEnvironment,
    tmp_path: Path,
    days_to_renewal: int,
    catch_up: str = "",
    outreach: str = "",
    move: tuple[int, int] | None = None,
) -> tuple[list[tuple[int, str]], RunStatus, date]:
    """Enroll ``days_to_renewal`` days before the renewal (on ``move = (day, days)``, move
    it to ``days`` after enrollment); the actions by calendar day since enrollment, the
    status and the renewal date."""
    shutil.copytree(FIXTURES / "ladder" / "templates", tmp_path / "templates")
    shutil.copy(FIXTURES / "ladder" / "health.yaml", tmp_path / "health.yaml")
    text = RENEWAL.replace("{catch_up}", catch_up).replace("{outreach}", outreach)
    (tmp_path / "renewal.yaml").write_text(text)
    plan = load([tmp_path]).plan("renewal-late")
    recorder = Recorder()
    queue = f"q-{uuid.uuid4()}"
    start = await env.get_current_time()
    renewal = (start + timedelta(days=days_to_renewal)).date()
    facts = Facts(now=start, account={"renewal_date": renewal.isoformat(), "name": "Acme"})
    run_input = RunInput(plan=plan, account_id="acme", cycle=1, enrolled_at=start, facts=facts)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        handle = await env.client.start_workflow(
            PlaybookRunWorkflow.run,
            run_input,
            id=f"playbook/renewal-late/{queue}",
            task_queue=queue,
            result_type=RunResult,
        )
        if move is not None:
            await env.sleep(timedelta(days=move[0]))
            renewal = (start + timedelta(days=move[1])).date()
            now = await env.get_current_time()
            moved = facts.model_copy(update={"now": now, "account": {"renewal_date": str(renewal)}})
            await handle.signal(PlaybookRunWorkflow.update, moved)
        await handle.result()
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    days = [((at.date() - start.date()).days, step) for at, _, step, _ in recorder.actions]
    return days, status, renewal


def _skipped(status: RunStatus) -> list[tuple[str, str]]:
    return [(d.rule, d.seen["date"]) for d in status.why if d.rule.endswith(".catch_up")]


async def test_a_late_enrollment_skips_passed_customer_emails_by_default(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Enrolled 20 days before renewal: the -90 and -30 customer emails and the -60 email
    copied to a declared role are skipped and recorded with their dates; the team's tasks
    for those dates are filed now; the renewal-day task comes on its day."""
    days, status, renewal = await _late_run(skipping_env, tmp_path, 20)
    assert days == [(0, "review-task"), (0, "outreach-task"), (20, "renewal-day")]
    assert _skipped(status) == [
        ("steps.review-email.catch_up", (renewal - timedelta(days=90)).isoformat()),
        ("steps.contract-email.catch_up", (renewal - timedelta(days=60)).isoformat()),
        ("steps.outreach-email.catch_up", (renewal - timedelta(days=30)).isoformat()),
    ]
    detail = next(d.detail for d in status.why if d.rule == "steps.review-email.catch_up")
    assert detail == "its date had passed when the journey reached it (catch_up: skip-customer)"


async def test_catch_up_run_sends_every_passed_step(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`catch_up: run` asks for every passed step at enrollment, as before catch-up existed."""
    days, status, _ = await _late_run(skipping_env, tmp_path, 20, "catch_up: run")
    assert [step for day, step in days if day == 0] == [
        "review-email",
        "review-task",
        "contract-email",
        "outreach-email",
        "outreach-task",
    ]
    assert _skipped(status) == []


async def test_catch_up_skip_skips_every_passed_action(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`catch_up: skip` files nothing for passed dates; what is still ahead happens."""
    days, status, _ = await _late_run(skipping_env, tmp_path, 20, "catch_up: skip")
    assert days == [(20, "renewal-day")]
    assert len(_skipped(status)) == 5


async def test_a_step_can_ask_to_run_when_passed(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A step's own `catch_up: run` sends that one email; the other passed ones stay skipped."""
    days, status, _ = await _late_run(skipping_env, tmp_path, 20, outreach=", catch_up: run")
    assert [step for day, step in days if day == 0] == [
        "review-task",
        "outreach-email",
        "outreach-task",
    ]
    assert [rule for rule, _ in _skipped(status)] == [
        "steps.review-email.catch_up",
        "steps.contract-email.catch_up",
    ]


@pytest.mark.parametrize("days_to_renewal", [90, 100])
async def test_a_date_reached_on_its_day_or_ahead_is_on_time(
    skipping_env: WorkflowEnvironment, tmp_path: Path, days_to_renewal: int
) -> None:
    """Enrolled on the -90 day itself (or before it): nothing is passed, every step runs on
    its date."""
    days, status, _ = await _late_run(skipping_env, tmp_path, days_to_renewal)
    first = days_to_renewal - 90
    assert days == [
        (first, "review-email"),
        (first, "review-task"),
        (first + 30, "contract-email"),
        (first + 60, "outreach-email"),
        (first + 60, "outreach-task"),
        (days_to_renewal, "renewal-day"),
    ]
    assert _skipped(status) == []


async def test_a_renewal_date_moved_earlier_does_not_flood_either(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Enrolled 100 days out, the -90 steps on day 10; on day 12 the renewal moves to day 61:
    the -60 email (now behind) is skipped, the -30 and renewal-day steps come on their days."""
    days, status, _ = await _late_run(skipping_env, tmp_path, 100, move=(12, 61))
    assert days == [
        (10, "review-email"),
        (10, "review-task"),
        (31, "outreach-email"),
        (31, "outreach-task"),
        (61, "renewal-day"),
    ]
    assert [rule for rule, _ in _skipped(status)] == ["steps.contract-email.catch_up"]
