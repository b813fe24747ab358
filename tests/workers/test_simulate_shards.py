"""Splitting a book into shards and running them in a few processes."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from engine._messages import HealthEvent
from workers.simulate.inputs import TimedRow
from workers.simulate.runner import Scenario, SimulationError
from workers.simulate.shards import SHARD_ACCOUNTS, _process, default_shards, split


def _book(accounts: int) -> Scenario:
    rows = [
        TimedRow(
            line=i + 1,
            account=f"a{i}",
            day=0,
            on=None,
            messages=[HealthEvent(event_id=f"e{i}", score=50)],
        )
        for i in range(accounts)
    ]
    return Scenario(accounts={}, rows=rows, start=date(2025, 1, 1), days=30)


def test_default_shards_hold_about_fifty_accounts() -> None:
    """One shard per SHARD_ACCOUNTS accounts, rounded up, never none."""
    assert default_shards(_book(1)) == 1
    assert default_shards(_book(SHARD_ACCOUNTS)) == 1
    assert default_shards(_book(SHARD_ACCOUNTS + 1)) == 2
    assert default_shards(_book(1_000)) == 1_000 // SHARD_ACCOUNTS


def test_split_deals_every_account_to_exactly_one_shard() -> None:
    """Round-robin: each account's rows all land in one shard; sizes differ by one at most."""
    parts = split(_book(7), 3)
    names = [part.names() for part in parts]
    assert sorted(len(n) for n in names) == [2, 2, 3]
    assert set().union(*names) == {f"a{i}" for i in range(7)}
    assert sum(len(n) for n in names) == 7


def test_a_failing_shard_is_one_line_naming_it(tmp_path: Path) -> None:
    """A shard process that fails (here: its input is missing) raises SimulationError with
    the process's last error line, prefixed by the shard's number."""
    seen: list[tuple[int, int]] = []
    with pytest.raises(SimulationError) as failed:
        asyncio.run(_process(tmp_path, [4, 6], lambda i, d: seen.append((i, d))))
    message = str(failed.value)
    assert message.startswith("shard 5: FileNotFoundError")
    assert "in-4.json" in message and "\n" not in message
    assert seen == []
