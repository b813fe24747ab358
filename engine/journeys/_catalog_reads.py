"""When an account reads the published catalog's index, and the read itself.

The account (engine.journeys._account) reads the index of the published set (which
playbooks, their entries and what their runs read: engine.journeys._catalog) as each of its
runs starts and when a publish is announced to it (the catalog workflow signals every
account, QUIET_READINGS); accounts from before announcements read it on their events, at
most every five minutes. A simulation's set never changes, so it is read once. Runs inside
the workflow, so it is deterministic: the read is a local activity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    from engine.journeys._account_state import AccountState
    from engine.journeys._catalog import CatalogIndex, IndexRequest

_LOCAL = timedelta(seconds=10)
_CATALOG_TTL = timedelta(minutes=5)


class CatalogReads:
    """The catalog reads of one account workflow."""

    def __init__(self, state: Callable[[], AccountState]) -> None:
        self._state = state
        self.announced: str | None = None
        """The hash of a publish announced since the account last read the catalog."""
        self.pushed = False
        """workflow.patched(QUIET_READINGS): the catalog is read when a publish is announced."""

    async def refresh(self, force: bool = False) -> None:
        """Read the index when it may have changed (or with ``force``); keep a newer one."""
        state = self._state()
        now = _clock.now()
        if not force and state.catalog is not None and state.catalog.simulation:
            return
        known = state.catalog.hash if state.catalog else None
        announced, self.announced = self.announced, None
        if not force and announced in (None, known):
            if self.pushed:
                return
            if state.catalog_checked_at and now - state.catalog_checked_at < _CATALOG_TTL:
                return
        index: CatalogIndex | None = await workflow.execute_local_activity(
            "catalog_index",
            IndexRequest(known_hash=known, announced_hash=announced),
            summary="catalog: is a newer set published?",
            result_type=CatalogIndex | None,  # type: ignore[arg-type]
            start_to_close_timeout=_LOCAL,
        )
        state.catalog_checked_at = now
        if index is not None:
            state.catalog = index
