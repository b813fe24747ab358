"""Compilation: a deterministic, hashed plan that changes exactly when behaviour does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import Plan, load
from engine.language._plan import (
    BranchNode,
    ComparePlan,
    TaskNode,
    WaitForNode,
    WaitNode,
)
from engine.language._plan_reads import history_windows

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"
PLAYBOOKS = Path(__file__).parents[3] / "playbooks"


@pytest.fixture
def book(tmp_path: Path) -> Path:
    shutil.copytree(BASIC, tmp_path / "set")
    return tmp_path / "set"


def plan(directory: Path) -> Plan:
    return load([directory]).plan("care")


def test_same_yaml_same_hash(book: Path) -> None:
    """Compiling the same files twice gives the same hash."""
    assert plan(book).hash == plan(book).hash


def test_layout_and_comments_do_not_change_the_hash(book: Path) -> None:
    """Reformatting, reordering mapping keys and comments leave the hash alone."""
    before = plan(book).hash
    care = book / "care.yaml"
    original = care.read_text()
    text = original.replace("version: 1\n", "# a comment\nversion:   1\n")
    text = text.replace(
        "    - {id: csm, notify: [csm], via: [task], title: Save plan, ack_sla: 2d}\n",
        "    - id: csm\n      ack_sla: 2d\n      notify:\n        - csm\n"
        '      via: [task]\n      title: "Save plan"\n',
    )
    assert text.count("\n") == original.count("\n") + 6
    care.write_text(text)
    assert plan(book).hash == before


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("for: 3d", "for: 4d"),
        ("version: 1", "version: 2"),
        ("title: Call the customer", "title: Call the customer today"),
        ("{field: health.score, gte: 80}", "{field: health.score, gte: 81}"),
        ("cooldown: 30d", "cooldown: 31d"),
        ("priority: high", "priority: urgent"),
        ("for: 7d", "for: 8d"),
    ],
)
def test_semantic_edits_change_the_hash(book: Path, old: str, new: str) -> None:
    """Any edit that changes behaviour changes the hash."""
    before = plan(book).hash
    care = book / "care.yaml"
    assert old in care.read_text()
    care.write_text(care.read_text().replace(old, new, 1))
    assert plan(book).hash != before


def test_template_edits_change_the_hash(book: Path) -> None:
    """Templates travel inside the plan, so editing one changes the plans that use it."""
    before = plan(book).hash
    template = book / "templates" / "welcome.yaml"
    template.write_text(template.read_text().replace("text: Hello", "text: Hello there"))
    assert plan(book).hash != before


def test_plan_is_a_flat_graph(book: Path) -> None:
    """Nested steps become nodes linked by id; a guarded goto becomes a branch; seconds."""
    compiled = plan(book)
    assert compiled.start == "hello"
    assert list(compiled.nodes) == ["hello", "pause", "look", "call", "again", "done"]
    pause, look, call, again = (compiled.nodes[i] for i in ("pause", "look", "call", "again"))
    assert isinstance(pause, WaitNode) and pause.seconds == 3 * 86_400
    assert isinstance(look, WaitForNode)
    assert (look.on_met, look.on_timeout, look.timeout_seconds) == ("again", "call", 7 * 86_400)
    assert isinstance(call, TaskNode) and call.next == "again" and call.due_seconds == 2 * 86_400
    assert isinstance(again, BranchNode)
    assert (again.then, again.otherwise) == ("pause", "done")
    assert isinstance(again.condition, ComparePlan)
    assert compiled.reentry.cooldown_seconds == 30 * 86_400
    assert compiled.escalation is not None
    assert compiled.escalation.recovery_for_seconds == 7 * 86_400
    assert set(compiled.templates) == {"welcome"}


def test_plan_round_trips_through_json(book: Path) -> None:
    """The plan is plain data: JSON out and back gives an equal plan with the same hash."""
    compiled = plan(book)
    again = Plan.model_validate_json(compiled.model_dump_json())
    assert again == compiled


def test_cli_compile_prints_version_and_hash_twice_the_same(book: Path) -> None:
    """`playbook compile` prints the name, version and hash, identically on each run."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "playbook_cli", "compile", str(book / "care.yaml")]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert first == second
    assert first.splitlines()[0] == "care version 1"
    assert first.splitlines()[1] == f"hash {plan(book).hash}"


def test_history_windows_are_the_changes_a_run_measures() -> None:
    """A run needs the readings of the changes its steps, goal, exit and ladder measure, over
    the longest window; a change in the entry rule is the account's, not the run's."""
    shipped = load([PLAYBOOKS])
    assert history_windows(shipped.plan("adoption")) == {"health.components.usage": 30 * 86_400}
    assert history_windows(shipped.plan("churn-prevention")) == {}
    assert history_windows(shipped.plan("renewal")) == {}


def test_the_same_set_from_two_directories_is_the_same_catalog(tmp_path: Path) -> None:
    """The shipped set copied elsewhere: every plan and the catalog hash the same, though
    each plan (and the health model) remembers the file it came from."""
    from engine import load
    from engine.journeys._catalog import build_catalog

    shipped = Path(__file__).parents[3] / "playbooks"
    copy = tmp_path / "elsewhere"
    shutil.copytree(shipped, copy)
    here, there = load([shipped]), load([copy])
    a = build_catalog(here.plans(), here.health_plan())  # type: ignore[arg-type]
    b = build_catalog(there.plans(), there.health_plan())  # type: ignore[arg-type]
    assert a.health.source != b.health.source
    assert a.hash == b.hash
