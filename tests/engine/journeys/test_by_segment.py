"""Values by segment in running journeys, on the real time-skipping server: an ack SLA, a
wait and a threshold each read the account's segment (enterprise climbs after 4h, others
after 1d), and a missing or unknown segment takes the default."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys._evaluate import Verdict, evaluate
from engine.journeys._messages import RunInput, RunResult, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health, Sample
from engine.language._plan import ChangePlan, ComparePlan, Plan
from tests.support import Recorder

FIXTURES = Path(__file__).parents[2] / "fixtures"

LADDER = """\
kind: Playbook
name: save
version: 1
description: Enterprise gets four hours to acknowledge, everyone else a day.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
steps:
  - {id: hold, type: wait, for: {enterprise: 2d, default: 10d}}
  - {id: after, type: task, title: Held, assignee: csm, due: 1d}
escalation:
  when: {field: health.score, lt: {enterprise: 70, default: 50}}
  tiers:
    - id: csm
      notify: [csm]
      via: [task]
      title: Save plan
      ack_sla: {enterprise: 4h, default: 1d}
    - {id: manager, notify: [manager], via: [task], title: Manager save plan}
"""


@asynccontextmanager
async def _worker(env: WorkflowEnvironment, recorder: Recorder) -> AsyncIterator[str]:
    queue = f"q-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        yield queue


APPROVAL = """\
kind: Playbook
name: save
version: 1
description: Enterprise approvals close after a day, everyone else's after five.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
steps:
  - id: discount
    type: approval
    title: Approve a 15% discount
    approver: manager
    timeout: {enterprise: 1d, default: 5d}
"""


def _plan(tmp_path: Path, text: str = LADDER) -> Plan:
    (tmp_path / "playbook.yaml").write_text(text)
    (tmp_path / "health.yaml").write_text((FIXTURES / "ladder" / "health.yaml").read_text())
    [plan] = load([tmp_path]).plans()
    return plan


async def _run(
    env: WorkflowEnvironment,
    tmp_path: Path,
    segment: Any,
    score: float,
    hours: float,
    text: str = LADDER,
) -> RunStatus:
    """A run of the account at ``score``, ``hours`` later."""
    recorder = Recorder()
    start = await env.get_current_time()
    account = {} if segment is None else {"segment": segment}
    facts = Facts(now=start, health=Health(score=score), account=account)
    async with _worker(env, recorder) as queue:
        handle = await env.client.start_workflow(
            PlaybookRunWorkflow.run,
            RunInput(
                plan=_plan(tmp_path, text),
                account_id="acme",
                cycle=1,
                enrolled_at=start,
                facts=facts,
            ),
            id=f"playbook/save/acme/{queue}",
            task_queue=queue,
            result_type=RunResult,
        )
        await env.sleep(timedelta(hours=hours))
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        with contextlib.suppress(RPCError):  # a run that ended on its own
            await handle.terminate()
    return status


async def test_an_enterprise_account_climbs_after_four_hours(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """ack_sla {enterprise: 4h, default: 1d}: unacknowledged for 5 hours, enterprise is at
    the manager, the SLA missed recorded with the 4 hours it had."""
    status = await _run(skipping_env, tmp_path, "enterprise", 40, 5)
    assert status.escalation_tier == "manager"
    [missed] = [d for d in status.why if d.kind == "sla_missed"]
    assert missed.detail == "no acknowledgement within 14400s"


@pytest.mark.parametrize("segment", ["smb", None, "no-such-segment", ["enterprise"]])
async def test_other_segments_climb_after_the_default_day(
    skipping_env: WorkflowEnvironment, tmp_path: Path, segment: Any
) -> None:
    """smb, no segment, a segment the mapping does not name, and a value that is not a
    name all take the default: still at the CSM after 5 hours, at the manager after 25."""
    early = await _run(skipping_env, tmp_path, segment, 40, 5)
    assert early.escalation_tier == "csm"
    late = await _run(skipping_env, tmp_path, segment, 40, 25)
    assert late.escalation_tier == "manager"


async def test_a_threshold_by_segment_reads_the_accounts_segment(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """health.score lt {enterprise: 70, default: 50}: 60 engages the ladder of an enterprise
    account, not of an smb one."""
    enterprise = await _run(skipping_env, tmp_path, "enterprise", 60, 1)
    assert enterprise.escalation_tier == "csm"
    smb = await _run(skipping_env, tmp_path, "smb", 60, 1)
    assert smb.escalation_tier is None


async def test_a_wait_by_segment_waits_the_segments_time(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """for {enterprise: 2d, default: 10d}: after 3 days enterprise has passed the wait,
    smb still waits."""
    enterprise = await _run(skipping_env, tmp_path, "enterprise", 90, 72)
    smb = await _run(skipping_env, tmp_path, "smb", 90, 72)
    assert [d.rule for d in enterprise.why if d.kind == "end"] == ["steps"]
    assert smb.step == "hold" and not [d for d in smb.why if d.kind == "end"]


def test_a_threshold_by_segment_records_the_segment_it_read() -> None:
    """The values a rule saw include the segment that chose its threshold."""
    condition = ComparePlan(field="health.score", op="lt", value=50, by_segment={"smb": 30})
    facts = Facts(now=datetime(2027, 1, 4, tzinfo=UTC), health=Health(score=40))
    smb = facts.model_copy(update={"account": {"segment": "smb"}})
    assert evaluate(condition, facts) == Verdict(
        True, {"health.score": 40, "account.segment": None}
    )
    assert evaluate(condition, smb) == Verdict(
        False, {"health.score": 40, "account.segment": "smb"}
    )


def test_a_change_bound_by_segment_reads_the_accounts_segment() -> None:
    """{change: health.score, over: 14d, lte: {enterprise: -10, default: -15}}: a 12-point
    drop is news for enterprise, not for smb."""
    condition = ChangePlan(
        field="health.score",
        window_seconds=14 * 86_400,
        op="lte",
        value=-15,
        by_segment={"enterprise": -10},
    )
    now = datetime(2027, 1, 20, tzinfo=UTC)
    history = {"health.score": [Sample(at=int(now.timestamp()) - 15 * 86_400, value=72)]}
    facts = Facts(now=now, health=Health(score=60), history=history)
    enterprise = facts.model_copy(update={"account": {"segment": "enterprise"}})
    smb = facts.model_copy(update={"account": {"segment": "smb"}})
    assert evaluate(condition, enterprise).result is True
    assert evaluate(condition, smb).result is False
    assert evaluate(condition, smb).seen["account.segment"] == "smb"


async def test_an_approval_by_segment_stays_open_for_the_segments_time(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """timeout {enterprise: 1d, default: 5d}: after 30 hours an enterprise request has timed
    out, an smb one is still open."""
    enterprise = await _run(skipping_env, tmp_path, "enterprise", 90, 30, APPROVAL)
    smb = await _run(skipping_env, tmp_path, "smb", 90, 30, APPROVAL)
    assert [d.kind for d in enterprise.why if d.kind == "approval_timeout"] == ["approval_timeout"]
    assert not [d for d in smb.why if d.kind == "approval_timeout"]
