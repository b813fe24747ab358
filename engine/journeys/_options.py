"""How journeys call their activities: one timeout and retry policy for every action.

Shared by the run, its ladder and the account's change log, so an email, a task and a
dashboard record are retried alike; kept apart so none of them imports another for it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

ACTION_TIMEOUT = timedelta(minutes=5)
# Actions heartbeat while they work, so a worker that dies mid-action is noticed in seconds,
# not at the five-minute timeout, and the action is retried on another worker.
ACTION_HEARTBEAT = timedelta(seconds=10)
ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=10,
)
