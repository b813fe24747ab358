"""engine.journeys._history: what a workflow's why says when the store missed a request."""

from __future__ import annotations

from typing import Any

import pytest

from engine.journeys._history import not_recorded
from engine.journeys._messages import HistoryRequest


def _request(changes: int, decisions: int, outcome: bool) -> HistoryRequest:
    # Only the counts and the outcome's presence are read: placeholders stand for the records.
    parts: dict[str, Any] = {"changes": [object()] * changes, "decisions": [object()] * decisions}
    return HistoryRequest.model_construct(journey=object() if outcome else None, **parts)


@pytest.mark.parametrize(
    ("changes", "decisions", "outcome", "said"),
    [
        (3, 0, False, "3 change(s) not recorded: down"),  # an account's changes
        (3, 2, False, "3 change(s) and 2 decision(s) not recorded: down"),
        (0, 2, False, "2 decision(s) not recorded: down"),  # a run's decisions
        (0, 2, True, "2 decision(s) and the outcome not recorded: down"),
        (0, 0, True, "0 decision(s) and the outcome not recorded: down"),  # a run's end alone
    ],
)
def test_what_the_store_missed_is_counted_in_one_line(
    changes: int, decisions: int, outcome: bool, said: str
) -> None:
    """An account's lost request counts its changes (and decisions, when any); a run's counts
    its decisions always, and names the outcome when it carried one."""
    assert not_recorded(_request(changes, decisions, outcome), "down") == said
