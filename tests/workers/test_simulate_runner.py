"""How the simulation's driver delivers a row: an account it has started gets a plain signal;
one it believes started but whose workflow is not there is started again, as on its first
event, and the row is not lost.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine.client._start import account_workflow_id
from engine.journeys._messages import HealthEvent
from workers.simulate.runner import _deliver


async def test_a_row_for_an_account_whose_workflow_is_gone_starts_it_again(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The driver thinks the account started (it is in ``started``); the signal finds no
    workflow, so the row goes as a signal-with-start and the account is running."""
    account = f"gone-{uuid.uuid4().hex[:8]}"
    started = {account}
    note = await _deliver(skipping_env.client, account, HealthEvent(score=50), timedelta(), started)
    assert note is None
    handle = skipping_env.client.get_workflow_handle(account_workflow_id(account))
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert started == {account}
    await handle.terminate()  # no worker runs it: its pending task would hold the shared clock


async def test_a_first_row_starts_the_account_and_remembers_it(
    skipping_env: WorkflowEnvironment,
) -> None:
    """An account's first row is a signal-with-start; the driver then knows it started."""
    account = f"new-{uuid.uuid4().hex[:8]}"
    started: set[str] = set()
    await _deliver(skipping_env.client, account, HealthEvent(score=50), timedelta(), started)
    assert started == {account}
    await _deliver(skipping_env.client, account, HealthEvent(score=60), timedelta(), started)
    handle = skipping_env.client.get_workflow_handle(account_workflow_id(account))
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in handle.fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["health", "health"]
    await handle.terminate()
