"""A simulation's workflows cancel no timer on the server that could come due while the task
is out (workers.simulate.timers): the time-skipping server strands a task that cancels a
timer which fired while it ran."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner

from tests.workers.sandboxed import CancelsAFiredTimer
from workers.sandbox import workflow_runner
from workers.simulate import timers

# The wait's timer comes due 0.2 s into the 1 s the task that ends the wait is held open.
_TRIGGER, _HOLD, _WAIT = 3600.0, 1.0, 3600.2
_TASK_TIMEOUT = timedelta(seconds=3)


@activity.defn(name="hold")
async def _hold(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def _run(
    env: WorkflowEnvironment,
    runner: WorkflowRunner,
    limit: float,
    timings: tuple[float, float, float] = (_TRIGGER, _HOLD, _WAIT),
) -> str:
    result, _ = await _run_with_history(env, runner, limit, timings)
    return result


async def _run_with_history(
    env: WorkflowEnvironment,
    runner: WorkflowRunner,
    limit: float,
    timings: tuple[float, float, float],
) -> tuple[str, WorkflowHistory]:
    queue = f"timers-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[CancelsAFiredTimer],
        activities=[_hold],
        workflow_runner=runner,
    ):
        handle = await env.client.start_workflow(
            CancelsAFiredTimer.run,
            args=list(timings),
            id=f"timers-{uuid.uuid4()}",
            task_queue=queue,
            task_timeout=_TASK_TIMEOUT,
        )
        result: str = await asyncio.wait_for(handle.result(), limit)
        return result, await handle.fetch_history()


def _sdk_runner(env: WorkflowEnvironment) -> WorkflowRunner:
    return workflow_runner(env.client.data_converter)


def test_the_hook_is_in_this_sdk() -> None:
    """The SDK's instance still cancels timers through the method the runner replaces; if a
    release moves it, this fails rather than simulations stranding again unnoticed."""
    assert timers.supported()


async def test_a_wait_ended_as_its_timer_fires_completes(skipping_env: WorkflowEnvironment) -> None:
    """The task that ends the wait sends no CancelTimer, so the server takes it, and the
    workflow sees its wait met, as on a real server."""
    runner = timers.sandboxed(_sdk_runner(skipping_env))
    assert await _run(skipping_env, runner, limit=30) == "met"


async def test_a_wait_that_times_out_still_times_out(skipping_env: WorkflowEnvironment) -> None:
    """Timers still fire: a wait whose flag comes later than its timeout times out."""
    runner = timers.sandboxed(_sdk_runner(skipping_env))
    result = await _run(skipping_env, runner, limit=30, timings=(7200.0, 0.0, 3600.0))
    assert result == "timed out"


async def test_a_timer_far_from_due_is_cancelled_on_the_server(
    skipping_env: WorkflowEnvironment,
) -> None:
    """A wait ended a day before its deadline cancels its timer on the server as usual (the
    server skips no time while the task is out, so it cannot fire first): no fire, and no
    idle task for one, comes later. The wait that ends as its timer comes due (above) sends
    no cancel."""
    runner = timers.sandboxed(_sdk_runner(skipping_env))
    result, history = await _run_with_history(
        skipping_env, runner, limit=30, timings=(3600.0, 0.0, 86_400.0)
    )
    assert result == "met"
    kinds = [event.event_type for event in history.events]
    assert kinds.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 1
    # The trigger's timer and the last second's fire; the wait's never does.
    assert kinds.count(EventType.EVENT_TYPE_TIMER_FIRED) == 2


async def test_a_timer_near_its_due_moment_is_not_cancelled_on_the_server(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The wait whose timer comes due while the task ending it is out sends no cancel: the
    fire lands on the server and the workflow drops it."""
    runner = timers.sandboxed(_sdk_runner(skipping_env))
    result, history = await _run_with_history(
        skipping_env, runner, limit=30, timings=(_TRIGGER, _HOLD, _WAIT)
    )
    assert result == "met"
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in kinds


async def test_the_stock_runner_is_stranded_by_the_server(
    skipping_env: WorkflowEnvironment,
) -> None:
    """Why the runner exists: with the SDK's own instance the same workflow never completes
    (temporalio/sdk-java#2606), its task neither timed out nor sent again. When a test server
    release fixes it, this fails, and the workaround can go."""
    with pytest.raises(asyncio.TimeoutError):
        await _run(skipping_env, _sdk_runner(skipping_env), limit=3 * _TASK_TIMEOUT.seconds)
