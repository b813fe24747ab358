"""`playbook tasks` as a CSM runs it: the inbox in a SQLite file, acks reaching the journey.

The store is filled the way workers fill it (``workers.store``); the commands run as real
subprocesses. The acknowledgement test runs a real escalation on the dev server and checks
that `playbook tasks ack` stops its climb.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import HealthEvent, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from tests.playbook_cli.test_cli_worker import JOURNEYS, address, playbook
from tests.support import Recorder, eventually, fresh_namespace
from workers.store import NewTask, Store, open_store
from workers.worker import build_worker

UNREACHABLE = ("--address", "127.0.0.1:1")

# A playbook whose ladder engages as soon as the account enrolls, and would climb to the
# manager a day later unless someone acknowledges.
SAVE = """\
kind: Playbook
name: save
version: 1
description: Save accounts in trouble.
owner: cs-ops@example.com
stage: retain
priority: 95
entry:
  when: {field: health.tier, in: [critical]}
goal:
  when: {field: health.score, gte: 95}
escalation:
  tiers:
    - {id: csm, notify: [csm], via: [task], title: Save plan, ack_sla: 1d}
    - {id: manager, notify: [manager], via: [task], title: Manager save plan}
steps:
  - {id: raise-alarm, type: escalate}
  - {id: hold, type: wait, for: 90d}
"""


def task(key: str, account: str = "acme", **changes: object) -> NewTask:
    values: dict[str, object] = {
        "idempotency_key": key,
        "account_id": account,
        "workflow_id": f"playbook/save/{account}/1",
        "playbook": "save",
        "step": "escalation.csm",
        "scope": "ladder",
        "assignee_role": "csm",
        "assignee": "jane@example.com",
        "title": "Save plan",
        "priority": "high",
        "due_at": datetime(2026, 11, 3, 9, tzinfo=UTC),
    }
    return NewTask.model_validate({**values, **changes})


def filled(tmp_path: Path) -> tuple[str, Store]:
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    return url, open_store(url)


def test_list_filters_and_formats(tmp_path: Path) -> None:
    url, store = filled(tmp_path)
    with store:
        jane = store.create_task(task("k1"))
        manager = store.create_task(task("k2", assignee=None, assignee_role="manager"))
        globex = store.create_task(task("k3", account="globex", due_at=None))
        store.complete(globex.id, "jane@example.com")

    listed = playbook("tasks", "--database", url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"{jane.id}\topen\thigh\t2026-11-03 09:00\tjane@example.com\tacme\tsave/escalation.csm"
        "\tSave plan",
        f"{manager.id}\topen\thigh\t2026-11-03 09:00\tmanager\tacme\tsave/escalation.csm"
        "\tSave plan",
    ]
    by_env = playbook("tasks", "list", "--assignee", "manager", env={"DATABASE_URL": url})
    assert [line.split("\t")[0] for line in by_env.stdout.splitlines()] == [str(manager.id)]
    everything = playbook("tasks", "--all", "--account", "globex", "--json", "--database", url)
    assert [(t["id"], t["status"]) for t in json.loads(everything.stdout)] == [(globex.id, "done")]


def test_done_and_errors_are_one_line(tmp_path: Path) -> None:
    url, store = filled(tmp_path)
    with store:
        first = store.create_task(task("k1"))
        store.close_open(first.workflow_id, "run", "goal reached")
    done_closed = playbook("tasks", "done", str(first.id), "--database", url, *UNREACHABLE)
    assert done_closed.returncode == 1
    assert done_closed.stderr.splitlines() == [
        f"playbook: task {first.id} is closed (goal reached): it cannot be done"
    ]
    unknown = playbook("tasks", "ack", "42", "--database", url)
    assert (unknown.returncode, unknown.stderr) == (1, "playbook: no task 42\n")
    not_a_number = playbook("tasks", "ack", "first", "--database", url)
    assert not_a_number.returncode == 1
    assert not_a_number.stderr.splitlines() == [
        "playbook: a task id is a number, as `playbook tasks` shows it, not 'first'"
    ]
    bad_url = playbook("tasks", env={"DATABASE_URL": "mysql://db/tasks"})
    assert bad_url.returncode == 1
    assert "Traceback" not in bad_url.stderr
    assert len(bad_url.stderr.splitlines()) == 1


def test_ack_with_temporal_down_keeps_the_ack_and_says_so(tmp_path: Path) -> None:
    """The store change stands (exit 1, one line); running it again is harmless."""
    url, store = filled(tmp_path)
    with store:
        saved = store.create_task(task("k1"))
    for _ in range(2):
        result = playbook(
            "tasks", "ack", str(saved.id), "--by", "jane", "--database", url, *UNREACHABLE
        )
        assert result.returncode == 1
        assert result.stdout == f"task {saved.id} acknowledged by jane: Save plan (acme, save)\n"
        assert result.stderr.splitlines() == [
            "playbook: the task is saved, but its journey was not told (Temporal is not reachable"
            " at 127.0.0.1:1 (namespace default): Connection refused); run the command again to"
            " tell it"
        ]
    with open_store(url) as reopened:
        assert reopened.get(saved.id).acknowledged_by == "jane"


async def test_ack_stops_the_climb(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    (tmp_path / "set").mkdir()
    shutil.copy(JOURNEYS / "health.yaml", tmp_path / "set")
    (tmp_path / "set" / "save.yaml").write_text(SAVE)
    shipped = load([tmp_path / "set"])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    url, store = filled(tmp_path)
    recorder = Recorder()
    async with build_worker(client, queue, actions=recorder.activities()):
        await publish(client, catalog, queue)
        await send(client, account, HealthEvent(score=20), queue)
        run = client.get_workflow_handle(f"playbook/save/{account}/1")

        async def escalated() -> RunStatus | None:
            try:
                status: RunStatus = await run.query(PlaybookRunWorkflow.status)
            except Exception:  # noqa: BLE001 (not started yet)
                return None
            return status if status.escalation_tier == "csm" else None

        await eventually(escalated, "the ladder engages the CSM tier", seconds=20)
        with store:
            saved = store.create_task(task("k1", account=account))
        flags = ("--address", address(dev_env), "--namespace", client.namespace)
        result = await asyncio.to_thread(
            playbook, "tasks", "ack", str(saved.id), "--by", "jane", "--database", url, *flags
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""

        async def acknowledged() -> bool:
            status: RunStatus = await run.query(PlaybookRunWorkflow.status)
            return status.acknowledged_by == "jane"

        await eventually(acknowledged, "the run hears jane's acknowledgement", seconds=20)
        done = await asyncio.to_thread(
            playbook, "tasks", "done", str(saved.id), "--database", url, *flags
        )
        assert done.returncode == 0, done.stderr
    with open_store(url) as reopened:
        assert reopened.get(saved.id).status == "done"


async def test_ack_for_an_account_that_is_not_running(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The store change is all there is to do: exit 0, with a note."""
    url, store = filled(tmp_path)
    with store:
        saved = store.create_task(task("k1", account=f"gone-{uuid.uuid4().hex[:6]}"))
    result = await asyncio.to_thread(
        playbook, "tasks", "ack", str(saved.id), "--database", url, "--address", address(dev_env)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"playbook: account/{saved.account_id} is not running in {address(dev_env)}"
        " (namespace default): no journey to tell"
    ]
