"""Did the playbook work? Outcomes per experiment arm and the difference between arms.

Accounts are compared by the arm the experiment put them in (a hash, so independent of why
they entered), never by whether they followed the play: that is what makes the difference a
measure of the playbook and not of the accounts it picks. Each account counts once per
experiment, from its first enrollment, and only once its horizon has passed (an account
enrolled last week has not had the chance to churn in 90 days).

Per arm, over the horizon after enrollment: churn (``contract.cancelled``), renewal
(``renewal.signed``), expansion (``expansion.closed-won`` or a higher ARR), health change
(health tiers moved, healthier positive) and days to the playbook's goal. Each arm is compared
with the reference arm (the holdout, else the first arm):

- proportions: the difference with Newcombe's hybrid score interval (his method 10: Wilson
  score intervals of each proportion, combined), 95%;
- means: the difference with a 95% percentile bootstrap, 2,000 resamples of each arm with a
  fixed seed, so the same data gives the same interval.

A comparison is "too few accounts" while an arm has fewer than :data:`MIN_PER_ARM`; else a
"difference" when the interval excludes 0, "no clear difference" when it does not, with the
accounts per arm a two-sided 5% test with 80% power would need to detect a difference of the
size seen. Plain inputs, no I/O: the store's decision log feeds it for ``playbook report``,
a simulation's decisions for a backtest.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from engine.dashboard._retention import CHURN_EVENT
from engine.journeys._messages import HistoryChange, JourneyRecord
from engine.language._errors import PlaybookError

RENEWED = "renewal.signed"
EXPANDED = "expansion.closed-won"
Z95 = 1.959963984540054
Z80 = 0.8416212335729143
DEFAULT_HORIZON = timedelta(days=90)
"""How long after enrollment outcomes are counted unless ``--horizon`` says otherwise."""
MIN_PER_ARM = 30
"""Below this many accounts in an arm, no comparison concludes (the normal approximations
behind the intervals need it, and a handful of accounts says little about a play)."""
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 26
PROPORTION_METHOD = "Newcombe hybrid score interval (Wilson), 95%"
MEAN_METHOD = f"percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}, 95%"


MAX_HORIZON_DAYS = 3660


class HorizonError(PlaybookError):
    """A horizon that cannot be read; the message says how to write one."""


def parse_horizon(text: str) -> timedelta:
    """``90d``, ``12w``: whole days or weeks, 1 day to 10 years."""
    match = re.fullmatch(r"([0-9]{1,5})([dw])", text.strip())
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1) if match else 0
    if not match or not 1 <= days <= MAX_HORIZON_DAYS:
        raise HorizonError(
            f"horizon {text[:40]!r}: write days or weeks from 1d to {MAX_HORIZON_DAYS}d,"
            " e.g. 90d or 12w"
        )
    return timedelta(days=days)


class Assignment(BaseModel):
    """An account's arm in a playbook's experiment, from its run's ``experiment`` decision."""

    account_id: str
    playbook: str
    experiment: str
    arm: str
    enrolled_at: datetime


class ArmOutcome(BaseModel):
    arm: str
    accounts: int
    churned: int
    renewed: int
    expanded: int
    churn_rate: float | None
    renewal_rate: float | None
    expansion_rate: float | None
    health_change: float | None
    """Mean tiers moved over the horizon (healthier positive)."""
    goal_reached: int
    goal_days: float | None
    """Mean days from enrollment to the goal, over the accounts that reached it."""


class Comparison(BaseModel):
    metric: str
    arm: str
    reference: str
    difference: float | None
    """``arm`` minus ``reference``: a rate's points as a fraction, or a mean's units."""
    low: float | None
    high: float | None
    method: str
    verdict: str
    needed_per_arm: int | None = None
    """Accounts per arm to detect a difference this size (5% two-sided, 80% power)."""


class ExperimentLift(BaseModel):
    playbook: str
    experiment: str
    horizon_days: int
    reference: str
    waiting: int
    """Accounts enrolled whose horizon has not passed yet: not counted."""
    arms: list[ArmOutcome]
    comparisons: list[Comparison]
    methods: dict[str, str] = Field(
        default_factory=lambda: {"proportions": PROPORTION_METHOD, "means": MEAN_METHOD}
    )


# Intervals ------------------------------------------------------------------------------------


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(a: int, n1: int, b: int, n2: int) -> tuple[float, float, float]:
    """The difference ``a/n1 - b/n2`` and Newcombe's hybrid score interval of it."""
    p1, p2 = a / n1, b / n2
    l1, u1 = wilson(a, n1)
    l2, u2 = wilson(b, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def bootstrap(values: list[float], reference: list[float]) -> tuple[float, float, float]:
    """The difference of means and its 95% percentile bootstrap interval (seeded)."""
    rnd = random.Random(BOOTSTRAP_SEED)
    d = statistics.fmean(values) - statistics.fmean(reference)
    diffs = sorted(
        statistics.fmean(rnd.choices(values, k=len(values)))
        - statistics.fmean(rnd.choices(reference, k=len(reference)))
        for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return d, diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs)) - 1]


