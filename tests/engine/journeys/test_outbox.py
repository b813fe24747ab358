"""Emails that wait for review, on the time-skipping server with the real action activities,
store and a loopback SMTP server: the draft is filed, not sent; edited and sent, the edited
text goes, once, to every recipient, with the original kept; discarded, nothing goes; not
reviewed in time, the step's `unreviewed` decides; a second review is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.journeys._messages import RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from tests.support import eventually, start_run, store_actions
from tests.workers.test_email import Mailbox, smtp_server
from workers.outbox import Draft, edit_draft, list_drafts, review_draft
from workers.store import Store, open_store
from workers.worker import build_worker

OUTBOX = Path(__file__).parents[2] / "fixtures" / "outbox"
ACCOUNT = {
    "name": "Acme Corp",
    "owner": "sam@acme-cs.example",
    "contact_email": "dana@acme.example",
    "contact_name": "Dana",
}


class _Run:
    def __init__(self, env: WorkflowEnvironment, store: Store, handle: WorkflowHandle) -> None:
        self.env, self.store, self.handle = env, store, handle

    async def draft(self, step: str) -> Draft:
        async def filed() -> Draft | None:
            found = list_drafts(self.store, status="all")
            return next((d for d in found if d.step == step), None)

        draft: Draft = await eventually(filed, f"the {step} draft is in the outbox")
        return draft

    async def why(self) -> list[tuple[str, str]]:
        status: RunStatus = await self.handle.query(PlaybookRunWorkflow.status)
        return [(d.kind, d.rule) for d in status.why]


@asynccontextmanager
async def _outreach(
    env: WorkflowEnvironment, tmp_path: Path, mailbox: Mailbox
) -> AsyncIterator[_Run]:
    plan = load([OUTBOX]).plan("outreach")
    url = f"sqlite:///{tmp_path / 'playbook.db'}"
    queue = f"q-{uuid.uuid4().hex[:8]}"
    with smtp_server(mailbox) as smtp:
        actions = store_actions(url, smtp)
        store = open_store(url)
        async with build_worker(env.client, queue, actions.activities()):
            facts = Facts(now=datetime.now(UTC), health=Health(score=40), account=ACCOUNT)
            handle = await start_run(env, plan, queue, facts)
            try:
                yield _Run(env, store, handle)
            finally:
                store.close()
                await actions.aclose()


async def test_an_edited_draft_goes_as_edited_once(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Edited and sent: the edited subject and text reach the customer and the CSM (cc) in
    one message, the HTML written for the original is dropped; the original is kept; a
    second send is refused; the next draft, discarded, sends nothing."""
    mailbox = Mailbox()
    async with _outreach(skipping_env, tmp_path, mailbox) as run:
        draft = await run.draft("save-note")
        assert (draft.status, draft.recipients, draft.cc) == (
            "waiting",
            ["dana@acme.example"],
            ["sam@acme-cs.example"],
        )
        assert draft.subject == "Acme Corp: can we talk?" and not mailbox.envelopes
        edited = edit_draft(
            run.store, draft.id, "sam", subject="Dana, a quick call?", text="Hi Dana, call me."
        )
        assert (edited.original_subject, edited.html) == ("Acme Corp: can we talk?", None)
        sent = await review_draft(skipping_env.client, edited, True, "sam", note="softer")
        assert sent.done and sent.text == "step save-note sent by sam"
        follow_up = await run.draft("follow-up")
        again = await review_draft(skipping_env.client, edited, True, "sam")
        dropped = await review_draft(skipping_env.client, follow_up, False, "sam", note="enough")
        result = await run.handle.result()
        why = await run.why()
        drafts = {d.step: d for d in list_drafts(run.store, status="all")}
    assert result.reason == "outreach done"
    assert not again.done and again.text.startswith("nothing to send")
    assert dropped.done and dropped.text == "step follow-up discarded by sam"
    [message] = mailbox.messages()
    assert (message["To"], message["Cc"], message["Subject"]) == (
        "dana@acme.example",
        "sam@acme-cs.example",
        "Dana, a quick call?",
    )
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Hi Dana, call me."
    assert message.get_body(("html",)) is None
    sent_draft, discarded = drafts["save-note"], drafts["follow-up"]
    assert (sent_draft.status, sent_draft.edited_by, sent_draft.original_text) == (
        "sent",
        "sam",
        "Hi Dana, the last weeks look hard. Can we talk?",
    )
    assert (sent_draft.answered_by, sent_draft.note) == ("sam", "softer")
    assert (discarded.status, discarded.answered_by, discarded.note) == (
        "discarded",
        "sam",
        "enough",
    )
    assert ("drafted", "steps.save-note") in why and ("reviewed", "steps.save-note") in why
    assert ("action", "steps.save-note") in why
    assert ("discarded", "steps.follow-up") in why and ("action", "steps.follow-up") not in why


async def test_unreviewed_drafts_follow_their_step(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Nobody reviews: the first (unreviewed: discard by default) closes after 2 days and
    nothing goes; the second (unreviewed: send) goes as written after 1 day."""
    mailbox = Mailbox()
    async with _outreach(skipping_env, tmp_path, mailbox) as run:
        await run.draft("save-note")
        await run.handle.result()
        why = await run.why()
        drafts = {d.step: d for d in list_drafts(run.store, status="all")}
    assert [m["Subject"] for m in mailbox.messages()] == ["Acme Corp: following up"]
    assert (drafts["save-note"].status, drafts["follow-up"].status) == ("closed", "sent")
    assert [k for k, rule in why if k == "review_timeout"] == ["review_timeout", "review_timeout"]
    assert ("action", "steps.follow-up") in why and ("action", "steps.save-note") not in why
