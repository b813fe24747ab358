"""The dashboard's history in the store: written once per key, read back in time order, on
SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.journeys._messages import HistoryChange, HistoryRequest, JourneyRecord
from workers import history
from workers.store import Store

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)


def _change(n: int, at: datetime, new: str) -> HistoryChange:
    return HistoryChange(key=f"account/acme/{n}", account_id="acme", at=at, kind="arr", new=new)


def test_changes_and_journeys_are_recorded_once(store: Store) -> None:
    """A retried activity (same keys, same workflow id) adds nothing; reads come back in
    time order, cut at ``until``, with journeys filtered by when they ended."""
    later = _change(2, T0 + timedelta(days=2), "130000")
    first = _change(1, T0, "100000")
    journey = JourneyRecord(
        workflow_id="playbook/rescue/acme/1",
        account_id="acme",
        playbook="rescue",
        version=1,
        stage="retain",
        cycle=1,
        enrolled_at=T0,
        ended_at=T0 + timedelta(days=1),
        outcome="success",
        ended_by="goal",
        highest_tier="manager",
        ack_seconds={"csm": 90.0},
    )
    request = HistoryRequest(changes=[later, first], journey=journey)
    assert history.record(store, request) == 3
    assert history.record(store, request) == 0
    assert history.changes(store, T0 + timedelta(days=3)) == [first, later]
    assert history.changes(store, T0 + timedelta(days=1)) == [first]
    assert history.journeys(store, T0, T0 + timedelta(days=2)) == [journey]
    assert history.journeys(store, T0 + timedelta(days=2), T0 + timedelta(days=3)) == []