def needed_for_proportions(p1: float, p2: float) -> int | None:
    """Accounts per arm to detect ``p1`` against ``p2`` (normal approximation)."""
    if p1 == p2:
        return None
    pooled = (p1 + p2) / 2
    top = Z95 * math.sqrt(2 * pooled * (1 - pooled)) + Z80 * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil((top / (p1 - p2)) ** 2)


def needed_for_means(values: list[float], reference: list[float]) -> int | None:
    d = statistics.fmean(values) - statistics.fmean(reference)
    if d == 0 or len(values) < 2 or len(reference) < 2:
        return None
    variance = (statistics.variance(values) + statistics.variance(reference)) / 2
    return math.ceil(2 * variance * ((Z95 + Z80) / d) ** 2) if variance else None


def _verdict(low: float, high: float, n1: int, n2: int) -> str:
    if min(n1, n2) < MIN_PER_ARM:
        return "too few accounts"
    return "difference" if low > 0 or high < 0 else "no clear difference"


# Outcomes -------------------------------------------------------------------------------------


class _Account(BaseModel):
    churned: bool
    renewed: bool
    expanded: bool
    health_change: float | None
    goal_days: float | None


def _tier_at(changes: list[HistoryChange], moment: datetime) -> str | None:
    tier = None
    for change in changes:
        if change.at > moment:
            break
        if change.kind == "tier":
            tier = change.new
    return tier


