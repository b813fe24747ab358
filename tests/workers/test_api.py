"""The HTTP API served by uvicorn on loopback, against the real dev server and a worker."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from engine.client._connect import TemporalSettings
from tests.support import Recorder, ServedApi, serving_api
from workers.api import ApiRefused, serve
from workers.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from workers.settings import ApiSettings, Settings

JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"
PLAYBOOK = Path(sys.executable).parent / "playbook"
TOKEN = "t0k3n-" + "x" * 20
SECRET = "s3cret-" + "y" * 20


@pytest.fixture
async def api(dev_env: WorkflowEnvironment) -> AsyncIterator[ServedApi]:
    settings = ApiSettings(tokens=(SecretStr(TOKEN),), hmac_secret=SecretStr(SECRET))
    async with serving_api(dev_env, settings, Recorder().activities()) as served:
        yield served


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_credentials_are_required(api: ServedApi) -> None:
    """No credentials, a wrong token or a bad signature is a 401 naming what to send;
    health checks and the OpenAPI document need none."""
    account = api.account()
    body = {"score": 40}
    none = await api.http.post(f"/v1/accounts/{account}/events", json=body)
    assert none.status_code == 401
    assert "Bearer" in none.json()["detail"] and none.headers["WWW-Authenticate"]
    wrong = await api.http.post(
        f"/v1/accounts/{account}/events", json=body, headers=_bearer("not-the-token-at-all")
    )
    assert wrong.status_code == 401
    stale = int(time.time()) - 3600
    content = b'{"score": 40}'
    signed_late = await api.http.post(
        f"/v1/accounts/{account}/events",
        content=content,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stale),
            SIGNATURE_HEADER: sign(SECRET, stale, content),
        },
    )
    assert signed_late.status_code == 401
    # Malformed signatures and timestamps are refused as bad credentials, never a 500.
    now = str(int(time.time()))
    for timestamp, signature in [
        ("", "sha256=00"),
        ("\u00b9\u00b2\u00b3", "sha256=00"),  # superscript digits: isdigit() says yes
        ("9" * 5000, "sha256=00"),  # beyond int()'s 4,300 digits
        ("-5", "sha256=00"),
        ("1.5e9", "sha256=00"),
        (now, "sha256=\u00e9\u00e9"),  # not ASCII: compare_digest would raise
        (now, "sha256=" + "0" * 64),
        (now, "md5=abc"),
    ]:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        if timestamp:
            headers[TIMESTAMP_HEADER] = timestamp
        refused = await api.http.post(
            f"/v1/accounts/{account}/events",
            content=content,
            headers={k: v.encode("utf-8") for k, v in headers.items()},
        )
        assert refused.status_code == 401, (timestamp[:20], signature, refused.text)
    assert (await api.http.get(f"/v1/accounts/{account}")).status_code == 401
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    assert (await api.http.get("/readyz")).status_code == 200
    document = (await api.http.get("/openapi.json")).json()
    assert "/v1/accounts/{account}/events" in document["paths"]
    assert "/v1/events" in document["paths"]


async def test_bad_payloads_are_422_never_500(api: ServedApi) -> None:
    """Out-of-range scores, unknown fields, empty events, non-JSON, bad account ids and
    oversized batches are refused with 422 (413 for a body over the limit)."""
    account = api.account()
    url = f"/v1/accounts/{account}/events"
    for body in (
        {"score": 300},
        {"score": "high"},
        {"scor": 40},
        {},
        {"components": {"usage": -1}},
        {"set": "segment=smb"},
        {"id": ""},
    ):
        response = await api.http.post(url, json=body, headers=_bearer())
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"][0] == "body"
    garbage = await api.http.post(
        url, content=b"{not json", headers={**_bearer(), "Content-Type": "application/json"}
    )
    assert garbage.status_code == 422
    nan = await api.http.post(
        url,
        content=b'{"set": {"arr": NaN}}',
        headers={**_bearer(), "Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    spaced = await api.http.post("/v1/accounts/a%20b/events", json={"score": 1}, headers=_bearer())
    assert spaced.status_code == 422
    too_many = {"events": [{"account": account, "score": 50}] * 1001}
    assert (await api.http.post("/v1/events", json=too_many, headers=_bearer())).status_code == 422
    huge = {"events": [{"account": account, "set": {"notes": "x" * 2_000_000}}]}
    assert (await api.http.post("/v1/events", json=huge, headers=_bearer())).status_code == 413
    unknown = await api.http.get(f"/v1/accounts/{account}", headers=_bearer())
    assert unknown.status_code == 404 and account in unknown.json()["detail"]


async def test_accepted_event_shows_in_status_within_a_second(api: ServedApi) -> None:
    """A 202 from the API, then `playbook status` shows the score; the time from the 202 to
    the account showing it is printed, and must be under a second."""
    account = api.account()
    response = await api.http.post(
        f"/v1/accounts/{account}/events",
        json={"id": "crm-1", "score": 30, "set": {"segment": "enterprise"}},
        headers=_bearer(),
    )
    assert response.status_code == 202, response.text
    accepted = time.monotonic()
    assert response.json() == {"accepted": 1, "event_ids": ["crm-1"]}
    while True:
        shown = await api.http.get(f"/v1/accounts/{account}", headers=_bearer())
        if shown.status_code == 200 and shown.json()["account"]["health"]["score"] == 30:
            break
        assert time.monotonic() - accepted < 1.0, f"not visible within a second: {shown.text}"
        await asyncio.sleep(0.02)
    print(f"API event visible in status after {1000 * (time.monotonic() - accepted):.0f} ms")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": api.address,
        "PLAYBOOK_TEMPORAL_NAMESPACE": api.client.namespace,
    }
    status = await asyncio.to_thread(
        subprocess.run,
        [str(PLAYBOOK), "status", account],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert f"account {account}: health 30 (critical" in status.stdout


async def test_signed_batch_is_idempotent_and_why_explains(api: ServedApi) -> None:
    """An HMAC-signed batch for two accounts is accepted; sending it again changes nothing;
    `why` over the API names the rule and the values it saw."""
    first, second = api.account(), api.account()
    content = (
        '{"events": ['
        f'{{"account": "{first}", "id": "b-1", "score": 25, "set": {{"segment": "smb"}}}},'
        f'{{"account": "{second}", "id": "b-2", "score": 90}}'
        "]}"
    ).encode()

    async def send() -> httpx.Response:
        now = int(time.time())
        return await api.http.post(
            "/v1/events",
            content=content,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(now),
                SIGNATURE_HEADER: sign(SECRET, now, content),
            },
        )

    response = await send()
    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == ["b-1", "b-2"]

    async def enrolled() -> list[dict[str, object]]:
        shown = await api.http.get(f"/v1/accounts/{first}/why", headers=_bearer())
        if shown.status_code != 200:
            return []
        return [d for d in shown.json()["decisions"] if d["kind"] == "enrolled"]

    for _ in range(100):
        if await enrolled():
            break
        await asyncio.sleep(0.05)
    decisions = await enrolled()
    assert decisions and decisions[0]["seen"]["health.tier"] == "critical"
    assert (await send()).status_code == 202
    await asyncio.sleep(0.5)
    view = (await api.http.get(f"/v1/accounts/{first}", headers=_bearer())).json()
    assert view["account"]["enrollments"]["rescue"]["cycle"] == 1
    assert len(await enrolled()) == 1
    listed = await api.http.get("/v1/accounts", params={"tier": "critical"}, headers=_bearer())
    assert listed.status_code == 200


async def test_temporal_down_is_503_with_the_address() -> None:
    """With nothing listening at the Temporal address, event and readiness calls answer 503
    naming the address, and the API keeps serving."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(temporal=TemporalSettings(address=dead))
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, port=0, stop=stop, on_ready=ready.set_result))
    try:
        async with httpx.AsyncClient(base_url=await ready, timeout=30) as http:
            sent = await http.post("/v1/accounts/acme/events", json={"score": 40})
            assert sent.status_code == 503
            assert dead in sent.json()["detail"]
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get("/healthz")).status_code == 200
    finally:
        stop.set()
        await server


