"""How `playbook event --set` and ingest files read attribute values: numbers where a number is
meant, names kept as text, and what no account can take refused in one line per row."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.client._events import build_events, read_rows
from engine.client._operate import OperateError
from engine.journeys._messages import AttributeChange


def _set(messages: list[object]) -> dict[str, object]:
    [change] = [m for m in messages if isinstance(m, AttributeChange)]
    return change.set


def test_a_segment_or_owner_of_digits_stays_a_name() -> None:
    """An owner id 1042 or a segment "2024" is text; ARR and other digits are numbers."""
    messages = build_events(
        score=None,
        components=[],
        attributes=["owner=1042", "segment=2024", "arr=120000", "seats=12.5"],
        event=None,
        event_id="e1",
    )
    assert _set(messages) == {"owner": "1042", "segment": "2024", "arr": 120000, "seats": 12.5}


def test_csv_names_stay_text_and_rows_that_cannot_be_taken_are_reported(tmp_path: Path) -> None:
    """A CSV owner of digits is sent as text; a segment of 201 characters is one bad row and
    the good rows around it are kept."""
    path = tmp_path / "accounts.csv"
    path.write_text(
        "account,set.owner,set.segment,set.arr\n"
        "acme,1042,enterprise,5000\n"
        f"globex,7,{'s' * 201},10\n"
        "initech,jane@example.com,smb,\n"
    )
    rows, problems = read_rows(path)
    assert [row.account for row in rows] == ["acme", "initech"]
    assert _set(rows[0].messages) == {"owner": "1042", "segment": "enterprise", "arr": 5000}
    [problem] = problems
    assert problem.endswith(
        "accounts.csv:3: set.segment: the segment of 201 characters (at most 200)"
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [("owner=", "the owner is empty"), ("segment=" + "x" * 300, "segment of 300 characters")],
)
def test_a_name_no_account_can_take_is_one_line(value: str, words: str) -> None:
    with pytest.raises(OperateError, match=words):
        build_events(score=None, components=[], attributes=[value], event=None, event_id="e1")


def test_a_time_zone_and_a_calendar_stay_text_and_an_unknown_zone_is_one_line() -> None:
    """--set timezone=Asia/Tokyo and calendar=2024 are text; a misspelt zone is refused with
    a hint before anything is sent."""
    messages = build_events(
        score=None,
        components=[],
        attributes=["timezone=Asia/Tokyo", "calendar=2024"],
        event=None,
        event_id="e1",
    )
    assert _set(messages) == {"timezone": "Asia/Tokyo", "calendar": "2024"}
    with pytest.raises(OperateError, match="did you mean 'Europe/Berlin'"):
        build_events(
            score=None,
            components=[],
            attributes=["timezone=europe/berlin"],
            event=None,
            event_id="e1",
        )
