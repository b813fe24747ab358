"""Plans by content hash, held in the worker process's memory for the accounts that enroll.

A plan's hash names its content, so a plan taken from here is the same on every worker that
holds it. An account that enrolls takes its plan from here by the hash in its catalog index
instead of asking for it through the ``resolve_plan`` local activity, which cost every
enrollment a second activation of the account's task and the whole plan in its history as
the activity's result (the plan still travels in the run's input: the run's own history is
where it is kept for good).

Held: every plan of each catalog the worker's catalog activities read (workers.catalog);
a simulation's worker reads its one catalog at once. A worker that does not hold a plan (it
started after the publish, say) asks its loader, which reads the published catalog, and
waits for it at most :data:`WAIT`, well inside the SDK's two-second deadlock limit on an
activation. One that still does not hold it raises :class:`PlanNotHeld`: the workflow task
fails, Temporal retries it, and nothing is decided meanwhile. Taking another path instead (a
local activity) would not replay, since whether a worker held a plan is in no history.

Replaying, an account needs none of this: what it keeps of the plan is in the index
(EntrySummary.windows and reads), and the start of the run it replays is matched by its
workflow id and type, not by its input.

This module is passed through the workflow sandbox, so every workflow instance of the
process shares one cache; it does no I/O itself (the loader is the worker's).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future

from engine.language._plan import Plan

KEPT = 512
"""Plans held at most, the least recently used forgotten first: versions of a set's
playbooks over many publishes, each a few kilobytes."""
WAIT = 1.0
"""Seconds an activation waits for its loader to bring a plan it does not hold."""

Loader = Callable[[str], "Future[object]"]
"""Reads plans into this cache (through :func:`keep`); given the hash wanted, it returns a
future that is done once it has read."""

_held: OrderedDict[str, Plan] = OrderedDict()
_loaders: dict[str, Loader] = {}
_lock = threading.Lock()


class PlanNotHeld(RuntimeError):
    """Raised in a workflow task that needs a plan this worker does not hold and could not
    load: the task fails and Temporal retries it."""


def keep(plans: Iterable[Plan]) -> None:
    """Hold ``plans`` (by their hashes)."""
    with _lock:
        for plan in plans:
            _held[plan.hash] = plan
            _held.move_to_end(plan.hash)
        while len(_held) > KEPT:
            _held.popitem(last=False)


def held(plan_hash: str) -> Plan | None:
    """The plan whose hash is ``plan_hash``, if this process holds it."""
    with _lock:
        plan = _held.get(plan_hash)
        if plan is not None:
            _held.move_to_end(plan_hash)
        return plan


def forget() -> None:
    """Hold nothing (a worker that just started; for tests)."""
    with _lock:
        _held.clear()


def set_loader(task_queue: str, loader: Loader | None) -> None:
    """Plans wanted by workflows of ``task_queue`` are loaded by ``loader`` (the last worker
    built for the queue in this process; None: no loader)."""
    with _lock:
        if loader is None:
            _loaders.pop(task_queue, None)
        else:
            _loaders[task_queue] = loader


def need(plan_hash: str, task_queue: str) -> Plan:
    """The plan ``plan_hash``, loaded if need be; :class:`PlanNotHeld` when it cannot be."""
    plan = held(plan_hash)
    if plan is not None:
        return plan
    with _lock:
        loader = _loaders.get(task_queue)
    if loader is not None:
        # Slow or failed alike: without the plan the task fails below.
        with contextlib.suppress(Exception):
            loader(plan_hash).result(timeout=WAIT)
        plan = held(plan_hash)
        if plan is not None:
            return plan
    raise PlanNotHeld(
        f"plan {plan_hash} is not in this worker's memory and could not be read from the"
        " published catalog yet (published after the account's catalog index was read?);"
        " the workflow task is retried"
    )
