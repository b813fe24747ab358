"""Splitting a book into shards and running them in a few processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine import load
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import HealthEvent
from workers.simulate.inputs import TimedRow
from workers.simulate.runner import ClockStopped, Result, Scenario, SimulationError
from workers.simulate.shards import (
    SHARD_ACCOUNTS,
    _dump,
    _process,
    _shards,
    default_shards,
    split,
)


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
        asyncio.run(_process(tmp_path, [4, 6], None, lambda i, d: seen.append((i, d))))
    message = str(failed.value)
    assert message.startswith("shard 5: FileNotFoundError")
    assert "in-4.json" in message and "\n" not in message
    assert seen == []


def test_a_shard_whose_server_stopped_moving_time_runs_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test server's clock stopping (its bug) costs a second run of that shard on a
    fresh server, which the result's notes record; a second stop fails the shard."""
    shipped = load([Path(__file__).parents[2] / "playbooks"])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    (tmp_path / "in-0.json").write_text(_dump(catalog, _book(2), t0, None), encoding="utf-8")
    calls: list[int] = []

    async def flaky(catalog: object, scenario: Scenario, **options: object) -> Result:
        calls.append(len(scenario.names()))
        if len(calls) == 1:
            raise ClockStopped("the time-skipping server did not reach 2030-01-05")
        return Result(
            start=scenario.start,
            days=30,
            t0=t0,
            actions=[],
            closed=[],
            accounts={},
            runs={},
        )

    monkeypatch.setattr("workers.simulate.shards.run", flaky)
    asyncio.run(_shards(tmp_path, [0]))
    assert calls == [2, 2]
    result = Result.model_validate_json((tmp_path / "out-0.json").read_text())
    assert result.notes == ["shard 1 ran twice: the time-skipping server did not reach 2030-01-05"]

    async def stuck(catalog: object, scenario: Scenario, **options: object) -> Result:
        raise ClockStopped("the time-skipping server did not reach 2030-01-05")

    monkeypatch.setattr("workers.simulate.shards.run", stuck)
    with pytest.raises(ClockStopped):
        asyncio.run(_shards(tmp_path, [0]))
