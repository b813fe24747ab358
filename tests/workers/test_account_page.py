"""The account page's tiers: the ones the account is scored by."""

from __future__ import annotations

from pathlib import Path

from engine import load
from tests.engine.journeys.test_scoring import TIERS_BY_SEGMENT
from workers.api._account_page import _tiers


def test_the_page_draws_the_tiers_of_the_accounts_segment(tmp_path: Path) -> None:
    """With tiers by segment, an enterprise account's chart lines (and an override's tier)
    are its segment's; an smb or unsegmented account's the default's."""
    (tmp_path / "health.yaml").write_text(TIERS_BY_SEGMENT)
    model = load([tmp_path]).health_plan()
    assert model is not None
    assert _tiers(model, "enterprise") == [("healthy", 85), ("at-risk", 60), ("critical", 0)]
    assert (
        _tiers(model, "smb")
        == _tiers(model, None)
        == [
            ("healthy", 80),
            ("at-risk", 40),
            ("critical", 0),
        ]
    )
