"""Account, timeline and outcome files: what each row becomes, and each mistake's one line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.journeys._messages import (
    AccountEvent,
    AttributeChange,
    HealthEvent,
    PlaybookAck,
    PlaybookExit,
)
from workers.simulate.inputs import InputError, read_account, read_rows, resolve_days


def test_csv_timeline_rows_become_the_messages_people_and_systems_send(tmp_path: Path) -> None:
    """CSV: components, attributes, events, acks and exits by day or date, in file order."""
    path = tmp_path / "timeline.csv"
    path.write_text(
        "day,date,score,component.usage,set.renewal_date,event,ack,playbook,exit,reason\n"
        "0,,80,,,contract.signed,,,,\n"
        ",2027-01-09,,30,2027-06-30,,,,,\n"
        "7,,,,,,maria@example.com,churn-prevention,,\n"
        "9,,,,,,,,onboarding,customer asked\n",
        encoding="utf-8",
    )
    rows = read_rows(path, "acme")
    assert resolve_days(rows, date(2027, 1, 4), path) == date(2027, 1, 4)
    assert [(r.line, r.day) for r in rows] == [(2, 0), (3, 5), (4, 7), (5, 9)]
    first, second, ack, stop = (r.messages for r in rows)
    assert [type(m) for m in first] == [HealthEvent, AccountEvent]
    assert isinstance(second[0], AttributeChange)
    assert second[0].set == {"renewal_date": "2027-06-30"}
    assert isinstance(second[1], HealthEvent) and second[1].components == {"usage": 30.0}
    assert ack == [PlaybookAck(by="maria@example.com", playbook="churn-prevention")]
    assert stop == [PlaybookExit(playbook="onboarding", reason="customer asked")]


def test_the_same_reading_on_two_days_is_two_events(tmp_path: Path) -> None:
    """Rows without ids get one per file and line, so the account does not drop the second."""
    path = tmp_path / "t.jsonl"
    path.write_text('{"day": 1, "score": 40}\n{"day": 8, "score": 40}\n', encoding="utf-8")
    first, second = read_rows(path, "acme")
    assert first.messages[0].event_id != second.messages[0].event_id


def test_every_bad_row_is_named_by_file_line_and_field(tmp_path: Path) -> None:
    """Day and date together, a date before the start, a playbook alone, another account."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"day": 1, "date": "2027-01-05", "score": 1}\n'
        '{"day": 2, "playbook": "renewal"}\n'
        '{"day": 3, "account": "globex", "score": 50}\n'
        '{"day": 4, "ack": 7}\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as raised:
        read_rows(path, "acme")
    assert raised.value.lines == [
        f"{path}:1: give a day (days after the start) or a date, one of the two",
        f"{path}:2: playbook: only with ack (whose escalations), exit, approve or reject",
        f"{path}:3: account: 'globex' is not the simulated account 'acme'",
        f"{path}:4: ack: who acknowledges, e.g. maria@example.com",
    ]
    dated = tmp_path / "d.jsonl"
    dated.write_text('{"date": "2027-01-01", "score": 50}\n', encoding="utf-8")
    rows = read_rows(dated, "acme")
    with pytest.raises(InputError) as raised:
        resolve_days(rows, date(2027, 1, 4), dated)
    assert raised.value.lines == [f"{dated}:1: date: 2027-01-01 is before the start, 2027-01-04"]


