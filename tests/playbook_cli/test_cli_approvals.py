"""`playbook tasks approve|reject` as a manager runs them, against a journey on the dev
server whose actions write the real store: the answer reaches the journey, which takes its
branch and marks the request; a second answer, `done` on a request and `approve` on a plain
task are refused in one line with exit 1."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent
from tests.playbook_cli.test_cli_worker import address, playbook
from tests.support import eventually, fresh_namespace, store_actions
from workers.store import NewTask, Task, open_store
from workers.worker import build_worker

APPROVALS = Path(__file__).parents[1] / "fixtures" / "approvals"


async def test_approve_from_the_command_line(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    url = f"sqlite:///{tmp_path / 'playbook.db'}"
    actions = store_actions(url)
    store = open_store(url)
    shipped = load([APPROVALS])
    temporal = ("--address", address(dev_env), "--namespace", client.namespace)

    def cli(*args: str) -> tuple[int, str, str]:
        flags = ("--database", url) + (temporal if args[0] in ("approve", "reject", "done") else ())
        done = playbook("tasks", *args, *flags)
        return done.returncode, done.stdout, done.stderr

    async with build_worker(client, queue, actions.activities()):
        await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AccountEvent(name="risk.flagged"), queue)

        async def requested() -> Task | None:
            return next(iter(store.list_tasks(account=account)), None)

        request = await eventually(requested, "the approval request is filed", seconds=20)
        code, out, _ = await asyncio.to_thread(cli, "list", "--account", account)
        assert code == 0 and "approval: Approve a 15% save discount" in out
        code, _, err = await asyncio.to_thread(cli, "done", str(request.id))
        assert code == 1
        assert err.strip() == (
            f"playbook: task {request.id} is an approval: answer it with `playbook tasks"
            f" approve {request.id}` or `playbook tasks reject {request.id}`"
        )
        code, out, err = await asyncio.to_thread(
            cli, "approve", str(request.id), "--by", "maria", "--note", "keep them"
        )
        assert code == 0, err
        assert (
            out.strip() == f"task {request.id}: step discount approved by maria ({account}, save)"
        )

        async def settled() -> bool:
            return store.get(request.id).decision == "approved"

        await eventually(settled, "the journey marks the request approved", seconds=20)
        code, _, err = await asyncio.to_thread(cli, "reject", str(request.id), "--by", "omar")
        assert (code, err.strip()) == (
            1,
            f"playbook: task {request.id} is already approved by maria: nothing to answer",
        )

        async def offered() -> bool:
            return any(t.title == "Send the save offer" for t in store.list_tasks(account=account))

        await eventually(offered, "the on_approve step files its task", seconds=20)
    plain = store.create_task(
        NewTask(
            idempotency_key="plain",
            account_id=account,
            workflow_id="playbook/save/x/1",
            playbook="save",
            step="offer",
            assignee_role="csm",
            title="Send the offer",
        )
    )
    code, _, err = await asyncio.to_thread(cli, "approve", str(plain.id))
    await actions.aclose()
    assert code == 1
    assert err.strip() == (
        f"playbook: task {plain.id} is not an approval request: mark it done instead"
        f" (playbook tasks done {plain.id})"
    )
