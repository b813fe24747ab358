"""Set-wide rules of meaning that the corpus does not pin down to a line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import Code, check

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"

HEAD = """\
kind: Playbook
name: probe
version: 1
description: d
owner: o
stage: retain
entry: {event: contract.signed}
"""


def codes(tmp_path: Path, body: str, extra: str = "") -> list[Code]:
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(HEAD + extra + body)
    _, diagnostics = check([tmp_path / "set"])
    return [d.code for d in diagnostics]


def test_on_failure_escalate_needs_a_ladder(tmp_path: Path) -> None:
    """on_failure: escalate in a playbook without a ladder is refused."""
    body = (
        "steps:\n  - {id: t, type: task, title: x, assignee: csm, due: 1d, on_failure: escalate}\n"
    )
    assert codes(tmp_path, body) == [Code.REF_ESCALATION_TIER]


def test_a_guarded_wait_does_not_make_a_loop_safe(tmp_path: Path) -> None:
    """A wait that its guard can skip does not count as the loop's pause."""
    body = """\
steps:
  - {id: w, type: wait, for: 1d, if: {field: health.score, lt: 50}}
  - {id: back, type: goto, step: w}
"""
    assert codes(tmp_path, body) == [Code.LOOP_WITHOUT_WAIT]


def test_a_wait_in_every_branch_makes_a_loop_safe(tmp_path: Path) -> None:
    """A loop through a branch whose every list waits is accepted."""
    body = """\
steps:
  - id: b
    type: branch
    condition: {field: health.score, lt: 50}
    then: [{id: w1, type: wait, for: 1d}]
    else: [{id: w2, type: wait, for: 7d}]
  - {id: back, type: goto, step: b}
"""
    assert codes(tmp_path, body) == []


def test_builtin_roles_cannot_be_redeclared(tmp_path: Path) -> None:
    """Declaring csm under roles is refused: it is built in."""
    body = "steps:\n  - {id: w, type: wait, for: 1d}\n"
    assert codes(tmp_path, body, "roles: {csm: x}\n") == [Code.NAME_DUPLICATE]


def test_entry_cannot_be_anchored_on_enrolled(tmp_path: Path) -> None:
    """An entry date relative to the enrollment it defines is refused."""
    body = "steps:\n  - {id: w, type: wait, for: 1d}\n"
    text = HEAD.replace("entry: {event: contract.signed}", "entry: {at: enrolled + 3d}")
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(text + body)
    _, diagnostics = check([tmp_path / "set"])
    assert [d.code for d in diagnostics] == [Code.DATE_OFFSET_INVALID]


def test_tier_settings_without_their_channel_are_refused(tmp_path: Path) -> None:
    """A tier template without email in via has no effect, so it is an error."""
    body = """\
steps:
  - {id: e, type: escalate}
escalation:
  tiers:
    - {id: a, notify: [csm], via: [task], title: t, template: welcome}
"""
    assert codes(tmp_path, body) == [Code.FIELD_CONFLICT]


def test_several_health_models_beside_a_file_are_ambiguous(tmp_path: Path) -> None:
    """Validating one file with two HealthModels beside it names the ambiguity."""
    shutil.copytree(BASIC, tmp_path / "set")
    other = (tmp_path / "set" / "health.yaml").read_text().replace("name: default", "name: b")
    (tmp_path / "set" / "health-b.yaml").write_text(other)
    _, diagnostics = check([tmp_path / "set" / "care.yaml"])
    assert [d.code for d in diagnostics] == [Code.HEALTH_MODEL_DUPLICATE]


@pytest.mark.parametrize("order", ["[enterprise, mid-market]", "[mid-market, enterprise]"])
def test_segment_order_does_not_change_the_hash(tmp_path: Path, order: str) -> None:
    """Segments are a set: listing them in another order keeps the hash."""
    from engine import load

    shutil.copytree(BASIC, tmp_path / "set")
    care = tmp_path / "set" / "care.yaml"
    care.write_text(care.read_text().replace("[enterprise, mid-market]", order))
    expected = load([BASIC]).plan("care").hash
    assert load([tmp_path / "set"]).plan("care").hash == expected


def test_a_goal_held_for_a_window_needs_a_condition(tmp_path: Path) -> None:
    """`for` on a goal or exit with only an event is refused: an event cannot be held."""
    steps = "steps:\n  - {id: w, type: wait, for: 1d}\n"
    goal = "goal: {event: saved, for: 14d}\n"
    assert codes(tmp_path / "goal", steps, goal) == [Code.FIELD_CONFLICT]
    exit_ = "exit: {event: churned, for: 1d}\n"
    assert codes(tmp_path / "exit", steps, exit_) == [Code.FIELD_CONFLICT]


def test_a_goal_held_for_a_window_compiles_to_seconds(tmp_path: Path) -> None:
    """`for: 14d` on a goal compiles to 14 days in seconds; a goal without it has no window,
    and its plan's JSON (so its hash) has no key for one."""
    shutil.copytree(BASIC, tmp_path / "set")
    held = "goal:\n  when: {field: health.score, gte: 80}\n  for: 14d\n"
    steps = "steps:\n  - {id: w, type: wait, for: 1d}\n"
    (tmp_path / "set" / "probe.yaml").write_text(HEAD + held + steps)
    result, diagnostics = check([tmp_path / "set"])
    assert diagnostics == []
    goal = result.plan("probe").goal
    assert goal is not None and goal.for_seconds == 14 * 86_400
    (tmp_path / "set" / "probe.yaml").write_text(HEAD + held.replace("  for: 14d\n", "") + steps)
    plan = check([tmp_path / "set"])[0].plan("probe")
    assert plan.goal is not None and plan.goal.for_seconds is None
    assert "for_seconds" not in plan.model_dump(mode="json")["goal"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (".nan", "steps[0].body.deal.amount is .nan"),
        (".inf", "steps[0].body.deal.amount is .inf"),
        ("-.inf", "steps[0].body.deal.amount is -.inf"),
        ("1e999", "steps[0].body.deal.amount is .inf"),
        ("[1, .NaN]", "steps[0].body.deal.amount[1] is .nan"),
    ],
)
def test_webhook_bodies_refuse_nan_and_infinity(tmp_path: Path, value: str, says: str) -> None:
    """A NaN or infinity anywhere in a webhook body is refused where it is written (the YAML
    reader refuses non-finite numbers in any document, NUMBER_OUT_OF_RANGE): JSON cannot
    carry it, and the plan's encoding used to send null instead."""
    body = (
        "steps:\n  - id: hook\n    type: webhook\n    url: https://crm.example.com/h\n"
        f"    body: {{deal: {{amount: {value}, name: ok}}}}\n"
    )
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(HEAD + body)
    _, diagnostics = check([tmp_path / "set"])
    assert [d.code for d in diagnostics] == [Code.NUMBER_OUT_OF_RANGE]
    shown = str(diagnostics[0])
    assert "probe.yaml:12:" in shown and "steps[0].body.deal.amount" in shown, shown


def test_webhook_bodies_with_finite_numbers_pass(tmp_path: Path) -> None:
    """Big, small, negative and nested finite numbers, text and nulls are a valid body."""
    body = (
        "steps:\n  - id: hook\n    type: webhook\n    url: https://crm.example.com/h\n"
        "    body: {a: 1e300, b: -0.0, c: [1, 2.5, {d: null}], e: '.nan'}\n"
    )
    assert codes(tmp_path, body) == []
