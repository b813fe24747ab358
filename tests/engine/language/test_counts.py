"""Event counts in the language: what a count accepts, where each refusal is reported, and
what a plan says it reads (so the account sends a run the events it counts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import Code, check, load
from engine.language._plan import CountPlan, WaitForNode
from engine.language._plan_reads import health_reads, history_windows

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"

PLAYBOOK = """\
kind: Playbook
name: probe
version: 1
description: d
owner: o
stage: expand
entry: {event: contract.signed}
steps:
  - id: w
    type: wait_for
    condition: CONDITION
    timeout: 30d
"""


def _set(tmp_path: Path, condition: str) -> Path:
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(PLAYBOOK.replace("CONDITION", condition))
    return tmp_path / "set"


def test_a_count_compiles_to_its_event_window_and_bound(tmp_path: Path) -> None:
    """`{count: {event, over, gte}}` becomes a count plan; the run reads the event over its
    window and no health."""
    condition = "{count: {event: exec.meeting, over: 90d, gte: 1}}"
    plan = load([_set(tmp_path, condition)]).plan("probe")
    node = plan.nodes["w"]
    assert isinstance(node, WaitForNode)
    assert node.condition == CountPlan(
        event="exec.meeting", window_seconds=90 * 86_400, op="gte", value=1
    )
    assert history_windows(plan) == {"event:exec.meeting": 90 * 86_400}
    assert health_reads(plan) == []


def test_a_cel_count_is_read_from_its_quoted_arguments(tmp_path: Path) -> None:
    """`event_count("login", "7d")` in CEL reads login over 7 days, the longest window of
    each event counted."""
    condition = """{cel: 'event_count("login", "7d") >= 3 || event_count("login", "30d") > 9'}"""
    plan = load([_set(tmp_path, condition)]).plan("probe")
    assert history_windows(plan) == {"event:login": 30 * 86_400}


@pytest.mark.parametrize(
    ("condition", "code", "column", "message"),
    [
        (
            "{count: {event: login, over: 401d, gte: 1}}",
            Code.CONDITION_VALUE,
            24,
            "at most 400d",
        ),
        (
            "{count: {event: login, over: 7d, gte: 1, lt: 3}}",
            Code.CONDITION_OPERATOR,
            24,
            "exactly one operator of eq, lt, lte, gt, gte; found lt, gte",
        ),
        ("{count: {event: login, over: 7d, gte: -1}}", Code.FIELD_VALUE, None, ""),
        ("{count: {event: Login, over: 7d, gte: 1}}", Code.FIELD_VALUE, None, ""),
        (
            '{cel: \'event_count("login", string(7) + "d") > 1\'}',
            Code.CEL_NAME,
            None,
            'as in event_count("exec.meeting", "90d")',
        ),
        (
            '{cel: \'event_count("login", "1000d") > 1\'}',
            Code.CEL_NAME,
            None,
            "not a window from 1s to 400d",
        ),
    ],
)
def test_a_bad_count_is_refused_where_it_is_written(
    tmp_path: Path, condition: str, code: Code, column: int | None, message: str
) -> None:
    """Each refusal names its code, sits on the condition's line, and says what to write."""
    _, problems = check([_set(tmp_path, condition)])
    assert [p.code for p in problems] == [code], problems
    assert problems[0].line == 11
    if column is not None:
        assert problems[0].column == column
    assert message in problems[0].message
