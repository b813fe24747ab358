"""Catch-up: what a run does with the actions whose date had passed when it reached them.

An account enrolled in a renewal play 20 days before its renewal reaches the play's -90, -60
and -30 day steps all at once; sending the customer three emails within seconds is what
no CS team wants. The walk notes when a ``wait until`` finds its date *passed* (more than a
day before the account enrolled, or more than a day behind after its anchor moved; see
``engine.journeys._waits.wait_until``) and forgets it at the next wait; the actions in
between are passed, and the playbook's ``catch_up`` (or the step's own) says which of them
still run. Every skip is recorded in ``why`` with the date that had passed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.language._plan import EmailNode, Node, Plan

GRACE = timedelta(days=1)
"""A date behind by less than this when reached is on time (the run started that day)."""
INTERNAL_ROLES = frozenset({"csm", "manager", "executive", "owner"})
"""The built-in roles on the vendor's side; the customer and declared roles may not be."""

Policy = Literal["skip-customer", "skip", "run"]


def reaches_customer(node: Node) -> bool:
    """Whether the action writes to someone outside the team: an email to the customer or to
    a declared role (a sponsor, a champion) the engine cannot tell is internal."""
    if isinstance(node, EmailNode):
        return any(role not in INTERNAL_ROLES for role in [*node.to, *node.cc])
    return False


def skipping_policy(plan: Plan, node: Node) -> Policy | None:
    """The policy that skips the passed action ``node``, or None when it runs anyway."""
    policy: Policy = getattr(node, "catch_up", None) or plan.catch_up
    if policy == "run" or (policy == "skip-customer" and not reaches_customer(node)):
        return None
    return policy
