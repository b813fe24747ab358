"""The task inbox over HTTP, on the dev server with the real action activities and store:
an approval request is listed, answered once (the journey takes the branch and writes the
answer to the task), and every other answer is refused with the right status and why."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from engine.client._start import send
from engine.journeys._messages import AccountEvent
from tests.support import eventually, serving_api, store_actions
from workers.settings import ApiSettings
from workers.store import NewTask, open_store

APPROVALS = Path(__file__).parents[1] / "fixtures" / "approvals"
TOKEN = "t" * 32
READER = "r" * 32


async def test_approval_requests_over_http(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'playbook.db'}"
    actions = store_actions(url)
    store = open_store(url)
    api = ApiSettings(tokens=(SecretStr(TOKEN),), read_tokens=(SecretStr(READER),))
    writer = {"Authorization": f"Bearer {TOKEN}"}
    reader = {"Authorization": f"Bearer {READER}"}
    async with serving_api(dev_env, api, actions.activities(), APPROVALS, url) as served:
        account = served.account()
        await send(served.client, account, AccountEvent(name="risk.flagged"), served.queue)

        async def listed() -> list[dict[str, object]]:
            found = await served.http.get("/v1/tasks", params={"account": account}, headers=reader)
            tasks: list[dict[str, object]] = found.json()["tasks"]
            return tasks

        [request] = await eventually(listed, "the approval request is listed", seconds=20)
        assert (request["kind"], request["assignee_role"], request["status"]) == (
            "approval",
            "manager",
            "open",
        )
        answer = f"/v1/tasks/{request['id']}"
        body = {"by": "maria", "note": "not this time"}
        read_only = await served.http.post(f"{answer}/reject", json=body, headers=reader)
        assert read_only.status_code == 403
        rejected = await served.http.post(f"{answer}/reject", json=body, headers=writer)
        assert rejected.status_code == 200, rejected.text
        assert rejected.json() == {"done": True, "text": "step discount rejected by maria"}

        async def settled() -> bool:
            return store.get(int(str(request["id"]))).decision == "rejected"

        await eventually(settled, "the journey writes the answer to the task", seconds=20)
        again = await served.http.post(f"{answer}/approve", json={"by": "omar"}, headers=writer)
        assert again.status_code == 409
        assert again.json()["detail"].endswith("is already rejected by maria: nothing to answer")

        plain = store.create_task(
            NewTask(
                idempotency_key=f"k-{uuid.uuid4().hex}",
                account_id=account,
                workflow_id="playbook/save/x/1",
                playbook="save",
                step="offer",
                assignee_role="csm",
                title="Send the offer",
            )
        )
        not_approval = await served.http.post(
            f"/v1/tasks/{plain.id}/approve", json={"by": "maria"}, headers=writer
        )
        assert not_approval.status_code == 422
        assert "is not an approval request" in not_approval.json()["detail"]
        missing = await served.http.post(
            "/v1/tasks/999999/approve", json={"by": "maria"}, headers=writer
        )
        assert missing.status_code == 404
        nobody = await served.http.post(f"{answer}/approve", json={"by": ""}, headers=writer)
        assert nobody.status_code == 422
        everything = await served.http.get(
            "/v1/tasks", params={"account": account, "state": "all"}, headers=reader
        )
        titles = [t["title"] for t in everything.json()["tasks"]]
        page = (await served.http.get(f"/accounts/{account}", headers=reader)).text
    await actions.aclose()
    assert "Tell the customer there is no discount" in titles
    # The account page shows the request as an approval, with its answer and note.
    assert "approval: Approve a 15% save discount" in page
    assert "rejected by maria" in page and "not this time" in page
