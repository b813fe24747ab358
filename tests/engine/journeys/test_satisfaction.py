"""Readings of an NPS or CSAT health component go to the store as changes, so the dashboard
can average them; a repeat of the same value is no change, other components are not sent."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import HealthEvent
from engine.language._fields import satisfaction_measure
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "forwarding"


def test_components_are_nps_or_csat_by_name() -> None:
    assert [satisfaction_measure(n) for n in ("nps", "NPS_score", "csat", "satisfaction")] == [
        "nps",
        "nps",
        "csat",
        "csat",
    ]
    assert satisfaction_measure("usage") is None


async def test_nps_readings_are_recorded_as_changes(skipping_env: WorkflowEnvironment) -> None:
    """nps 40, 40 again, then 70 with usage 50: two nps changes (none -> 40, 40 -> 70)."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    book = load([PLAYBOOKS])
    recorder = Recorder()

    def noted() -> list[tuple[str, str | None, str | None]]:
        return [
            (c.kind, c.old, c.new)
            for request in recorder.history
            for c in request.changes
            if c.account_id == account and c.kind in ("nps", "csat")
        ]

    async with build_worker(client, queue, recorder.activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        for event_id, components in (
            ("r1", {"nps": 40.0}),
            ("r2", {"nps": 40.0}),
            ("r3", {"nps": 70.0, "usage": 50.0}),
        ):
            await send(
                client, account, HealthEvent(event_id=event_id, components=components), queue
            )

        async def both() -> bool:
            return len(noted()) >= 2

        await eventually(both, "both nps changes reach the store")
    assert noted() == [("nps", None, "40.0"), ("nps", "40.0", "70.0")]
