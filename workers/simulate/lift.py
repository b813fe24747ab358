"""A backtest's experiments: the lift report (engine.dashboard._lift) over a simulated book.

In production the arms come from the runs' ``experiment`` decisions in the store; a book run
in shards does not query every run, so here each enrollment's arm is computed with the same
function the run used (:func:`engine.language._experiments.assign`: a hash, so the same
answer), and the outcomes come from the book's outcomes file: a churn is its
``contract.cancelled``, a renewal its ``renewal.signed``, an expansion both a renewal and an
``expansion.closed-won``. Health tiers and goals are not in a backtest's records, so those
comparisons read "too few accounts".
"""

from __future__ import annotations

from datetime import timedelta

from engine.dashboard._lift import RENEWED, Assignment, ExperimentLift, lift
from engine.dashboard._retention import CHURN_EVENT
from engine.journeys._messages import HistoryChange
from engine.language._experiments import assign
from engine.language._plan import Plan
from workers.simulate.inputs import Outcome
from workers.simulate.runner import Result

_EVENTS = {
    "churned": [CHURN_EVENT],
    "renewed": [RENEWED],
    "expanded": [RENEWED, "expansion.closed-won"],
}


def experiments(
    result: Result, outcomes: list[Outcome], plans: dict[str, Plan], horizon: timedelta
) -> list[ExperimentLift]:
    """Each experiment of ``plans`` over the book, outcomes ``horizon`` after enrollment."""
    assignments = []
    for account, status in result.accounts.items():
        for d in status.why:
            plan = plans.get(d.playbook)
            if d.kind != "enrolled" or plan is None or plan.experiment is None:
                continue
            arm, _ = assign(plan.experiment, account, plan.name)
            assignments.append(
                Assignment(
                    account_id=account,
                    playbook=plan.name,
                    experiment=plan.experiment.name,
                    arm=arm,
                    enrolled_at=d.at,
                )
            )
    if not assignments:
        return []
    changes = [
        HistoryChange(
            key=f"{o.account}/{o.outcome}/{name}",
            account_id=o.account,
            at=result.t0 + timedelta(days=o.day),
            kind="lifecycle",
            new=name,
        )
        for o in outcomes
        if o.day is not None
        for name in _EVENTS[o.outcome]
    ]
    as_of = result.t0 + timedelta(days=result.days)
    return lift(assignments, changes, [], as_of, horizon, [])
