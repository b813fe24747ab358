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
# No attempt limit: an outage of any length must end in delivery, and only a permanent
# refusal (a non-retryable error) fails a step. The pause after a failure the activity reports
# comes from the worker's settings (workers.backoff, next_retry_delay); this one applies when
# the activity could not say (a worker that died mid-action, a timeout).
#
# Not behind workflow.patched: a command's retry policy is not part of what replay compares
# (only the activity's id and type are), so running journeys take the new policy for every
# action they schedule from now on, which is the point; tests/histories replays that.
ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
)
