"""Full garbage collections paced by the workflows a worker lets go.

A cached workflow's sandbox (its own copy of the workflow's modules, about 0.25 MiB) is a web
of reference cycles, so when the worker drops it (its cache is full, or the run is done) only a
full collection frees it. ``workers.worker.tune_gc`` makes Python's own full collections rare,
because a worker's heap is mostly its cache and each one walks all of it; then the dropped
sandboxes piled up: ``playbook worker`` grew about 250 KB per account enrolled once its cache
was full, 1.7 GiB at 10,000 accounts in bench.scale, while a full collection every 500 accounts
held it flat. So the worker's sandbox (``workers.sandbox``) reports each eviction here, and
every so many evictions a full collection runs: what waits to be freed stays a bounded share of
what the cache holds, and the cost of a collection, which grows with the cache, is spread over
as many evictions as the cache is large.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

MIN_EVICTIONS = 100
"""The fewest evictions between two full collections, however small the cache."""


class _Pacer:
    """Counts evictions; runs a full collection at every ``every``-th (never, when off)."""

    def __init__(self) -> None:
        self._every = 0
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def pace(self, every: int, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._lock:
            self._every, self._count, self._loop = every, 0, loop
        # Heard on every collection, young ones too: only while pacing.
        if every and self._collected not in gc.callbacks:
            gc.callbacks.append(self._collected)
        elif not every and self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)

    def evicted(self) -> None:
        with self._lock:
            if not self._every:
                return
            self._count += 1
            if self._count < self._every:
                return
            self._count = 0
            loop = self._loop
        # Evictions run on the SDK's workflow threads, each against the deadlock timeout; the
        # collection goes to the worker's event loop instead, outside any activation's clock.
        try:
            if loop is not None:
                loop.call_soon_threadsafe(gc.collect)
                return
        except RuntimeError:  # the loop closed: nothing else runs now
            pass
        gc.collect()

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        # Any full collection, Python's own included, frees what was evicted before it.
        if phase == "stop" and info["generation"] == 2:
            self._count = 0


_PACER = _Pacer()


def evicted() -> None:
    """One cached workflow dropped: called by the sandbox once its eviction has run."""
    _PACER.evicted()


def pace(cached_workflows: int, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """A full collection after every quarter of ``cached_workflows`` evictions (at least
    :data:`MIN_EVICTIONS`), run on ``loop`` when given (the worker's)."""
    _PACER.pace(max(MIN_EVICTIONS, cached_workflows // 4), loop)


def stop_pacing() -> None:
    """Evictions no longer lead to collections (the default)."""
    _PACER.pace(0, None)
