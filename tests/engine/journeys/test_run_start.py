"""A run its account enrolls starts ready: found by its account, playbook and version from
its first event, and with its patches vouched for by the account, so its first workflow task
records no marker for them (each a marker and an upsert of TemporalChangeVersion) and upserts
only its step, besides the markers of patches too new to vouch for (a release after they
ship). Runs started before replay as they ran (tests/histories, test_replay.py).

On the time-skipping server, reading the run's history.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

import engine.journeys._search as sa
from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._history import HISTORY_IN_TASK
from engine.journeys._messages import AccountEvent
from engine.journeys._run_patches import RUN_PATCHES
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "forwarding"
NEWER_PATCHES: tuple[str, ...] = ()
"""Patches a run asks about that are too new for RUN_PATCHES (they join a release later):
none since 0.2.0 vouched for HISTORY_IN_TASK."""


async def test_a_run_starts_with_its_attributes_and_asks_about_no_patch(
    skipping_env: WorkflowEnvironment,
) -> None:
    """Both journeys of a signed contract start with AccountId, Playbook and PlaybookVersion
    set and RUN_PATCHES vouched for; their first task records no marker for those, and one
    upsert (the step) besides the TemporalChangeVersion of each newer patch it asks about."""
    assert HISTORY_IN_TASK in RUN_PATCHES  # vouched since 0.2.0
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    book = load([PLAYBOOKS])
    handle = client.get_workflow_handle(account_workflow_id(account))

    async def enrolled() -> bool:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return {"onboard", "watch"} <= set(found.enrollments)

    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AccountEvent(event_id="e0", name="contract.signed"), queue)
        await eventually(enrolled, "both enrolled")
        for name in ("onboard", "watch"):
            run = client.get_workflow_handle(f"playbook/{name}/{account}/1")
            described = await run.describe()
            attributes = described.typed_search_attributes
            assert [
                attributes.get(key) for key in (sa.ACCOUNT_ID, sa.PLAYBOOK, sa.PLAYBOOK_VERSION)
            ] == [account, name, 1]
            history = await run.fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            assert b'"patches":' + _json(RUN_PATCHES) in started.input.payloads[0].data
            first: list[EventType.ValueType] = []
            patches = 0
            asked: list[str] = []
            for event in history.events[4:]:  # started, scheduled, started, completed
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                    break
                first.append(event.event_type)
                marker = event.marker_recorded_event_attributes
                if marker.marker_name == "core_patch":
                    patches += 1
                    asked += [p for p in NEWER_PATCHES if p.encode() in str(marker).encode()]
            assert patches == len(asked), first
            assert not set(asked) & set(RUN_PATCHES)
            upserts = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
            assert first.count(upserts) == 1 + len(asked), first


def _json(patches: tuple[str, ...]) -> bytes:
    return ("[" + ",".join(f'"{p}"' for p in patches) + "]").encode()
