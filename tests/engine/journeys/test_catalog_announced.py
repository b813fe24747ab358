"""A publish is announced to every running account, which reads the catalog then (and when a
run starts) instead of asking on its events: a reading that changes nothing costs the
account one workflow task with no local activity, and a newly published playbook enrolls
an account already in its entry condition without waiting for the account's next event.

On the dev server (announcing lists the accounts from Temporal's visibility, which the
time-skipping server does not keep), and on the time-skipping server for the fallback.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_patches import (
    ACCOUNT_PATCHES,
    ATTRIBUTES_WITH_ENROLLMENT,
    DECISION_WAKES,
    PLANS_BY_HASH,
    QUIET_READINGS,
)
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import CATALOG_WORKFLOW_ID, Catalog, build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent
from tests.support import Recorder, eventually, fresh_namespace
from workers.worker import build_worker

JOURNEYS = Path(__file__).parents[2] / "fixtures" / "journeys"


def _catalog(folder: Path) -> Catalog:
    book = load([folder])
    return build_catalog(book.plans(), book.health_plan())  # type: ignore[arg-type]


def _without_upsell(tmp_path: Path) -> Path:
    folder = tmp_path / "rescue-only"
    shutil.copytree(JOURNEYS, folder)
    (folder / "upsell.yaml").unlink()
    rescue = folder / "rescue.yaml"
    rescue.write_text(rescue.read_text().replace("suppresses: [upsell]\n", ""))
    return folder


async def _status(handle: WorkflowHandle[Any, Any]) -> AccountStatus:
    found: AccountStatus = await handle.query(AccountWorkflow.status)
    return found


async def _catalog_checks(handle: WorkflowHandle[Any, Any]) -> int:
    """How many times the account ran its catalog_index local activity."""
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and b"catalog_index" in event.marker_recorded_event_attributes.SerializeToString()
    )


def _an_account(client: Client) -> tuple[str, str, WorkflowHandle[Any, Any]]:
    """A task queue of its own, an account id on it and the handle of its workflow."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    return queue, account, client.get_workflow_handle(account_workflow_id(account))


async def _namespace(env: WorkflowEnvironment) -> Client:
    client = await fresh_namespace(env)
    await register(client, client.namespace)
    return client


async def test_a_publish_enrolls_an_idle_account_in_a_new_playbook(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """An account at 90 under a set without upsell enrolls in upsell (entry: score >= 80)
    when the set with it is published, with no event of its own after the publish."""
    client = await _namespace(dev_env)
    queue, account, handle = _an_account(client)
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, _catalog(_without_upsell(tmp_path)), queue)
        await send(client, account, HealthEvent(event_id="r1", score=90), queue)

        async def scored() -> bool:
            return (await _status(handle)).health.score == 90

        await eventually(scored, "the reading applied")
        assert (await _status(handle)).enrollments == {}

        await publish(client, _catalog(JOURNEYS), queue)

        async def upsell() -> bool:
            return "upsell" in (await _status(handle)).enrollments

        await eventually(upsell, "upsell enrolled on the announcement", seconds=20)
        entered = [d for d in (await _status(handle)).why if d.kind == "enrolled"]
        assert [(d.playbook, d.seen) for d in entered] == [("upsell", {"health.score": 90})]


async def test_readings_that_change_nothing_read_no_catalog(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The account reads the catalog once as its run starts; five readings a day apart
    later (each past the five minutes after which accounts used to ask again) it has not
    read it again."""
    client = skipping_env.client
    queue, account, handle = _an_account(client)
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, _catalog(JOURNEYS), queue)
        for n in range(5):
            await send(client, account, HealthEvent(event_id=f"r{n}", score=70), queue)

            async def handled(count: int = n + 1) -> bool:
                return len((await _status(handle)).score_history) == count

            await eventually(handled, f"reading {n + 1} applied")
            await skipping_env.sleep(timedelta(days=1))
        assert await _catalog_checks(handle) == 1


async def test_an_account_reads_each_announced_catalog_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Publishing a new set makes the account read it (one more check); publishing the same
    set again announces a hash the account has, and it reads nothing."""
    client = await _namespace(dev_env)
    queue, account, handle = _an_account(client)
    first, second = _catalog(_without_upsell(tmp_path)), _catalog(JOURNEYS)
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, first, queue)
        await send(client, account, HealthEvent(event_id="r1", score=50), queue)

        async def checks(n: int) -> bool:
            return await _catalog_checks(handle) == n

        await eventually(lambda: checks(1), "the run's first check")
        await publish(client, second, queue)
        await eventually(lambda: checks(2), "the announced catalog read", seconds=20)
        await publish(client, second, queue)
        # The second announcement of the same hash reaches the account (a signal in its
        # history) and costs no check.
        await eventually(lambda: _notices(handle, 2), "both notices delivered", seconds=20)
        assert await _catalog_checks(handle) == 2


async def _notices(handle: WorkflowHandle[Any, Any], n: int) -> bool:
    history = await handle.fetch_history()
    signals = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == "catalog_published"
    ]
    return len(signals) >= n


async def test_without_visibility_a_publish_still_lands(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """On a server that keeps no visibility (the time-skipping test server) the announcement
    fails once, without retries; the catalog is published all the same and an account whose
    run starts afterwards reads it."""
    client = skipping_env.client
    queue, account, handle = _an_account(client)
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, _catalog(JOURNEYS), queue)
        catalog = client.get_workflow_handle(CATALOG_WORKFLOW_ID)

        async def failed_once() -> bool:
            history = await catalog.fetch_history()
            failures = [
                e.activity_task_failed_event_attributes.failure.message
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
            ]
            return len(failures) == 1 and "keeps no visibility" in failures[0]

        await eventually(failed_once, "the announcement failed, once")
        await send(client, account, HealthEvent(event_id="r1", score=90), queue)

        async def upsell() -> bool:
            return "upsell" in (await _status(handle)).enrollments

        await eventually(upsell, "upsell enrolled from the published catalog")


async def test_a_new_account_asks_about_no_patch_its_client_vouches_for(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The client that creates an account vouches for ACCOUNT_PATCHES: the account's history
    records no marker for any of them (each would be a marker and an upsert). Only a patch
    too new to vouch for would be asked, and since 0.5.0 there is none."""
    client = skipping_env.client
    queue, account, handle = _an_account(client)
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, _catalog(JOURNEYS), queue)
        await send(client, account, AttributeChange(set={"segment": "smb"}), queue)
        await send(client, account, HealthEvent(event_id="r1", score=30), queue)

        async def rescued() -> bool:
            return "rescue" in (await _status(handle)).enrollments

        await eventually(rescued, "rescue enrolled")
        history = await handle.fetch_history()
        markers = [
            e.marker_recorded_event_attributes.SerializeToString()
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        ]
        assert QUIET_READINGS in ACCOUNT_PATCHES and PLANS_BY_HASH in ACCOUNT_PATCHES
        assert ATTRIBUTES_WITH_ENROLLMENT in ACCOUNT_PATCHES
        assert not [p for p in ACCOUNT_PATCHES if any(p.encode() in m for m in markers)]
        # Every patch the account asks about is vouched for by the client that made it.
        assert DECISION_WAKES in ACCOUNT_PATCHES
        assert not [m for m in markers if b"core_patch" in m]
