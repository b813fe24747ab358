"""An action heartbeats only once it has worked an interval: a quick one sends none."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.testing import ActivityEnvironment

from workers import activities


def _beats(work_seconds: float) -> list[tuple[object, ...]]:
    beats: list[tuple[object, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    async def action() -> None:
        with activities._heartbeating():
            await asyncio.sleep(work_seconds)

    asyncio.run(env.run(action))
    return beats


def test_a_quick_action_sends_no_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activities, "_HEARTBEAT_EVERY", 0.2)
    assert _beats(0.0) == []
    assert _beats(0.05) == []


def test_a_long_action_heartbeats_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activities, "_HEARTBEAT_EVERY", 0.05)
    assert 2 <= len(_beats(0.18)) <= 4


def test_the_interval_is_well_inside_the_heartbeat_timeout() -> None:
    """A worker that dies is noticed: beats come several times per timeout."""
    from engine.journeys._options import ACTION_HEARTBEAT

    assert ACTION_HEARTBEAT.total_seconds() >= activities._HEARTBEAT_EVERY * 3
