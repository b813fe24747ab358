"""The dashboard's history and the decision log in the store: written once per key, read back
in time order, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import workers.store as store_module
from engine.journeys._messages import (
    Decision,
    DecisionRecord,
    HistoryChange,
    HistoryRequest,
    JourneyRecord,
)
from workers import history
from workers.store import MIGRATIONS, Store, open_store

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


def _decision(
    workflow_id: str, seq: int, at: datetime, kind: str, **seen: object
) -> DecisionRecord:
    return DecisionRecord(
        key=f"{workflow_id}/run-1/why/{seq}",
        account_id="acme",
        workflow_id=workflow_id,
        decision=Decision(
            at=at,
            kind=kind,
            rule="rescue.entry.when" if workflow_id.startswith("account/") else "entry",
            playbook="rescue",
            version=2,
            hash="h1",
            seen=dict(seen),
            detail="cycle 1",
            seq=seq,
        ),
    )


def test_decisions_are_recorded_once_and_read_back_per_account(store: Store) -> None:
    """Decisions keep every field (values seen included) through the store; a retried batch
    adds nothing; an account reads its own and its runs' decisions, oldest first."""
    run = "playbook/rescue/acme/1"
    enrolled = _decision("account/acme", 1, T0, "enrolled", **{"health.tier": "critical"})
    started = _decision(run, 1, T0 + timedelta(seconds=1), "enrolled")
    action = _decision(run, 2, T0 + timedelta(minutes=5), "action", score=31.5, tags=["a"])
    other = enrolled.model_copy(update={"key": "account/globex/run-9/why/1", "account_id": "gx"})
    request = HistoryRequest(decisions=[action, started, enrolled, other])
    assert history.record(store, request) == 4
    assert history.record(store, request) == 0
    assert history.decisions(store, "acme") == [enrolled, started, action]
    assert history.decisions(store, "nobody") == []


def test_enrollments_count_each_run_once_in_the_period(store: Store) -> None:
    """The dashboard's enrolled: runs whose own enrollment falls in the period, not the
    account's record of starting them, nor other kinds of decision."""
    records = [
        _decision("account/acme", 1, T0, "enrolled"),
        _decision("playbook/rescue/acme/1", 1, T0, "enrolled"),
        _decision("playbook/rescue/acme/1", 2, T0, "action"),
        _decision("playbook/rescue/acme/2", 1, T0 + timedelta(days=3), "enrolled"),
    ]
    history.record(store, HistoryRequest(decisions=records))
    assert history.enrollments(store, T0, T0 + timedelta(days=1)) == {"rescue": 1}
    assert history.enrollments(store, T0, T0 + timedelta(days=4)) == {"rescue": 2}
    assert history.enrollments(store, T0 + timedelta(days=4), T0 + timedelta(days=5)) == {}


def test_contact_holds_count_deferrals_and_drops_in_the_period(store: Store) -> None:
    """The dashboard's emails deferred and dropped under the contact policy: per playbook,
    the journeys' own decisions in the period, no other kind."""
    run = "playbook/rescue/acme/1"
    records = [
        _decision(run, 1, T0, "contact_deferred"),
        _decision(run, 2, T0 + timedelta(hours=1), "contact_deferred"),
        _decision(run, 3, T0 + timedelta(hours=2), "contact_dropped"),
        _decision(run, 4, T0 + timedelta(hours=2), "action"),
        _decision(run, 5, T0 + timedelta(days=3), "contact_dropped"),
    ]
    history.record(store, HistoryRequest(decisions=records))
    assert history.contact_holds(store, T0, T0 + timedelta(days=1)) == {"rescue": (2, 1)}
    assert history.contact_holds(store, T0 + timedelta(days=2), T0 + timedelta(days=4)) == {
        "rescue": (0, 1)
    }
    assert history.contact_holds(store, T0 + timedelta(days=5), T0 + timedelta(days=6)) == {}


def test_satisfaction_readings_are_stored_and_read_back(store: Store) -> None:
    """An NPS and a CSAT component reading (change kinds nps, csat) round-trip the store."""
    nps = HistoryChange(key="account/acme/7", account_id="acme", at=T0, kind="nps", new="62.5")
    csat = HistoryChange(
        key="account/acme/8", account_id="acme", at=T0, kind="csat", old="70.0", new="80.0"
    )
    assert history.record(store, HistoryRequest(changes=[nps, csat])) == 2
    assert history.changes(store, T0 + timedelta(days=1)) == [nps, csat]


def test_a_store_from_before_satisfaction_keeps_its_changes_and_takes_readings(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 4 rebuilds account_changes to allow nps and csat: a database at version 3
    keeps its rows (in order) and then takes a reading."""
    arr, tier = _change(1, T0, "100000"), _change(2, T0 + timedelta(hours=1), "120000")
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "MIGRATIONS", MIGRATIONS[:3])
        with open_store(store_url) as old:
            assert old.schema_version() == 3
            history.record(old, HistoryRequest(changes=[arr, tier]))
    with open_store(store_url) as new:
        assert new.schema_version() == len(MIGRATIONS) >= 4
        nps = HistoryChange(key="account/acme/3", account_id="acme", at=T0, kind="nps", new="60")
        assert history.record(new, HistoryRequest(changes=[nps])) == 1
        assert history.record(new, HistoryRequest(changes=[arr])) == 0  # keys kept
        assert history.changes(new, T0 + timedelta(days=1)) == [arr, nps, tier]