def _arr(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _outcome(
    a: Assignment,
    changes: list[HistoryChange],
    goals: list[JourneyRecord],
    horizon: timedelta,
    tiers: list[str],
) -> _Account:
    end = a.enrolled_at + horizon
    inside = [c for c in changes if a.enrolled_at < c.at <= end]
    events = {c.new for c in inside if c.kind == "lifecycle"}
    grew = any(c.kind == "arr" and (_arr(c.new) or 0) > (_arr(c.old) or math.inf) for c in inside)
    rank = {name: i for i, name in enumerate(tiers)}
    before, after = _tier_at(changes, a.enrolled_at), _tier_at(changes, end)
    moved = (
        float(rank[before] - rank[after]) if before in rank and after in rank else None
    )  # tiers are listed healthiest first: moving up the list is a gain
    reached = [
        (j.ended_at - j.enrolled_at).total_seconds() / 86400
        for j in goals
        if j.ended_by == "goal" and a.enrolled_at <= j.enrolled_at and j.ended_at <= end
    ]
    return _Account(
        churned=CHURN_EVENT in events,
        renewed=RENEWED in events,
        expanded=EXPANDED in events or grew,
        health_change=moved,
        goal_days=min(reached) if reached else None,
    )


def lift(
    assignments: list[Assignment],
    changes: list[HistoryChange],
    journeys: list[JourneyRecord],
    as_of: datetime,
    horizon: timedelta,
    tiers: list[str],
) -> list[ExperimentLift]:
    """Every experiment's arms and comparisons, for accounts whose ``horizon`` passed by
    ``as_of``; ``tiers`` names the health tiers healthiest first."""
    by_account: dict[str, list[HistoryChange]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.at):
        by_account[change.account_id].append(change)
    goals: dict[tuple[str, str], list[JourneyRecord]] = defaultdict(list)
    for journey in journeys:
        goals[(journey.account_id, journey.playbook)].append(journey)
    first: dict[tuple[str, str, str], Assignment] = {}
    for a in sorted(assignments, key=lambda a: a.enrolled_at):
        first.setdefault((a.playbook, a.experiment, a.account_id), a)
    groups: dict[tuple[str, str], list[Assignment]] = defaultdict(list)
    for (playbook, experiment, _), a in first.items():
        groups[(playbook, experiment)].append(a)
    out = []
    for (playbook, experiment), members in sorted(groups.items()):
        ready = [a for a in members if a.enrolled_at + horizon <= as_of]
        arms: dict[str, list[_Account]] = defaultdict(list)
        for a in ready:
            outcome = _outcome(
                a, by_account[a.account_id], goals[(a.account_id, playbook)], horizon, tiers
            )
            arms[a.arm].append(outcome)
        names = sorted(arms, key=lambda n: (n != "holdout", n))
        reference = names[0] if names else "holdout"
        out.append(
            ExperimentLift(
                playbook=playbook,
                experiment=experiment,
                horizon_days=round(horizon.total_seconds() / 86400),
                reference=reference,
                waiting=len(members) - len(ready),
                arms=[_arm(name, arms[name]) for name in names],
                comparisons=[
                    c
                    for name in names[1:]
                    for c in _compare(name, arms[name], reference, arms[reference])
                ],
            )
        )
    return out


def _rate(count: int, n: int) -> float | None:
    return count / n if n else None


def _arm(name: str, accounts: list[_Account]) -> ArmOutcome:
    n = len(accounts)
    health = [a.health_change for a in accounts if a.health_change is not None]
    goal = [a.goal_days for a in accounts if a.goal_days is not None]
    churned = sum(a.churned for a in accounts)
    renewed = sum(a.renewed for a in accounts)
    expanded = sum(a.expanded for a in accounts)
    return ArmOutcome(
        arm=name,
        accounts=n,
        churned=churned,
        renewed=renewed,
        expanded=expanded,
        churn_rate=_rate(churned, n),
        renewal_rate=_rate(renewed, n),
        expansion_rate=_rate(expanded, n),
        health_change=statistics.fmean(health) if health else None,
        goal_reached=len(goal),
        goal_days=statistics.fmean(goal) if goal else None,
    )


_RATES = {"churned": "churn_rate", "renewed": "renewal_rate", "expanded": "expansion_rate"}


def _compare(
    name: str, accounts: list[_Account], reference: str, base: list[_Account]
) -> list[Comparison]:
    out = []
    n1, n2 = len(accounts), len(base)
    for metric in ("churned", "renewed", "expanded"):
        a = sum(getattr(x, metric) for x in accounts)
        b = sum(getattr(x, metric) for x in base)
        if n1 and n2:
            d, low, high = newcombe(a, n1, b, n2)
            verdict, needed = _verdict(low, high, n1, n2), needed_for_proportions(a / n1, b / n2)
        else:
            d = low = high = None  # type: ignore[assignment]
            verdict, needed = "too few accounts", None
        out.append(
            Comparison(
                metric=_RATES[metric],
                arm=name,
                reference=reference,
                difference=d,
                low=low,
                high=high,
                method=PROPORTION_METHOD,
                verdict=verdict,
                needed_per_arm=needed,
            )
        )
    for metric, values, ref in (
        (
            "health_change",
            [x.health_change for x in accounts if x.health_change is not None],
            [x.health_change for x in base if x.health_change is not None],
        ),
        (
            "goal_days",
            [x.goal_days for x in accounts if x.goal_days is not None],
            [x.goal_days for x in base if x.goal_days is not None],
        ),
    ):
        if values and ref:
            d, low, high = bootstrap(values, ref)
            verdict = _verdict(low, high, len(values), len(ref))
            needed = needed_for_means(values, ref)
        else:
            d = low = high = None  # type: ignore[assignment]
            verdict, needed = "too few accounts", None
        out.append(
            Comparison(
                metric=metric,
                arm=name,
                reference=reference,
                difference=d,
                low=low,
                high=high,
                method=MEAN_METHOD,
                verdict=verdict,
                needed_per_arm=needed,
            )
        )
    return out


def table(
    lifts: list[ExperimentLift],
) -> list[tuple[str, str, list[str], list[tuple[str, list[str]]]]]:
    """Each experiment as (key, title, headers, rows of (key, cells)) for the dashboard's
    faces (engine.dashboard._view wraps them into sections)."""
    out = []
    for lift_ in lifts:
        key = f"experiment.{lift_.playbook}.{lift_.experiment}"
        rows: list[tuple[str, list[str]]] = []
        for arm in lift_.arms:
            rows.append(
                (
                    f"{key}.arm.{arm.arm}",
                    [
                        f"arm {arm.arm}",
                        f"{arm.accounts} accounts",
                        f"churn {_pct(arm.churn_rate)}",
                        f"renewal {_pct(arm.renewal_rate)}",
                        f"expansion {_pct(arm.expansion_rate)}",
                        f"health {_num(arm.health_change)} tiers",
                        f"goal {arm.goal_reached}, {_num(arm.goal_days)} days",
                    ],
                )
            )
        for c in lift_.comparisons:
            percent = c.metric.endswith("_rate")
            shown = _pct if percent else _num
            rows.append(
                (
                    f"{key}.{c.arm}.{c.metric}",
                    [
                        f"{c.arm} vs {c.reference}",
                        c.metric,
                        f"{shown(c.difference, signed=True)}",
                        f"[{shown(c.low, signed=True)}, {shown(c.high, signed=True)}]",
                        c.verdict,
                        f"n/arm to detect: {c.needed_per_arm}" if c.needed_per_arm else "-",
                        c.method,
                    ],
                )
            )
        title = (
            f"Experiment {lift_.experiment} ({lift_.playbook}): outcomes {lift_.horizon_days}d"
            f" after enrollment, {lift_.waiting} accounts still inside their horizon"
        )
        out.append((key, title, ["arm / comparison", "", "", "", "", "", ""], rows))
    return out


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f} pts" if signed else f"{value * 100:.1f}%"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"
