"""What a run reads of an account's health, from its plan: the account wakes a journey only
when one of these changed, so reading too little would starve a journey of news it needs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import load
from engine.language._errors import ValidationFailed
from engine.language._plan import Plan
from engine.language._plan_reads import ALL_HEALTH, health_reads, health_wakes

HEALTH = (Path(__file__).parents[2] / "fixtures" / "forwarding" / "health.yaml").read_text()
HEAD = """kind: Playbook
name: p
version: 1
description: A playbook.
owner: cs-ops@example.com
stage: adopt
entry: {event: contract.signed}
reentry: {policy: never}
"""


def reads(tmp_path: Path, body: str) -> list[str]:
    return health_reads(_plan(tmp_path, body))


def _plan(tmp_path: Path, body: str) -> Plan:
    (tmp_path / "health.yaml").write_text(HEALTH)
    (tmp_path / "p.yaml").write_text(HEAD + body)
    [plan] = load([tmp_path]).plans()
    return plan


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("steps:\n  - {id: w, type: wait, for: 3d}\n", []),
        (
            "goal: {when: {field: health.tier, eq: healthy}}\n"
            "steps:\n  - {id: w, type: wait, for: 3d}\n",
            ["health.tier"],
        ),
        (
            "exit: {when: {field: health.components.usage, lt: 20}}\n"
            "steps:\n  - {id: w, type: wait_for, condition: {field: health.score, lt: 40},"
            " timeout: 3d}\n",
            ["health.components.usage", "health.score"],
        ),
        (
            "steps:\n  - {id: w, type: wait_for, condition: {change: health.score,"
            " over: 30d, lt: -10}, timeout: 3d}\n",
            ["health.score"],
        ),
        (
            "steps:\n  - {id: b, type: branch, condition: {cel: 'health.score < 40'},"
            " then: [{id: t, type: wait, for: 1d}]}\n",
            [ALL_HEALTH],
        ),
        (
            "steps:\n  - {id: t, type: task, title: 'Call ({{ health.tier }})', assignee: csm,"
            " due: 1d}\n",
            [ALL_HEALTH],
        ),
        ("steps:\n  - {id: n, type: notify, channel: '#cs', message: Kickoff}\n", [ALL_HEALTH]),
    ],
    ids=["nothing", "tier-goal", "exit-and-wait-for", "change", "cel", "template", "chat"],
)
def test_a_plan_reads_the_health_its_conditions_texts_and_chat_lines_read(
    tmp_path: Path, body: str, expected: list[str]
) -> None:
    """Fields compared or measured are read one by one; a CEL expression or a text that
    mentions health, or a chat line (it shows the score and tier), reads all of it."""
    assert reads(tmp_path, body) == expected


def test_the_entry_rule_is_the_accounts_not_the_runs(tmp_path: Path) -> None:
    """A playbook that enters on a health drop but never looks at health again reads none."""
    body = "steps:\n  - {id: w, type: wait, for: 3d}\n"
    text = HEAD.replace(
        "entry: {event: contract.signed}", "entry: {when: {field: health.score, lt: 40}}"
    )
    (tmp_path / "health.yaml").write_text(HEALTH)
    (tmp_path / "p.yaml").write_text(text + body)
    [plan] = load([tmp_path]).plans()
    assert health_reads(plan) == []


def test_today_is_a_cel_variable_and_a_misspelling_is_refused(tmp_path: Path) -> None:
    """`today` validates; `todya` is a CEL_NAME with the hint."""
    goal = "goal: {when: {cel: 'account.attributes.trial_end <= today'}}\n"
    ok = goal + "steps:\n  - {id: w, type: wait, for: 3d}\n"
    assert reads(tmp_path, ok) == []
    bad = ok.replace("<= today", "<= todya")
    with pytest.raises(ValidationFailed) as refused:
        reads(tmp_path, bad)
    assert "todya" in str(refused.value) and "CEL_NAME" in str(refused.value)
    assert "today" in str(refused.value).replace("todya", "")  # the hint


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("steps:\n  - {id: w, type: wait, for: 3d}\n", []),
        (
            "goal: {when: {field: health.tier, eq: healthy}}\n"
            "steps:\n  - {id: n, type: notify, channel: '#cs', message: Kickoff}\n",
            ["health.tier"],
        ),
        (
            "exit: {when: {field: health.components.usage, lt: 20}}\n"
            "steps:\n  - {id: w, type: wait_for, condition: {change: health.score,"
            " over: 30d, lt: -10}, timeout: 3d}\n",
            ["health.components.usage", "health.score"],
        ),
        (
            "steps:\n  - {id: b, type: branch, condition: {cel: 'health.score < 40'},"
            " then: [{id: t, type: wait, for: 1d}]}\n",
            [ALL_HEALTH],
        ),
        (
            "steps:\n  - {id: t, type: task, title: 'Call ({{ health.tier }})', assignee: csm,"
            " due: 1d}\n",
            [],
        ),
        (
            "steps:\n  - {id: short, type: wait, for: 1d}\n  - {id: long, type: wait, for: 3d}\n"
            "experiment:\n  name: e\n  holdout: {share: 0.2}\n  variants:\n"
            "    - {name: brief, share: 0.4, steps: [short]}\n"
            "    - {name: thorough, share: 0.4, steps: [long]}\n",
            ["health.tier"],
        ),
    ],
    ids=["nothing", "tier-goal-and-chat", "exit-and-change", "cel", "text", "experiment"],
)
def test_a_journey_is_woken_by_the_health_its_decisions_read(
    tmp_path: Path, body: str, expected: list[str]
) -> None:
    """Conditions' fields one by one, all of it for a CEL condition that mentions health, the
    tier for an experiment (a held-out ladder waits for the critical tier); what only a text
    or a chat line shows wakes nothing (the action asks for current health as it renders)."""
    plan = _plan(tmp_path, body)
    assert health_wakes(plan) == expected
    assert set(expected) <= set(health_reads(plan)) | {"health.tier"}
