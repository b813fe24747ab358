"""Outcomes per experiment arm and the intervals of their differences, from plain inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.dashboard._lift import (
    MEAN_METHOD,
    MIN_PER_ARM,
    PROPORTION_METHOD,
    Assignment,
    HorizonError,
    bootstrap,
    lift,
    needed_for_proportions,
    newcombe,
    parse_horizon,
    wilson,
)
from engine.journeys._messages import HistoryChange, JourneyRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = ["healthy", "good", "at-risk", "critical"]


def test_wilson_and_newcombe_match_the_published_examples() -> None:
    """Wilson 81/263 is 0.2553-0.3662 and Newcombe's method 10 for 56/70 - 48/80 is
    0.0524-0.3339 (Newcombe 1998, Stat Med 17:873), to four places."""
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    d, low, high = newcombe(56, 70, 48, 80)
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)


def test_the_bootstrap_is_seeded_and_brackets_the_difference() -> None:
    """The same data gives the same interval twice, and it holds the observed difference."""
    a = [float(i % 7) for i in range(60)]
    b = [float(i % 5) for i in range(50)]
    first = bootstrap(a, b)
    assert bootstrap(a, b) == first
    d, low, high = first
    assert low < d < high


def test_the_sample_size_needed_grows_as_the_difference_shrinks() -> None:
    """About 93 per arm detect 0.40 against 0.20; many more detect 0.40 against 0.35."""
    big = needed_for_proportions(0.4, 0.2)
    assert big is not None and 80 < big < 100
    small = needed_for_proportions(0.4, 0.35)
    assert small is not None and small > 1000
    assert needed_for_proportions(0.3, 0.3) is None


def _book(
    n: int, churn_treated: int, churn_held: int
) -> tuple[list[Assignment], list[HistoryChange]]:
    assignments, changes = [], []
    for i in range(n):
        arm = "holdout" if i % 2 else "treated"
        account = f"a{i}"
        at = T0 + timedelta(days=i % 10)
        assignments.append(
            Assignment(
                account_id=account, playbook="rescue", experiment="q1", arm=arm, enrolled_at=at
            )
        )
        changes.append(
            HistoryChange(
                key=f"{account}/t0",
                account_id=account,
                at=at - timedelta(days=1),
                kind="tier",
                new="critical",
            )
        )
        index = i // 2
        churns = index < (churn_treated if arm == "treated" else churn_held)
        if churns:
            changes.append(
                HistoryChange(
                    key=f"{account}/c",
                    account_id=account,
                    at=at + timedelta(days=30),
                    kind="lifecycle",
                    new="contract.cancelled",
                )
            )
        else:
            changes.append(
                HistoryChange(
                    key=f"{account}/t1",
                    account_id=account,
                    at=at + timedelta(days=20),
                    kind="tier",
                    old="critical",
                    new="good",
                )
            )
    return assignments, changes


def test_arms_are_compared_with_the_holdout_with_the_method_named() -> None:
    """100 accounts per arm, 20 churn treated and 40 held out: churn -20 points, an interval
    below 0, a difference; health gains compared by bootstrap; each method stated."""
    assignments, changes = _book(200, churn_treated=20, churn_held=40)
    [result] = lift(assignments, changes, [], T0 + timedelta(days=200), timedelta(days=90), TIERS)
    assert result.reference == "holdout" and [a.arm for a in result.arms] == ["holdout", "treated"]
    held, treated = result.arms
    assert (held.accounts, held.churned, treated.churned) == (100, 40, 20)
    churn = next(c for c in result.comparisons if c.metric == "churn_rate")
    assert churn.difference == pytest.approx(-0.2)
    assert churn.high is not None and churn.high < 0 and churn.verdict == "difference"
    assert churn.method == PROPORTION_METHOD
    health = next(c for c in result.comparisons if c.metric == "health_change")
    assert health.method == MEAN_METHOD and health.difference == pytest.approx(0.4)
    assert treated.health_change == pytest.approx(1.6)  # 80 of 100 moved critical -> good
    assert result.methods == {"proportions": PROPORTION_METHOD, "means": MEAN_METHOD}


def test_outcomes_outside_the_horizon_and_accounts_inside_it_do_not_count() -> None:
    """A churn after the horizon is not a churn of the play; an account enrolled less than a
    horizon ago waits; re-entries count once, from the first enrollment."""
    assignments, changes = _book(4, churn_treated=2, churn_held=2)
    late = Assignment(
        account_id="late",
        playbook="rescue",
        experiment="q1",
        arm="treated",
        enrolled_at=T0 + timedelta(days=150),
    )
    again = assignments[0].model_copy(update={"enrolled_at": T0 + timedelta(days=100)})
    [short] = lift(
        [*assignments, late, again],
        changes,
        [],
        T0 + timedelta(days=160),
        timedelta(days=20),
        TIERS,
    )
    assert short.waiting == 1
    assert sum(a.churned for a in short.arms) == 0  # the churns came on day 30, after 20d
    assert sum(a.accounts for a in short.arms) == 4


def test_few_accounts_never_conclude_and_goals_are_timed() -> None:
    """Under the minimum per arm the verdict is too few accounts; days to goal are averaged
    over the accounts that reached it within the horizon."""
    assignments, changes = _book(10, churn_treated=0, churn_held=5)
    goals = [
        JourneyRecord(
            workflow_id=f"w{i}",
            account_id=a.account_id,
            playbook="rescue",
            version=1,
            stage="retain",
            cycle=1,
            enrolled_at=a.enrolled_at,
            ended_at=a.enrolled_at + timedelta(days=12),
            outcome="success",
            ended_by="goal",
        )
        for i, a in enumerate(assignments)
        if a.arm == "treated"
    ]
    [result] = lift(
        assignments, changes, goals, T0 + timedelta(days=200), timedelta(days=90), TIERS
    )
    assert MIN_PER_ARM > 5
    assert {c.verdict for c in result.comparisons} == {"too few accounts"}
    treated = next(a for a in result.arms if a.arm == "treated")
    assert treated.goal_reached == 5 and treated.goal_days == pytest.approx(12)


@pytest.mark.parametrize("text", ["", "90", "3mo", "0d", "9999w", "1.5d", "d"])
def test_a_bad_horizon_is_one_line(text: str) -> None:
    """Anything but whole days or weeks from 1d to 10 years is refused with a hint."""
    with pytest.raises(HorizonError, match=r"e\.g\. 90d or 12w"):
        parse_horizon(text)
    assert parse_horizon("12w") == timedelta(days=84)
