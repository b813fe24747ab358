"""The outbox over HTTP, on the dev server with the real action activities, store and a
loopback SMTP server: a draft is listed and shown, edited (a bad edit is 422), sent as
edited (a second send is 409), and the next one discarded; a read-only token cannot write;
the account page shows both with what their reviewer did."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from engine.client._start import send
from engine.journeys._messages import AccountEvent, AttributeChange
from tests.support import eventually, serving_api, store_actions
from tests.workers.test_email import Mailbox, smtp_server
from workers.settings import ApiSettings

OUTBOX = Path(__file__).parents[1] / "fixtures" / "outbox"
TOKEN = "t" * 32
READER = "r" * 32


async def test_reviewing_drafts_over_http(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'playbook.db'}"
    mailbox = Mailbox()
    api = ApiSettings(tokens=(SecretStr(TOKEN),), read_tokens=(SecretStr(READER),))
    writer = {"Authorization": f"Bearer {TOKEN}"}
    reader = {"Authorization": f"Bearer {READER}"}
    with smtp_server(mailbox) as smtp:
        actions = store_actions(url, smtp)
        async with serving_api(dev_env, api, actions.activities(), OUTBOX, url) as served:
            account = served.account()
            attributes = {"name": "Acme", "owner": "sam@cs.example", "contact_email": "d@a.example"}
            await send(served.client, account, AttributeChange(set=attributes), served.queue)
            await send(served.client, account, AccountEvent(name="risk.flagged"), served.queue)

            async def waiting(step: str) -> dict[str, object] | None:
                found = await served.http.get(
                    "/v1/outbox", params={"account": account}, headers=reader
                )
                drafts: list[dict[str, object]] = found.json()["drafts"]
                return next((d for d in drafts if d["step"] == step), None)

            draft = await eventually(lambda: waiting("save-note"), "a draft waits", seconds=20)
            path = f"/v1/outbox/{draft['id']}"
            shown = await served.http.get(path, headers=reader)
            assert shown.json()["subject"] == "Acme: can we talk?"
            forbidden = await served.http.patch(path, json={"by": "r", "text": "x"}, headers=reader)
            assert forbidden.status_code == 403
            bad = await served.http.patch(
                path, json={"by": "sam", "subject": "two\nlines"}, headers=writer
            )
            assert bad.status_code == 422, bad.text
            edited = await served.http.patch(
                path, json={"by": "sam", "text": "Hi, let's talk."}, headers=writer
            )
            assert edited.status_code == 200 and edited.json()["edited_by"] == "sam"
            sent = await served.http.post(f"{path}/send", json={"by": "sam"}, headers=writer)
            assert sent.json() == {"done": True, "text": "step save-note sent by sam"}

            async def delivered() -> bool:
                return len(mailbox.envelopes) == 1

            await eventually(delivered, "the edited email goes", seconds=20)
            again = await served.http.post(f"{path}/send", json={"by": "sam"}, headers=writer)
            assert again.status_code == 409, again.text
            follow_up = await eventually(lambda: waiting("follow-up"), "the next one", seconds=20)
            discarded = await served.http.post(
                f"/v1/outbox/{follow_up['id']}/discard", json={"by": "sam"}, headers=writer
            )
            assert discarded.status_code == 200, discarded.text
            missing = await served.http.get("/v1/outbox/999999", headers=reader)
            assert missing.status_code == 404
            page = (await served.http.get(f"/accounts/{account}", headers=reader)).text
        await actions.aclose()
    # The account page lists both drafts with what their reviewer did.
    assert '<section id="outbox"' in page
    assert f'data-key="draft.{draft["id"]}"' in page and "edited by sam; sent" in page
    assert "discarded by sam" in page
    [message] = mailbox.messages()
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Hi, let's talk."
