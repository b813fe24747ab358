"""A run's arm in its playbook's experiment, and what that arm keeps it from doing.

The arm is computed in the workflow from the account id, the playbook's name and the
experiment's name (:func:`engine.language._experiments.assign`: sha256, no random draw), so it
is the same in a replay, on a re-entry and in every version of the playbook, and the report
can trust the ``experiment`` decision it leaves in ``why``. Only runs of plans that declare
an experiment reach this module, and only behind ``workflow.patched(EXPERIMENT_ARMS)``.

The rules, in one place so the run and its ladder ask the same questions:
- a step that belongs to a variant runs only in that variant;
- a held-out account gets no customer-facing action (an email to ``customer``), and no
  internal one either when the holdout says ``internal: skip``;
- with ``internal: skip`` the ladder is held, but never while the account's health is in the
  critical tier, unless the playbook wrote ``escalation: hold`` (the guard rail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._search as sa
    from engine.language._experiments import HOLDOUT, ExperimentPlan, assign
    from engine.language._facts import Facts
    from engine.language._plan import (
        EmailNode,
        Node,
        NotifyNode,
        StartPlaybookNode,
        TaskNode,
        WebhookNode,
    )

EXPERIMENT_ARMS = "experiment-arms"
"""workflow.patched id: runs of plans with an experiment are assigned an arm."""
CUSTOMER = "customer"
_ACTIONS = (EmailNode, TaskNode, NotifyNode, WebhookNode, StartPlaybookNode)


@dataclass(frozen=True)
class Arm:
    """Where one run's account fell in its playbook's experiment."""

    plan: ExperimentPlan
    name: str
    bucket: float

    @property
    def label(self) -> str:
        """``experiment:arm``, the ExperimentArm search attribute's value."""
        return f"{self.plan.name}:{self.name}"

    @property
    def seen(self) -> dict[str, Any]:
        return {"experiment": self.plan.name, "arm": self.name, "bucket": round(self.bucket, 6)}


@dataclass(frozen=True)
class Held:
    """A step the arm keeps from running: the decision to record instead."""

    kind: str
    seen: dict[str, Any]
    why: str


def assign_arm(account_id: str, playbook: str, plan: ExperimentPlan | None) -> Arm | None:
    """The run's arm, upserted as its ExperimentArm; None for a plan without an experiment or
    a run that began before experiments (replayed as it ran)."""
    if plan is None or not workflow.patched(EXPERIMENT_ARMS):
        return None
    name, position = assign(plan, account_id, playbook)
    arm = Arm(plan=plan, name=name, bucket=position)
    workflow.upsert_search_attributes([sa.EXPERIMENT_ARM.value_set(arm.label)])
    return arm


def describe(arm: Arm) -> str:
    """The ``experiment`` decision's detail: the arm and what it means for this account."""
    shares = ", ".join(f"{name} {share:.0%}" for name, share in arm.plan.arms())
    if arm.name == HOLDOUT:
        means = "no customer-facing actions from this playbook" + (
            ", nor internal ones" if arm.plan.internal == "skip" else ""
        )
    else:
        variant = arm.name in {v.name for v in arm.plan.variants}
        means = f"runs variant {arm.name}'s steps" if variant else "runs the playbook as written"
    return f"arm {arm.name} ({means}); arms: {shares}"


def held(arm: Arm | None, node: Node) -> Held | None:
    """Why ``node`` does not run for this arm, or None when it runs."""
    if arm is None:
        return None
    variant = arm.plan.variant_of(node.id)
    seen = arm.seen
    if variant is not None and variant != arm.name:
        return Held("skipped", seen, f"step of variant {variant}; this account is in {arm.name}")
    if arm.name != HOLDOUT or not isinstance(node, _ACTIONS):
        return None
    experiment = arm.plan.name
    if isinstance(node, EmailNode) and CUSTOMER in (*node.to, *node.cc):
        why = f"held out by experiment {experiment}: no customer-facing actions"
        return Held("held_out", seen, why)
    if arm.plan.internal == "skip":
        why = f"held out by experiment {experiment} (internal: skip): no internal actions"
        return Held("held_out", seen, why)
    return None


def ladder_held(arm: Arm | None, facts: Facts) -> bool:
    """Whether the ladder must not engage anyone now (the guard rail lets a critical account
    through unless the playbook holds the ladder explicitly)."""
    if arm is None or arm.name != HOLDOUT or arm.plan.internal != "skip":
        return False
    if arm.plan.escalation == "hold":
        return True
    return facts.health.tier != arm.plan.critical
