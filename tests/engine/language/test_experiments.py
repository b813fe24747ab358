"""Experiments in the language: what is refused (with its line), what compiles, and the
assignment of accounts to arms."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from engine import Code, check, load
from engine.language._experiments import ExperimentPlan, VariantPlan, assign, bucket

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"

HEAD = """\
kind: Playbook
name: probe
version: 1
description: d
owner: o
stage: retain
entry: {event: contract.signed}
steps:
  - {id: hello, type: email, template: welcome, to: [customer]}
  - {id: call, type: task, title: Call, assignee: csm, due: 1d}
"""


def diagnose(tmp_path: Path, experiment: str, health_extra: str = "") -> list[str]:
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(HEAD + experiment)
    if health_extra:
        with (tmp_path / "set" / "health.yaml").open("a") as file:
            file.write(health_extra)
    _, diagnostics = check([tmp_path / "set" / "probe.yaml"])
    return [str(d) for d in diagnostics]


@pytest.mark.parametrize(
    ("experiment", "code", "line"),
    [
        ("experiment: {name: x}\n", Code.FIELD_MISSING, 11),
        ("experiment: {name: x, holdout: {share: 0}}\n", Code.FIELD_VALUE, 11),
        ("experiment: {name: x, holdout: {share: 1}}\n", Code.FIELD_VALUE, 11),
        ("experiment: {name: x, holdout: {share: 0.3}}\n", Code.EXPERIMENT_SHARES, 11),
        (
            "experiment:\n  name: x\n  holdout: {share: 0.2}\n  variants:\n"
            "    - {name: a, share: 0.5}\n    - {name: b, share: 0.4}\n",
            Code.EXPERIMENT_SHARES,
            12,
        ),
        (
            "experiment:\n  name: x\n  variants:\n    - {name: a, share: 0.5}\n",
            Code.EXPERIMENT_SHARES,
            12,
        ),
        (
            "experiment:\n  name: x\n  variants:\n    - {name: a, share: 0.5, steps: [helo]}\n"
            "    - {name: b, share: 0.5}\n",
            Code.REF_STEP,
            14,
        ),
        (
            "experiment:\n  name: x\n  variants:\n    - {name: a, share: 0.5, steps: [hello]}\n"
            "    - {name: b, share: 0.5, steps: [hello]}\n",
            Code.NAME_DUPLICATE,
            15,
        ),
        (
            "experiment:\n  name: x\n  variants:\n    - {name: holdout, share: 0.5}\n"
            "    - {name: b, share: 0.5}\n",
            Code.NAME_DUPLICATE,
            12,
        ),
        (
            "experiment: {name: x, holdout: {share: 0.1, critical: red}}\n",
            Code.REF_HEALTH_TIER,
            11,
        ),
    ],
)
def test_a_bad_experiment_is_one_positioned_line(
    tmp_path: Path, experiment: str, code: Code, line: int
) -> None:
    """Shares out of (0,1), over 1 in sum or above the set's maximum holdout, one variant,
    unknown or shared variant steps, reserved names and an unknown critical tier are refused
    with one line naming file, line and code."""
    found = diagnose(tmp_path, experiment)
    assert len(found) == 1, found
    assert f"probe.yaml:{line}:" in found[0] and found[0].endswith(f"[{code}]"), found[0]


def test_the_set_can_raise_its_maximum_holdout(tmp_path: Path) -> None:
    """A HealthModel's experiments.max_holdout allows a larger holdout than the default 0.2."""
    experiment = "experiment: {name: x, holdout: {share: 0.3}}\n"
    assert diagnose(tmp_path / "a", experiment, "experiments: {max_holdout: 0.5}\n") == []
    low = diagnose(tmp_path / "b", experiment, "experiments: {max_holdout: 0.25}\n")
    assert len(low) == 1 and "maximum of 0.25" in low[0]


def test_an_experiment_compiles_into_the_plan_and_changes_its_hash(tmp_path: Path) -> None:
    """The plan carries the experiment's arms; a playbook without one keeps its old hash."""
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(HEAD)
    plain = load([tmp_path / "set" / "probe.yaml"]).plan("probe")
    assert "experiment" not in plain.model_dump(mode="json")
    (tmp_path / "set" / "probe.yaml").write_text(
        HEAD
        + "experiment:\n  name: q1\n  holdout: {share: 0.1}\n  variants:\n"
        + "    - {name: short, share: 0.45, steps: [call]}\n    - {name: long, share: 0.45}\n"
    )
    plan = load([tmp_path / "set" / "probe.yaml"]).plan("probe")
    assert plan.experiment is not None and plan.hash != plain.hash
    arms = plan.experiment.arms()
    assert [name for name, _ in arms] == ["holdout", "short", "long"]
    assert plan.experiment.variant_of("call") == "short"
    assert plan.experiment.variant_of("hello") is None


def test_assignment_is_close_to_the_shares_over_ten_thousand_accounts() -> None:
    """Over 10,000 ids every arm gets its declared share within 1.5 points, and assigning
    again (a re-entry, a new version, another process) gives every id the same arm."""
    plan = ExperimentPlan(
        name="q1",
        holdout=0.1,
        variants=[
            VariantPlan(name="a", share=0.3, steps=[]),
            VariantPlan(name="b", share=0.3, steps=[]),
        ],
    )
    ids = [f"acct-{i:05d}" for i in range(10_000)]
    first = {i: assign(plan, i, "rescue")[0] for i in ids}
    counts = Counter(first.values())
    for name, share in plan.arms():
        assert abs(counts[name] / len(ids) - share) < 0.015, (name, counts)
    assert {i: assign(plan, i, "rescue")[0] for i in ids} == first
    # A new version that changes the shares moves only the accounts at the edges it moved.
    wider = plan.model_copy(update={"holdout": 0.15})
    moved = sum(first[i] == "holdout" and assign(wider, i, "rescue")[0] != "holdout" for i in ids)
    assert moved == 0


def test_the_bucket_is_a_fixed_hash_not_pythons_salted_one() -> None:
    """The bucket is sha256-based: known values, independent between experiments."""
    assert bucket("acct-1", "rescue", "q1") == bucket("acct-1", "rescue", "q1")
    assert 0 <= bucket("acct-1", "rescue", "q1") < 1
    assert round(bucket("acct-1", "rescue", "q1"), 6) == pytest.approx(
        int.from_bytes(__import__("hashlib").sha256(b"acct-1\x1frescue\x1fq1").digest()[:8], "big")
        / 2**64,
        abs=1e-6,
    )
    other = [bucket(f"a{i}", "rescue", "q2") < 0.1 for i in range(2000)]
    same = [bucket(f"a{i}", "rescue", "q1") < 0.1 for i in range(2000)]
    overlap = sum(x and y for x, y in zip(other, same, strict=True))
    assert overlap < 60  # about 1% of 2,000 if independent, 10% if not
