"""Health scoring by the health model: weights per segment, missing policies, tiers, trend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import HealthModelPlan, load
from engine.journeys._overrides import HealthOverride, effective
from engine.journeys._scoring import score, tier, trend
from engine.language._facts import Health, Sample

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"
DAY = 86_400


@pytest.fixture(scope="module")
def model() -> HealthModelPlan:
    plan = load([BASIC]).health_plan()
    assert plan is not None
    return plan


def test_weighted_score(model: HealthModelPlan) -> None:
    """usage 30%, engagement 20%, support 15%, nps 15%, billing 20%: computed by hand."""
    values = {"usage": 50, "engagement": 100, "support": 80, "nps": 60, "billing": 100}
    assert score(model, "smb", values) == pytest.approx(15 + 20 + 12 + 9 + 20)


def test_missing_components_renormalise(model: HealthModelPlan) -> None:
    """With only usage (30) and billing (20) known, they weigh 60% and 40%."""
    assert score(model, "smb", {"usage": 50, "billing": 100}) == pytest.approx(70.0)


def test_no_components_no_score(model: HealthModelPlan) -> None:
    """Without any known component there is no score rather than a made-up one."""
    assert score(model, "smb", {}) is None


def test_values_are_clamped(model: HealthModelPlan) -> None:
    """Component values outside 0-100 count as 0 or 100."""
    assert score(model, "smb", {"usage": 150, "billing": -5}) == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, "healthy"), (80, "healthy"), (79.99, "good"), (40, "at-risk"), (0, "critical")],
)
def test_tiers(model: HealthModelPlan, value: float, expected: str) -> None:
    """A score falls in the first tier, from the healthiest down, whose minimum it reaches."""
    assert tier(model, value) == expected


def test_trend(model: HealthModelPlan) -> None:
    """A drop of the threshold or more over the window is declining; small moves are stable."""
    now = 100 * DAY
    falling = [Sample(at=now - 31 * DAY, value=70), Sample(at=now, value=64)]
    steady = [Sample(at=now - 31 * DAY, value=70), Sample(at=now, value=68)]
    rising = [Sample(at=now - 31 * DAY, value=50), Sample(at=now - DAY, value=60)]
    assert trend(model, falling, now) == "declining"
    assert trend(model, steady, now) == "stable"
    assert trend(model, rising, now) == "improving"
    assert trend(model, falling[-1:], now) == "stable"


TIERS_BY_SEGMENT = """\
kind: HealthModel
name: default
version: 1
segments: [enterprise, mid-market, smb]
components:
  usage: {description: Product usage}
weights:
  default: {usage: 100}
tiers:
  enterprise:
    - {name: healthy, min: 85}
    - {name: at-risk, min: 60}
    - {name: critical, min: 0}
  default:
    - {name: healthy, min: 80}
    - {name: at-risk, min: 40}
    - {name: critical, min: 0}
trend: {window: 30d, threshold: 5}
"""


def test_tiers_by_segment_score_with_the_accounts_segment(tmp_path: Path) -> None:
    """Seed 001's segment-specific thresholds: 82 is at-risk for enterprise, healthy for
    smb; 50 critical for enterprise, at-risk by the default tiers (also for no segment or
    one that is not a name); the plan keeps the default tiers where single lists go."""
    (tmp_path / "health.yaml").write_text(TIERS_BY_SEGMENT)
    plan = load([tmp_path]).health_plan()
    assert plan is not None
    assert [t.min for t in plan.tiers] == [80, 40, 0]
    assert (tier(plan, 82, "enterprise"), tier(plan, 82, "smb")) == ("at-risk", "healthy")
    assert (tier(plan, 50, "enterprise"), tier(plan, 50, "mid-market")) == ("critical", "at-risk")
    assert tier(plan, 50, None) == tier(plan, 50, ["enterprise"]) == tier(plan, 50) == "at-risk"


def test_a_model_without_tiers_by_segment_keeps_its_hash(model: HealthModelPlan) -> None:
    """Plans of models with one list of tiers serialise as before (no tiers_by_segment)."""
    assert "tiers_by_segment" not in model.model_dump(mode="json")


def test_an_overrides_tier_is_the_accounts_segments(tmp_path: Path) -> None:
    """An override of 82 reads as at-risk for an enterprise account (its tiers start healthy
    at 85), healthy for an smb one; the model's trend and components stay."""
    (tmp_path / "health.yaml").write_text(TIERS_BY_SEGMENT)
    plan = load([tmp_path]).health_plan()
    assert plan is not None
    moment = datetime(2027, 1, 4, tzinfo=UTC)
    override = HealthOverride(score=82, reason="r", by="dana", at=moment, until=moment)
    model = Health(score=30, tier="critical", trend="declining")
    enterprise = effective(model, override, plan, "enterprise")
    assert (enterprise.score, enterprise.tier, enterprise.trend) == (82, "at-risk", "declining")
    assert effective(model, override, plan, "smb").tier == "healthy"
