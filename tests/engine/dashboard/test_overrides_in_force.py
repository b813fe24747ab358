"""The dashboard's overrides in force, from each account's latest override decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.dashboard._overrides import OverrideDecision, in_force, model, summary

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


def _decision(account: str, kind: str = "override", **seen: Any) -> OverrideDecision:
    values = {
        "health.score": 75,
        "model score": 40,
        "until": (NOW + timedelta(days=3)).isoformat(),
        "by": "dana",
        "reason": "renewal confirmed",
        **seen,
    }
    return OverrideDecision(
        account_id=account, kind=kind, at=NOW - timedelta(days=1), seen=values, detail=""
    )


def test_only_overrides_set_and_not_ended_are_in_force_ending_soonest_first() -> None:
    """Cleared, expired (recorded or only due) and unreadable decisions are left out."""
    later = (NOW + timedelta(days=9)).isoformat()
    rows = in_force(
        [
            _decision("late", until=later),
            _decision("soon"),
            _decision("cleared", kind="override_cleared"),
            _decision("expired", kind="override_expired"),
            _decision("due", until=(NOW - timedelta(minutes=1)).isoformat()),
            _decision("garbled", until="next week"),
        ],
        NOW,
    )
    assert [r.account_id for r in rows] == ["soon", "late"]
    assert (rows[0].score, rows[0].by, rows[0].reason) == (75, "dana", "renewal confirmed")
    assert summary(rows[0]) == "75 by dana until 2027-03-04 12:00 UTC: renewal confirmed"
    assert model(rows[0]) == "no score yet"
    scored = rows[0].model_copy(update={"model_score": 40.5, "model_tier": "at-risk"})
    assert model(scored) == "40.5 (at-risk)"


def test_a_decision_recorded_before_who_and_why_were_data_reads_them_from_its_words() -> None:
    """Older decisions say who and why only in the detail (describe's words)."""
    old = _decision("acme").model_copy(
        update={
            "seen": {"health.score": 75, "until": (NOW + timedelta(days=3)).isoformat()},
            "detail": "health score 75 (the model says 40) until 2027-03-04 12:00 UTC,"
            " by dana: champion: renewal confirmed",
        }
    )
    [row] = in_force([old], NOW)
    assert (row.by, row.reason) == ("dana", "champion: renewal confirmed")
