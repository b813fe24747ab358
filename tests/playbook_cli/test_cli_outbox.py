"""`playbook outbox` as a CSM runs it, against a journey on the dev server whose actions
write the real store and send to a loopback SMTP server: list, show, edit (from a file),
send; a second send, an edit after sending and a bad id are one line with exit 1."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange
from tests.playbook_cli.test_cli_worker import address, playbook
from tests.support import eventually, fresh_namespace, store_actions
from tests.workers.test_email import Mailbox, smtp_server
from workers.outbox import Draft, list_drafts
from workers.store import open_store
from workers.worker import build_worker

OUTBOX = Path(__file__).parents[1] / "fixtures" / "outbox"
WAITING = "the review waiting is step follow-up, not save-note"


async def test_review_from_the_command_line(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    url = f"sqlite:///{tmp_path / 'playbook.db'}"
    store = open_store(url)
    shipped = load([OUTBOX])
    temporal = ("--address", address(dev_env), "--namespace", client.namespace)
    (tmp_path / "text.txt").write_text("Dana, can we talk on Monday?\n", encoding="utf-8")

    def cli(*args: str) -> tuple[int, str, str]:
        answering = args[0] in ("send", "discard")
        done = playbook("outbox", *args, "--database", url, *(temporal if answering else ()))
        return done.returncode, done.stdout, done.stderr

    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp:
        actions = store_actions(url, smtp)
        async with build_worker(client, queue, actions.activities()):
            await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
            people = {"name": "Acme", "owner": "sam@cs.example", "contact_email": "d@a.example"}
            await send(client, account, AttributeChange(set=people), queue)
            await send(client, account, AccountEvent(name="risk.flagged"), queue)

            async def filed() -> Draft | None:
                return next(iter(list_drafts(store, account=account)), None)

            draft = await eventually(filed, "the draft is filed", seconds=20)
            ident = str(draft.id)
            code, out, _ = await asyncio.to_thread(cli, "list", "--account", account)
            assert code == 0 and out.split("\t")[0] == ident and "Acme: can we talk?" in out
            code, out, _ = await asyncio.to_thread(cli, "show", ident)
            assert code == 0 and "to: d@a.example" in out and "cc: sam@cs.example" in out
            edit = ("edit", ident, "--text-file", str(tmp_path / "text.txt"), "--by", "sam")
            code, out, err = await asyncio.to_thread(cli, *edit)
            assert (code, out.strip()) == (0, f"draft {ident} edited by sam: Acme: can we talk?"), (
                err
            )
            code, out, err = await asyncio.to_thread(cli, "send", ident, "--by", "sam")
            assert code == 0, err
            assert out.strip() == f"draft {ident}: step save-note sent by sam ({account}, outreach)"

            async def sent() -> bool:
                return bool(mailbox.envelopes)

            await eventually(sent, "the edited email goes", seconds=20)
            code, _, err = await asyncio.to_thread(cli, "send", ident)
            assert (code, err.strip()) in (
                (1, f"playbook: draft {ident} is already sent: nothing to review"),
                (1, f"playbook: nothing to send: {WAITING}"),
            )
            code, _, err = await asyncio.to_thread(cli, "edit", ident, "--subject", "Later")
            assert (code, err.strip()) == (
                1,
                f"playbook: draft {ident} is already sent: it can no longer change",
            )
        await actions.aclose()
    code, _, err = await asyncio.to_thread(cli, "show", "first")
    assert (code, err.strip()) == (
        1,
        "playbook: a draft id is a number, as `playbook outbox` shows it, not 'first'",
    )
    [message] = mailbox.messages()
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Dana, can we talk on Monday?"
