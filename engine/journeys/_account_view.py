"""What an operator sees of an account in Temporal: its search attributes and its details.

The account workflow (``engine.journeys._account``) upserts the attributes that changed
(health, tier, trend, renewal date, segment, owner), so List Filters find accounts by them,
and keeps its current details (who, health, journeys) in the UI. Every upsert is a
visibility write on the server, so only values that changed since the run's last upsert go,
and the task of the last upsert is remembered (an enrollment in that task takes its changes
along: ATTRIBUTES_WITH_ENROLLMENT). Runs inside the workflow, so it is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._search as sa
    import engine.journeys._summaries as _summaries
    from engine.journeys._account_state import AccountState
    from engine.language._facts import midnight


class AccountView:
    """The search attributes and details of one account workflow."""

    def __init__(self, state: Callable[[], AccountState]) -> None:
        self._state = state
        self._upserted: dict[str, Any] = {}
        self._upserted_in: int | None = None
        """The task that upserted last, by the history length it started at."""

    def upsert(self) -> None:
        """Upsert the search attributes that changed since the last upsert of this run."""
        state = self._state()
        values: dict[Any, Any] = {
            sa.ACCOUNT_ID: state.account_id,
            sa.HEALTH_SCORE: state.health.score,
            sa.HEALTH_TIER: state.health.tier or None,
            sa.HEALTH_TREND: state.health.trend or None,
            sa.RENEWAL_DATE: midnight(state.attributes.get("renewal_date")),
        }
        for key, name in ((sa.SEGMENT, "segment"), (sa.OWNER, "owner")):
            value = state.attributes.get(name)
            values[key] = value if isinstance(value, str) else None
        updates = [
            key.value_set(value)
            for key, value in values.items()
            if value is not None and self._upserted.get(key.name) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._upserted.update({key.name: values[key] for key in values})
            self._upserted_in = workflow.info().get_current_history_length()

    def upserted_in_this_task(self) -> bool:
        """Whether this workflow task upserted already (its visibility write is paid)."""
        return self._upserted_in == workflow.info().get_current_history_length()

    def describe(self) -> None:
        """The account's current details in the Temporal UI: who, health, journeys."""
        state = self._state()
        journeys = [
            (
                name,
                f"running (cycle {e.cycle})"
                if e.running
                else f"ended{f' ({e.outcome})' if e.outcome else ''}",
            )
            for name, e in state.enrollments.items()
        ]
        workflow.set_current_details(
            _summaries.account_now(
                state.account_id,
                state.attributes,
                (state.health.score, state.health.tier),
                journeys,
                state.paused is not None,
                state.why[-1] if state.why else None,
            )
        )
