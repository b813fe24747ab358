"""A simulation runs the account's real dates: what production compares and records.

The time-skipping server's clock starts at today; the accounts simulated live in other
years. Conditions on dates (a field, CEL, ``days_to_renewal``), date-anchored waits and the
times recorded in ``why`` must read the dates as the input files write them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine import load
from engine.journeys._catalog import Catalog, build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange
from workers.simulate.inputs import TimedRow
from workers.simulate.report import Entry, timeline
from workers.simulate.runner import Scenario, run

FIXTURES = Path(__file__).parents[1] / "fixtures" / "calendar"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    found = load([FIXTURES])
    return build_catalog(found.plans(), found.health_plan())  # type: ignore[arg-type]


async def simulate(
    catalog: Catalog, start: date, renewal: str, days: int, alarms: tuple[int, ...] = ()
) -> list[Entry]:
    attributes = {
        "name": "Initech",
        "owner": "dana@example.com",
        "contact_email": "ops@initech.example",
        "renewal_date": renewal,
    }
    rows = [
        TimedRow(
            line=1,
            account="initech",
            day=1,
            on=None,
            messages=[AttributeChange(event_id="d1", set={"arr": 1000})],
        ),
        *(
            TimedRow(
                line=2 + day,
                account="initech",
                day=day,
                on=None,
                messages=[AccountEvent(event_id=f"alarm-{day}", name="product.alarm")],
            )
            for day in alarms
        ),
    ]
    result = await run(catalog, Scenario({"initech": attributes}, rows, start, days))
    return timeline(result)


@pytest.mark.parametrize("start", [date(2027, 12, 1), date(2026, 12, 1)], ids=["ahead", "behind"])
async def test_date_conditions_and_waits_read_the_account_dates_as_written(
    catalog: Catalog, start: date
) -> None:
    """A field and a CEL comparison with 2027-12-31 hold; renewal - 10d falls on 2027-12-21.

    Whether the account's calendar is ahead of the server's clock or behind it."""
    days = (date(2027, 12, 31) - start).days
    entries = await simulate(catalog, start, "2027-12-31", days)
    enrolled = [e for e in entries if e.kind == "enrolled" and e.playbook == "year-end"]
    assert [e.at.date() for e in enrolled] == [start]
    actions = {e.step: e for e in entries if e.action and e.playbook == "year-end"}
    assert set(actions) == {"cel-says-so", "ten-days-out"}
    assert actions["cel-says-so"].at.date() == start
    assert actions["ten-days-out"].at.date() == date(2027, 12, 21)
    assert actions["ten-days-out"].day == days - 10


async def test_another_renewal_date_is_not_taken_for_the_written_one(catalog: Catalog) -> None:
    """An account renewing on 2027-12-30 does not enter: nothing is shifted into a match."""
    entries = await simulate(catalog, date(2027, 12, 1), "2027-12-30", 5)
    assert not [e for e in entries if e.kind == "enrolled" and e.playbook == "year-end"]


async def test_why_times_and_subjects_read_the_account_calendar(catalog: Catalog) -> None:
    """A 2025 account: entry on renewal - 14d, the subject's dates, every time recorded."""
    start = date(2025, 6, 1)
    entries = await simulate(catalog, start, "2025-06-20", 25)
    countdown = [e for e in entries if e.playbook == "countdown"]
    enrolled = next(e for e in countdown if e.kind == "enrolled")
    assert (enrolled.day, enrolled.at.date()) == (5, date(2025, 6, 6))
    remind = next(e for e in countdown if e.step == "remind" and e.action)
    assert remind.subject == "Initech renews on 2025-06-20; sent 2025-06-06"
    renewal_day = next(e for e in countdown if e.step == "renewal-day" and e.action)
    assert (renewal_day.day, renewal_day.at.date()) == (19, date(2025, 6, 20))
    for entry in entries:
        assert start <= entry.at.date() <= date(2025, 6, 26), entry
        assert entry.day == (entry.at.date() - start).days


async def test_a_cooldown_refusal_names_the_account_calendar_date(catalog: Catalog) -> None:
    """An alarm on 2025-06-02 and again on 06-05: "in cooldown until" a 2025 date."""
    entries = await simulate(catalog, date(2025, 6, 1), "2025-12-31", 6, alarms=(1, 4))
    skipped = [e for e in entries if e.playbook == "alarm" and e.kind == "skipped"]
    assert len(skipped) == 1
    assert "2025-07-02" in skipped[0].detail, skipped[0].detail
