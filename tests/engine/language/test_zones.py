"""Days counted in the account's time zone: day counts, today and date anchors."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.language._facts import Facts, midnight
from engine.language._zones import zone_problem


def test_day_counts_and_today_follow_the_accounts_zone() -> None:
    """At 2027-03-30 20:00 UTC it is already the 31st in Tokyo: the renewal on the 31st is
    today there (0 days), tomorrow in UTC (1 day); CEL's today says so too."""
    now = datetime(2027, 3, 30, 20, 0, tzinfo=UTC)
    account = {"renewal_date": "2027-03-31", "start_date": "2027-03-01"}
    utc = Facts(now=now, account=account)
    tokyo = utc.model_copy(update={"zone": "Asia/Tokyo"})
    assert utc.value("days_to_renewal") == 1
    assert tokyo.value("days_to_renewal") == 0
    assert (utc.value("days_since_start"), tokyo.value("days_since_start")) == (29, 30)
    assert utc.cel_context()["today"] == "2027-03-30"
    assert tokyo.cel_context()["today"] == "2027-03-31"


def test_the_zone_is_never_sent_with_the_facts() -> None:
    """Facts travel in signals and inputs: the zone stays out, so payloads are unchanged."""
    facts = Facts(now=datetime(2027, 1, 1, tzinfo=UTC), zone="Asia/Tokyo")
    assert "zone" not in facts.model_dump()


def test_a_date_anchor_falls_at_local_midnight() -> None:
    """renewal_date 2027-03-31 in Tokyo is 2027-03-30 15:00 UTC; in New York after the spring
    change, 04:00 UTC; without a zone, 00:00 UTC."""
    assert midnight("2027-03-31", "Asia/Tokyo") == datetime(2027, 3, 30, 15, tzinfo=UTC)
    assert midnight("2027-03-31", "America/New_York") == datetime(2027, 3, 31, 4, tzinfo=UTC)
    assert midnight("2027-03-31") == datetime(2027, 3, 31, tzinfo=UTC)


def test_zone_names_come_with_a_hint() -> None:
    """Case and near misses get the real name; a number is not a zone."""
    assert zone_problem("Asia/Tokyo") is None
    assert "did you mean 'Asia/Tokyo'" in (zone_problem("asia/tokyo") or "")
    assert "did you mean 'Asia/Tokyo'" in (zone_problem("Asia/Tokio") or "")
    assert "is not a time zone name" in (zone_problem(9) or "")