def test_account_file_problems_name_the_line_of_the_key(tmp_path: Path) -> None:
    """A renewal date that is not a date is reported at its own line."""
    path = tmp_path / "a.yaml"
    path.write_text("id: acme\nattributes:\n  renewal_date: soon\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_account(path)
    assert raised.value.lines == [
        f"{path}:3: attributes.renewal_date: 'soon' is not a date (write 2027-03-31)"
    ]
    path.write_text("segment: smb\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_account(path)
    assert raised.value.lines == [f"{path}:1: id: the account id, a text is required"]


def test_an_unknown_timeline_field_lists_every_field_a_row_may_hold(tmp_path: Path) -> None:
    """A misspelt field: the line names it and lists ingest's fields and the timeline's own."""
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"day": 1, "scroe": 50}\n', encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_rows(path, "acme")
    assert raised.value.lines == [
        f"{path}:1: unknown field 'scroe' (fields: account, components, event, id, score, set,"
        " day, date, ack, playbook, exit, reason, pause, resume, approve, reject, by, override,"
        " until_day, until)"
    ]


def test_pause_and_resume_rows_become_the_account_requests(tmp_path: Path) -> None:
    """pause (with its reason) and resume name who; each is the request the CLI would send."""
    from engine.journeys._messages import PauseRequest, ResumeRequest

    path = tmp_path / "timeline.jsonl"
    path.write_text(
        '{"day": 3, "pause": "dana@example.com", "reason": "billing dispute"}\n'
        '{"day": 5, "resume": "dana@example.com"}\n',
        encoding="utf-8",
    )
    pause, resume = (row.messages for row in read_rows(path, "acme"))
    assert pause == [PauseRequest(by="dana@example.com", reason="billing dispute")]
    assert resume == [ResumeRequest(by="dana@example.com")]


def test_approve_and_reject_rows_answer_a_playbooks_approval_step(tmp_path: Path) -> None:
    """approve/reject name the step, playbook whose, by who (test by default), reason the note;
    each is the answer the account forwards to that journey."""
    from engine.journeys._messages import PlaybookAnswer

    path = tmp_path / "timeline.jsonl"
    path.write_text(
        '{"day": 3, "approve": "discount", "playbook": "save", "by": "maria", "reason": "ok"}\n'
        '{"day": 4, "reject": "discount", "playbook": "save"}\n',
        encoding="utf-8",
    )
    approve, reject = (row.messages for row in read_rows(path, "acme"))
    assert approve == [
        PlaybookAnswer(playbook="save", step="discount", approved=True, by="maria", note="ok")
    ]
    assert reject == [PlaybookAnswer(playbook="save", step="discount", approved=False, by="test")]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (
            '{"day": 1, "approve": "discount"}',
            "approve and reject need playbook: whose approval step",
        ),
        (
            '{"day": 1, "approve": "d", "reject": "d", "playbook": "save"}',
            "approve and reject: give one of the two",
        ),
        ('{"day": 1, "approve": "", "playbook": "save"}', 'approve: "" must be a text'),
        (
            '{"day": 1, "score": 5, "by": "maria"}',
            "by: only with approve, reject or override (who answers)",
        ),
    ],
    ids=["no-playbook", "both", "empty-step", "by-alone"],
)
def test_a_bad_answer_row_is_one_line(tmp_path: Path, row: str, error: str) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_text(row + "\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_rows(path, "acme")
    [line] = raised.value.lines
    assert line.startswith(f"{path}:1: {error}")


def test_override_rows_become_the_request_playbook_override_sends(tmp_path: Path) -> None:
    """override: SCORE with reason, by (test by default) and until_day or until (a date),
    ending at 00:00 UTC of that day on the account's calendar; override: clear ends it."""
    from engine.journeys._messages import OverrideRequest

    path = tmp_path / "timeline.jsonl"
    path.write_text(
        '{"day": 3, "override": 80, "reason": "renewal confirmed", "until_day": 10, "by": "dana"}\n'
        '{"date": "2027-01-06", "override": "45", "reason": "migration", "until": "2027-02-01"}\n'
        '{"day": 8, "override": "clear", "by": "dana", "reason": "model caught up"}\n',
        encoding="utf-8",
    )
    rows = read_rows(path, "acme")
    resolve_days(rows, date(2027, 1, 4), path)
    first, second, cleared = (row.messages for row in rows)
    assert first == [
        OverrideRequest(
            by="dana",
            reason="renewal confirmed",
            score=80,
            until=datetime(2027, 1, 14, tzinfo=UTC),
        )
    ]
    assert second == [
        OverrideRequest(
            by="test", reason="migration", score=45, until=datetime(2027, 2, 1, tzinfo=UTC)
        )
    ]
    assert cleared == [OverrideRequest(by="dana", reason="model caught up", clear=True)]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (
            '{"day": 1, "override": 80, "reason": "r"}',
            "override needs until_day (days after the start) or until (a date)",
        ),
        ('{"day": 1, "override": 80, "until_day": 5}', "override: the reason is 1-500"),
        (
            '{"day": 1, "override": 101, "reason": "r", "until_day": 5}',
            "override: the score must be a number from 0 to 100",
        ),
        (
            '{"day": 1, "override": "high", "reason": "r", "until_day": 5}',
            "override: 'high' is not a score from 0 to 100 or clear",
        ),
        (
            '{"day": 1, "override": 80, "reason": "r", "until_day": 5, "until": "2027-02-01"}',
            "until_day and until: give one of the two",
        ),
        ('{"day": 1, "score": 5, "until_day": 5}', "until_day and until: only with override"),
        (
            '{"day": 5, "override": 80, "reason": "r", "until_day": 5}',
            "until_day: the override must end after the day it is set (day 5)",
        ),
        (
            '{"day": 1, "override": 80, "reason": "r", "until_day": 500}',
            "until_day: until may be at most 400 days ahead",
        ),
    ],
    ids=[
        "no-until",
        "no-reason",
        "above-100",
        "not-a-number",
        "both-ends",
        "until-alone",
        "ends-the-day-set",
        "too-far",
    ],
)
def test_a_bad_override_row_is_one_line(tmp_path: Path, row: str, error: str) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_text(row + "\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        resolve_days(read_rows(path, "acme"), date(2027, 1, 4), path)
    [line] = raised.value.lines
    assert line.startswith(f"{path}:1: {error}"), line
