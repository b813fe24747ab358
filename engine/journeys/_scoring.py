"""Health scoring: component values to a score, a tier and a trend, by the health model.

Pure functions over a compiled :class:`~engine.language._plan.HealthModelPlan`, so the
account workflow can score inside its deterministic code and a test can check a score by hand.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.language._by_segment import for_segment
from engine.language._facts import Sample
from engine.language._plan import HealthModelPlan


def weights_for(model: HealthModelPlan, segment: object) -> dict[str, float]:
    """The segment's weights (fractions); the default set, or equal weights, otherwise.

    ``segment`` is whatever the account holds: an account that took a list or a mapping as
    its segment (before the edge refused them) scores by the default weights, never fails."""
    if isinstance(segment, str) and segment in model.weights:
        return model.weights[segment]
    if "default" in model.weights:
        return model.weights["default"]
    return {c: 1 / len(model.components) for c in model.components}


def score(
    model: HealthModelPlan,
    segment: str | None,
    values: Mapping[str, float],
    last_known: Mapping[str, float] | None = None,
) -> float | None:
    """The weighted score of ``values`` (0-100 each), applying the model's missing policy."""
    weights = weights_for(model, segment)
    known = {c: v for c, v in values.items() if c in weights}
    if model.missing == "last_known" and last_known:
        known = {**{c: v for c, v in last_known.items() if c in weights}, **known}
    if model.missing == "zero":
        known = {c: known.get(c, 0.0) for c in weights}
    total = sum(weights[c] for c in known)
    if not known or total <= 0:
        return None
    # Dividing by the weights present re-normalises them when components are missing.
    return round(sum(weights[c] * _clamp(v) for c, v in known.items()) / total, 2)


def tier(model: HealthModelPlan, value: float | None, segment: object = None) -> str | None:
    """The first tier, from healthiest down, whose minimum the score reaches: the segment's
    tiers when the model has its own for it, else the default's."""
    if value is None:
        return None
    bands = for_segment(model.tiers, model.tiers_by_segment, segment)
    return next((band.name for band in bands if value >= band.min), bands[-1].name)


def trend(model: HealthModelPlan, history: list[Sample], now: int) -> str:
    """improving, stable or declining: the score now against the score one window ago."""
    if len(history) < 2:
        return "stable"
    cutoff = now - model.trend_window_seconds
    before = [s for s in history[:-1] if s.at <= cutoff]
    base = before[-1] if before else history[0]
    delta = history[-1].value - base.value
    if delta >= model.trend_threshold:
        return "improving"
    if delta <= -model.trend_threshold:
        return "declining"
    return "stable"


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, float(value)))
