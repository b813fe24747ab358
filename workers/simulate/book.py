"""A synthetic book of accounts, so anyone can run a backtest: seeded, so it is the same book.

Segments in the seeds' proportions (a few enterprise accounts with dedicated CSMs, more
mid-market on shared CSMs, most SMB on a pooled tech-touch team), weekly health readings
that improve, hold, decay or crash, renewal dates spread over the year, some new customers
signing during it, and outcomes correlated with the trajectory: a crash or a decay often
ends in churn (the contract is cancelled), healthy accounts renew and the best expand.

A book can carry a planted effect (:class:`Plant`): accounts in one arm of a playbook's
experiment (the engine's own assignment, so the same accounts the journeys put there) churn
with a probability moved by a known amount, so a backtest can show that the lift report
recovers it. In such a book every account's readings stop the day before its would-be churn
date whether it churns or not: otherwise the saved accounts would go on reading and enter
plays their twins never reached, and the effect measured among the accounts a play enrolled
would not be the one planted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from engine.language._experiments import ExperimentPlan, assign

SEGMENTS = (("enterprise", 0.1, 12), ("mid-market", 0.3, 40), ("smb", 0.6, 150))
"""(segment, share of accounts, accounts per CSM)."""
TRAJECTORIES = (("improve", 0.25), ("stable", 0.4), ("decay", 0.25), ("crash", 0.1))
CHURN_CHANCE = {"improve": 0.01, "stable": 0.05, "decay": 0.4, "crash": 0.7}
ARR = {"enterprise": (150_000, 600_000), "mid-market": (30_000, 150_000), "smb": (3_000, 30_000)}
START = date(2025, 1, 6)


@dataclass(frozen=True)
class Plant:
    """A known effect: accounts in ``arm`` of ``playbook``'s experiment churn with a
    probability ``churn`` higher (negative: lower), clipped to 0-1."""

    playbook: str
    experiment: ExperimentPlan
    arm: str
    churn: float

    def chance(self, account: str, base: float) -> float:
        if assign(self.experiment, account, self.playbook)[0] != self.arm:
            return base
        return min(1.0, max(0.0, base + self.churn))


@dataclass
class Book:
    rows: list[dict[str, Any]]
    """Events, one per row, with account and date, in date order."""
    outcomes: list[dict[str, Any]]


def generate(
    accounts: int,
    days: int,
    seed: int = 7,
    start: date = START,
    plant: Plant | None = None,
    mix: dict[str, float] | None = None,
) -> Book:
    """A book of ``accounts`` over ``days`` days from ``start``, with ``plant``'s effect and
    the trajectories in the proportions of ``mix`` (the shares of TRAJECTORIES when None)."""
    shares = list(mix.items()) if mix else list(TRAJECTORIES)
    total = sum(share for _, share in shares)
    shares = [(name, share / total) for name, share in shares]
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    counts = {name: 0 for name, _, _ in SEGMENTS}
    for index in range(accounts):
        segment = _pick(rnd, [(name, share) for name, share, _ in SEGMENTS])
        per_csm = next(size for name, _, size in SEGMENTS if name == segment)
        csm = counts[segment] // per_csm
        counts[segment] += 1
        account = f"acct-{index:05d}"
        trajectory = _pick(rnd, shares)
        new_customer = rnd.random() < 0.15
        joined = rnd.randint(0, max(days * 6 // 10, 1)) if new_customer else 0
        # A new customer renews a year after signing; the others at any time of the year.
        renewal = start + timedelta(
            days=joined + 365 if new_customer else rnd.randint(30, days + 180)
        )
        low, high = ARR[segment]
        attributes = {
            "name": f"Account {index}",
            "segment": segment,
            "owner": f"{segment}-csm-{csm + 1}@example.com",
            "manager": f"{segment}-manager@example.com",
            "executive": "vp-cs@example.com",
            "contact_email": f"admin@{account}.example",
            "arr": rnd.randrange(low, high, 500),
            "renewal_date": renewal.isoformat(),
        }
        chance = CHURN_CHANCE[trajectory]
        churns = rnd.random() < (plant.chance(account, chance) if plant else chance)
        crash_day = rnd.randint(joined + 30, max(joined + 31, days - 30))
        end = last = days
        if churns or plant:
            # Churn follows the decline: weeks after a crash, at renewal after a decay.
            after = crash_day if trajectory == "crash" else joined + (days - joined) // 2
            would = min(days, after + rnd.randint(30, 120), max((renewal - start).days, after + 7))
            end = would if churns else days
            # Planted: readings stop before the would-be churn whatever happens (see above).
            last = would - 1 if plant else end
        first = {"account": account, "date": _on(start, joined), "set": attributes}
        rows.append(first)
        if new_customer:
            rows.append(
                {"account": account, "date": _on(start, joined), "event": "contract.signed"}
            )
        base = rnd.uniform(70, 85)
        for day in range(joined, last + 1, 7):
            progress = (day - joined) / max(days - joined, 1)
            score = _score(trajectory, base, progress, day, crash_day, rnd)
            rows.append({"account": account, "date": _on(start, day), "score": score})
        renewal_day = (renewal - start).days
        if churns:
            rows.append(
                {"account": account, "date": _on(start, end), "event": "contract.cancelled"}
            )
            outcomes.append({"account": account, "outcome": "churned", "date": _on(start, end)})
        elif renewal_day <= days:
            signed = max(joined, renewal_day - rnd.randint(0, 40))
            rows.append({"account": account, "date": _on(start, signed), "event": "renewal.signed"})
            grew = trajectory == "improve" and rnd.random() < 0.5
            outcome = "expanded" if grew else "renewed"
            outcomes.append({"account": account, "outcome": outcome, "date": _on(start, signed)})
    rows.sort(key=lambda r: r["date"])
    return Book(rows=rows, outcomes=outcomes)


def _score(
    trajectory: str, base: float, progress: float, day: int, crash_day: int, rnd: random.Random
) -> float:
    if trajectory == "improve":
        value = base - 15 + 30 * progress
    elif trajectory == "decay":
        value = base - 40 * progress
    elif trajectory == "crash" and day >= crash_day:
        value = max(15.0, base - 55 * min(1.0, (day - crash_day) / 14))
    else:
        value = base
    return round(min(100.0, max(0.0, value + rnd.gauss(0, 3))), 1)


def _pick(rnd: random.Random, choices: list[tuple[str, float]]) -> str:
    roll, total = rnd.random(), 0.0
    for name, share in choices:
        total += share
        if roll < total:
            return name
    return choices[-1][0]


def _on(start: date, day: int) -> str:
    return (start + timedelta(days=day)).isoformat()
