"""Date offsets anchored on any date attribute: which names are anchors, where a typo is
refused, and what the plan holds (unchanged for the built-in anchors)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import Code, check, load
from engine.language._plan import DateAt, WaitNode
from engine.language._plan_reads import date_anchors

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"

PLAYBOOK = """\
kind: Playbook
name: probe
version: 1
description: d
owner: o
stage: onboard
entry: {event: contract.signed}
steps:
  - {id: w, type: wait, until: UNTIL}
  - {id: t, type: task, title: x, assignee: csm, due: 1d}
"""


def _set(tmp_path: Path, until: str) -> Path:
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(PLAYBOOK.replace("UNTIL", until))
    return tmp_path / "set"


@pytest.mark.parametrize(
    ("until", "anchor", "seconds"),
    [
        ("go_live_date + 7d", "go_live_date", 7 * 86_400),
        ("trial_end-3d", "trial_end", -3 * 86_400),
        ("start_at", "start_at", 0),
        ("enrolled_at + 1h", "enrolled_at", 3_600),
        ("renewal_date - 90d", "renewal_date", -90 * 86_400),
    ],
)
def test_any_lowercase_attribute_name_anchors_a_date(
    tmp_path: Path, until: str, anchor: str, seconds: int
) -> None:
    """A custom attribute anchors a wait; the plan keeps its name and signed seconds."""
    plan = load([_set(tmp_path, until)]).plan("probe")
    node = plan.nodes["w"]
    assert isinstance(node, WaitNode)
    assert node.until == DateAt(anchor=anchor, offset_seconds=seconds)
    assert date_anchors(plan) == [anchor]


@pytest.mark.parametrize(
    ("until", "hint"),
    [
        ("renwal_date - 90d", "renewal_date"),
        ("start_dat", "start_date"),
        ("enroled + 3d", "enrolled"),
        ("Go_Live + 3d", None),
        ("go-live + 3d", None),
    ],
)
def test_a_typo_of_a_built_in_anchor_or_a_name_that_is_not_one_is_refused(
    tmp_path: Path, until: str, hint: str | None
) -> None:
    """Within a letter of a built-in anchor is a typo (with its hint); capitals and dashes are
    not attribute names; each refusal is positioned at the offset."""
    _, [problem] = check([_set(tmp_path, until)])
    assert problem.code == Code.DATE_OFFSET_INVALID
    assert (problem.line, problem.column) == (9, 32)
    assert problem.field == "steps[0].until"
    if hint:
        assert problem.message.endswith(f"(did you mean {hint!r}?)")
    else:
        assert "did you mean" not in problem.message


def test_a_built_in_anchor_serializes_as_before() -> None:
    """The plan JSON of a built-in anchor is what it was, so published plans keep their hash."""
    at = DateAt(anchor="renewal_date", offset_seconds=-7_776_000)
    assert at.model_dump(mode="json") == {"anchor": "renewal_date", "offset_seconds": -7_776_000}
