"""The HTTP API's health override, on the dev server: set, shown with the model's score,
refused in one line when it cannot be taken, and cleared."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from tests.support import Recorder, ServedApi, eventually, serving_api
from workers.settings import ApiSettings

TOKEN = "t0k3n-" + "x" * 20
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(dev_env: WorkflowEnvironment) -> AsyncIterator[ServedApi]:
    settings = ApiSettings(tokens=(SecretStr(TOKEN),))
    async with serving_api(dev_env, settings, Recorder().activities()) as served:
        yield served


async def test_an_override_is_set_shown_refused_and_cleared(api: ServedApi) -> None:
    """POST .../override sets it (the account shows both scores), a bad one is a 422 with
    one line, and clear ends it; clearing again has nothing to do."""
    account = api.account()
    sent = await api.http.post(
        f"/v1/accounts/{account}/events", json={"score": 40}, headers=HEADERS
    )
    assert sent.status_code == 202

    async def scored() -> bool:
        found = await api.http.get(f"/v1/accounts/{account}", headers=HEADERS)
        return found.status_code == 200 and found.json()["account"]["health"]["score"] == 40

    await eventually(scored, "the reading is handled")
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    body = {"by": "dana", "reason": "renewal confirmed", "score": 75, "until": until}
    done = await api.http.post(f"/v1/accounts/{account}/override", json=body, headers=HEADERS)
    assert done.status_code == 200, done.text
    assert done.json()["done"] is True
    assert "health score 75 (the model says 40)" in done.json()["text"]
    shown = (await api.http.get(f"/v1/accounts/{account}", headers=HEADERS)).json()["account"]
    assert shown["health"]["score"] == 40
    assert shown["override"]["score"] == 75 and shown["override"]["by"] == "dana"
    rows = _rows((await api.http.get(f"/accounts/{account}", headers=HEADERS)).text)
    # The page shows both scores with their tiers, who, why and until when.
    assert rows["health.score"] == ["the model's score", "40"]
    assert rows["override.score"] == ["score conditions read", "75 (good)"]
    assert rows["override.model"][1] == "40 (at-risk)"
    assert rows["override.by"][1].startswith("dana, ")
    assert rows["override.reason"][1] == "renewal confirmed"
    assert rows["override.until"][1] == f"{datetime.fromisoformat(until):%Y-%m-%d %H:%M} UTC"
    past = {**body, "until": "2020-01-01T00:00:00Z"}
    refused = await api.http.post(f"/v1/accounts/{account}/override", json=past, headers=HEADERS)
    assert refused.status_code == 422
    assert "until 2020-01-01 00:00 UTC has passed" in refused.json()["detail"]
    high = await api.http.post(
        f"/v1/accounts/{account}/override", json={**body, "score": 101}, headers=HEADERS
    )
    assert high.status_code == 422
    clear = {"by": "dana", "clear": True}
    cleared = await api.http.post(f"/v1/accounts/{account}/override", json=clear, headers=HEADERS)
    assert cleared.json() == {"done": True, "text": "health override cleared by dana"}
    again = await api.http.post(f"/v1/accounts/{account}/override", json=clear, headers=HEADERS)
    assert again.json()["done"] is False
    page = (await api.http.get(f"/accounts/{account}", headers=HEADERS)).text
    rows = _rows(page)
    assert 'id="override"' not in page and rows["health.score"] == ["score", "40"]


def _rows(page: str) -> dict[str, list[str]]:
    """The page's ``<tr data-key=...>`` rows: key -> the header and cell texts."""
    found: dict[str, list[str]] = {}
    for key, body in re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', page, re.DOTALL):
        found[key] = [html.unescape(c).strip() for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", body)]
    return found