async def test_open_api_refuses_to_listen_beyond_loopback() -> None:
    """Without tokens or an HMAC key the API serves loopback only; on 0.0.0.0 it refuses."""
    with pytest.raises(ApiRefused, match="PLAYBOOK_API_TOKENS"):
        await serve(Settings(), host="0.0.0.0", port=0, stop=asyncio.Event())


async def test_values_an_account_cannot_use_are_refused_with_a_422(api: ServedApi) -> None:
    """A renewal date in the year 1, an unknown time zone, a calendar that is not a name,
    a set of 100 kB, a NUL in an attribute, a long key, a
    control character in an account id: one-line 422s (or 404 for the path); nothing sent."""
    account = api.account()
    for body, words in [
        ({"set": {"renewal_date": "0001-01-05"}}, "0001-01-05 is outside 1900-01-01..2199-12-31"),
        ({"set": {"renewal_date": "soon"}}, "'soon' is not a date"),
        ({"set": {"timezone": "Asia/Tokio"}}, "unknown time zone 'Asia/Tokio'"),
        ({"set": {"timezone": 9}}, "9 is not a time zone name"),
        ({"set": {"calendar": ["jp"]}}, "is not text (a calendar is a name)"),
        ({"set": {f"k{i}": "x" * 4_000 for i in range(25)}}, "at most 64,000 per event"),
        ({"set": {"notes": "a\x00b"}}, "NUL"),
        ({"set": {"k" * 65: 1}}, "attribute name of 65 characters"),
        ({"set": {"arr": 10**20}}, "number beyond"),
        ({"event": "signed\nforged"}, "control character"),
    ]:
        refused = await api.http.post(
            f"/v1/accounts/{account}/events", json=body, headers=_bearer()
        )
        assert refused.status_code == 422, (body, refused.text)
        assert words in str(refused.json()["detail"]), refused.text
    batch = {"events": [{"account": "ok", "score": 40}, {"account": "a\x01b", "score": 40}]}
    refused = await api.http.post("/v1/events", json=batch, headers=_bearer())
    assert refused.status_code == 422
    status_of_ok = await api.http.get("/v1/accounts/ok", headers=_bearer())
    assert status_of_ok.status_code == 404  # all refused before any was sent


async def test_a_retried_request_gets_the_same_event_ids(api: ServedApi) -> None:
    """Events without ids get ids from their content, place and day: the same request again
    (a client's retry after a 503) has the same ids, so the account ignores the repeat; a
    different Idempotency-Key or different content gives new ones."""
    account = api.account()
    batch = {"events": [{"account": account, "score": 40}, {"account": account, "score": 40}]}
    first = (await api.http.post("/v1/events", json=batch, headers=_bearer())).json()
    again = (await api.http.post("/v1/events", json=batch, headers=_bearer())).json()
    assert first["event_ids"] == again["event_ids"]
    assert len(set(first["event_ids"])) == 2  # two readings in one batch stay two
    keyed = await api.http.post(
        "/v1/events", json=batch, headers={**_bearer(), "Idempotency-Key": "sync-42"}
    )
    assert set(keyed.json()["event_ids"]).isdisjoint(first["event_ids"])
    other = {"events": [{"account": account, "score": 41}, {"account": account, "score": 40}]}
    changed = (await api.http.post("/v1/events", json=other, headers=_bearer())).json()
    assert changed["event_ids"][0] != first["event_ids"][0]
