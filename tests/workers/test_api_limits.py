"""What the served API refuses, and how: malformed signatures, periods, filters, bodies over
the limit however they arrive, and requests that never finish. Real uvicorn on loopback, the
real dev server behind it; raw sockets where an HTTP client would not misbehave enough."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.operatorservice.v1 import DeleteNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from engine.client._connect import TemporalSettings
from tests.support import Recorder, ServedApi, fresh_namespace, serving_api
from workers.api import MAX_BODY_BYTES, serve
from workers.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from workers.settings import ApiSettings, Settings

JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"
TOKEN = "t0k3n-" + "x" * 20
SECRET = "s3cret-" + "y" * 20
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# Short, so the tests of stalled requests take a second, not the default ten.
REQUEST_SECONDS = 1.0


@pytest.fixture
async def served(dev_env: WorkflowEnvironment) -> AsyncIterator[ServedApi]:
    settings = ApiSettings(
        tokens=(SecretStr(TOKEN),), hmac_secret=SecretStr(SECRET), request_timeout=REQUEST_SECONDS
    )
    async with serving_api(dev_env, settings, Recorder().activities()) as api:
        yield api


NOW = int(time.time())
CONTENT = b'{"score": 40}'
# (timestamp, signature) header values as raw bytes: a server decodes them as latin-1.
MALFORMED = [
    ("¹²³".encode(), b"sha256=00"),  # superscript digits: str.isdigit() says yes
    (b"9" * 5000, b"sha256=00"),  # over int()'s 4,300 digits
    (b"-" + str(NOW).encode(), sign(SECRET, NOW, CONTENT).encode()),
    (f"{NOW}.5".encode(), sign(SECRET, NOW, CONTENT).encode()),
    (b"1e9", b"sha256=00"),
    (str(NOW).encode(), b"sha256=" + b"zz" * 32),  # not hex
    (str(NOW).encode(), sign(SECRET, NOW, CONTENT).encode()[:-2]),  # too short
    (str(NOW).encode(), sign(SECRET, NOW, CONTENT).encode() + b"00"),  # too long
    (str(NOW).encode(), sign(SECRET, NOW, CONTENT).replace("sha256", "sha512").encode()),
    (str(NOW).encode(), b"sha256=" + "é".encode("latin-1") * 64),  # non-ASCII
    (b"\xff\xfe", b"\xff" * 71),
]


# Numbered ids: the values hold the time, and parallel test workers must collect the same names.
@pytest.mark.parametrize(
    ("timestamp", "signature"), MALFORMED, ids=[f"case{i}" for i in range(len(MALFORMED))]
)
async def test_malformed_signature_headers_are_401(
    served: ServedApi, timestamp: bytes, signature: bytes
) -> None:
    """Without a token, any malformed timestamp or signature is a 401 naming how to sign,
    never a 500 (superscript or 5,000 digits used to crash verify_signature)."""
    response = await served.http.post(
        "/v1/accounts/acme/events",
        content=CONTENT,
        headers=[
            (b"Content-Type", b"application/json"),
            (TIMESTAMP_HEADER.encode(), timestamp),
            (SIGNATURE_HEADER.encode(), signature),
        ],
    )
    assert response.status_code == 401, response.text
    assert "bad signature" in response.json()["detail"]


async def test_a_good_signature_still_passes(served: ServedApi) -> None:
    """The same request signed correctly is accepted: the refusals above are the headers."""
    now = int(time.time())
    response = await served.http.post(
        f"/v1/accounts/acct-{uuid.uuid4().hex[:8]}/events",
        content=CONTENT,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(now),
            SIGNATURE_HEADER: sign(SECRET, now, CONTENT),
        },
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("period", "says"),
    [
        ("0001-01-01..9999-12-31", "'0001-01-01' is not a date"),
        ("2026-01-01..9999-12-31", "'9999-12-31' is not a date"),
        ("2026-03-01..2026-02-01", "the end must come after the start"),
        ("2000-01-01..2026-01-01", "at most 3660 days"),
        ("99999d", "from 1d to 3660d"),
        ("\u0663\u0660d", "write 30d, 90d or START..END"),
        ("soon", "write 30d, 90d or START..END"),
    ],
)
async def test_dashboard_refuses_bad_periods_in_one_line(
    served: ServedApi, period: str, says: str
) -> None:
    """Unbounded, reversed or garbled periods are a 422 with one line, not a 500."""
    response = await served.http.get("/dashboard", params={"period": period}, headers=BEARER)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert says in detail and "\n" not in detail


async def test_dashboard_serves_a_bounded_period(served: ServedApi) -> None:
    """The widest period allowed still renders the page."""
    response = await served.http.get(
        "/dashboard", params={"period": "2017-01-01..2026-12-31"}, headers=BEARER
    )
    assert response.status_code == 200, response.text
    assert "<html" in response.text


@pytest.mark.parametrize("value", ["crit\x00ical", "a\nb", "tab\there", "\x1b[31m", "x\x7f"])
@pytest.mark.parametrize("name", ["tier", "segment", "owner", "playbook", "escalation"])
async def test_control_characters_in_filters_are_400(
    served: ServedApi, name: str, value: str
) -> None:
    """A NUL or other control character in a filter is a 400 naming the parameter; nothing
    reaches Temporal, so no SQL error can come back."""
    response = await served.http.get("/v1/accounts", params={name: value}, headers=BEARER)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert f"query parameter {name!r} holds a control character" in detail
    assert "sql" not in detail.lower()


async def test_control_characters_in_the_period_are_400(served: ServedApi) -> None:
    """The dashboard's period is a query parameter too."""
    response = await served.http.get("/dashboard", params={"period": "30d\x00"}, headers=BEARER)
    assert response.status_code == 400


async def test_filters_are_bounded_and_plain_ones_work(served: ServedApi) -> None:
    """A filter over 200 characters is 422; quotes, backslashes and non-ASCII text are
    plain values that match nothing (an owner: names the catalog defines, such as segments,
    are checked against it and refused when unknown)."""
    long = await served.http.get("/v1/accounts", params={"owner": "x" * 201}, headers=BEARER)
    assert long.status_code == 422
    for value in ("it's", "back\\slash", "é", "' OR 1=1 --", "x" * 200):
        response = await served.http.get("/v1/accounts", params={"owner": value}, headers=BEARER)
        assert response.status_code == 200, (value, response.text)
        assert response.json() == {"accounts": []}
        unknown = await served.http.get("/v1/accounts", params={"segment": value}, headers=BEARER)
        assert unknown.status_code == 422 and "unknown segment" in unknown.text, unknown.text


async def test_temporal_errors_are_logged_not_echoed(
    dev_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    """When Temporal refuses a call (here: the namespace was deleted after the API
    connected), the client gets 503 with the status and where to look; Temporal's own words
    go to the log only."""
    client = await fresh_namespace(dev_env)
    settings = Settings(
        temporal=TemporalSettings(
            address=dev_env.client.service_client.config.target_host,
            namespace=client.namespace,
        )
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, port=0, stop=stop, on_ready=ready.set_result))
    try:
        async with httpx.AsyncClient(base_url=await ready, timeout=30) as http:
            assert (await http.get("/v1/accounts")).status_code == 200
            await client.operator_service.delete_namespace(
                DeleteNamespaceRequest(namespace=client.namespace)
            )
            with caplog.at_level(logging.WARNING, logger="playbook.api"):
                response = await http.get("/v1/accounts", params={"tier": "critical"})
    finally:
        stop.set()
        await server
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert detail.endswith("; the API's log has its answer"), detail
    logged = [r.getMessage() for r in caplog.records if r.name == "playbook.api"]
    assert any("is not found" in line for line in logged), logged
    assert "is not found" not in detail


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"set": {"notes": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}}'


async def _stream(total: int) -> AsyncIterator[bytes]:
    for chunk in _chunks(total):
        yield chunk


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 10 * MAX_BODY_BYTES])
async def test_chunked_bodies_over_the_limit_are_413(served: ServedApi, size: int) -> None:
    """A body sent chunked (no Content-Length) over 1 MiB is 413, like a declared one."""
    response = await served.http.post(
        "/v1/accounts/acme/events",
        content=_stream(size),
        headers={**BEARER, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert f"body over {MAX_BODY_BYTES} bytes" in response.json()["detail"]


async def test_chunked_bodies_within_the_limit_are_read(served: ServedApi) -> None:
    """A chunked body under the limit reaches the route whole: a valid event is 202."""

    async def small() -> AsyncIterator[bytes]:
        yield b'{"score": '
        yield b"55}"

    response = await served.http.post(
        f"/v1/accounts/acct-{uuid.uuid4().hex[:8]}/events",
        content=small(),
        headers={**BEARER, "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


async def _exchange(port: int, parts: list[bytes], pause: float = 0.0) -> tuple[bytes, float]:
    """Send ``parts`` (``pause`` s apart) while reading, until the server closes; the answer
    and how long after connecting the connection was closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    answer = bytearray()

    async def read() -> float:
        # Read as it comes: once the server has closed, our next write draws a reset that
        # would discard an answer still unread.
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                answer.extend(chunk)
        return time.monotonic() - started

    reading = asyncio.create_task(read())
    try:
        for part in parts:
            if reading.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(part)
                await writer.drain()
            await asyncio.sleep(pause)
        # Ten deadlines' worth: a server that never closes fails here, not at pytest's limit.
        took = await asyncio.wait_for(reading, timeout=10 * REQUEST_SECONDS)
        return bytes(answer), took
    finally:
        writer.close()


async def test_half_sent_headers_are_closed_with_408(served: ServedApi) -> None:
    """A client that sends half its headers and stops gets 408 and a closed connection
    within the request timeout (it used to hold the connection for ever)."""
    answer, took = await _exchange(served.port, [b"POST /v1/events HTTP/1.1\r\nHost: x\r\n"])
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"headers did not arrive within 1 s" in answer
    assert took < REQUEST_SECONDS + 1.5


async def test_trickled_headers_do_not_extend_the_deadline(served: ServedApi) -> None:
    """Headers sent a few bytes at a time, each within the timeout, are still cut off: the
    deadline runs from the first byte, not the last."""
    trickle = [b"GET /healthz HTTP/1.1\r\n"] + [f"X-{i}: y\r\n".encode() for i in range(40)]
    answer, took = await _exchange(served.port, trickle, pause=REQUEST_SECONDS / 8)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert took < REQUEST_SECONDS * 5 + 1.5


async def test_half_sent_bodies_are_closed_with_408(served: ServedApi) -> None:
    """Complete headers promising 100 bytes, then 10 of them: 408 and a closed connection."""
    head = (
        b"POST /v1/accounts/acme/events HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    answer, took = await _exchange(served.port, [head, b'{"score": '])
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"request body did not arrive within 1 s" in answer
    assert took < REQUEST_SECONDS + 1.5


async def test_half_sent_chunked_bodies_are_closed_with_408(served: ServedApi) -> None:
    """The same for a chunked body whose last chunk never comes."""
    head = (
        b"POST /v1/accounts/acme/events HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer, _ = await _exchange(served.port, [head, b'a\r\n{"score": \r\n'])
    assert answer.startswith(b"HTTP/1.1 408 "), answer


async def test_a_silent_connection_is_closed(served: ServedApi) -> None:
    """A connection that sends nothing is closed without an answer, within the timeout."""
    answer, took = await _exchange(served.port, [])
    assert answer == b""
    assert took < REQUEST_SECONDS + 1.5


async def test_keep_alive_requests_each_get_the_deadline(served: ServedApi) -> None:
    """After a full request and its answer, the next request on the same connection has a
    fresh deadline: prompt requests are answered however long the connection lives, a stalled
    one is cut off."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        for _ in range(3):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), timeout=5)
            assert status.startswith(b"HTTP/1.1 200"), status
            await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), timeout=5)
            # Three pauses outlast one deadline; each leaves room for a slow machine.
            await asyncio.sleep(REQUEST_SECONDS * 0.4)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), timeout=10 * REQUEST_SECONDS)
        assert rest.startswith(b"HTTP/1.1 408 "), rest
    finally:
        writer.close()


ST = Path(sys.executable).parent / "st"


@pytest.mark.timeout(400)
@pytest.mark.parametrize("authorized", [True, False], ids=["bearer", "anonymous"])
async def test_no_generated_request_gets_a_5xx(
    served: ServedApi, tmp_path: Path, authorized: bool
) -> None:
    """schemathesis generates requests from the served OpenAPI document (valid and invalid:
    bodies, paths, query strings, NULs included) and sends them to the real API backed by
    the dev server: no answer is a 5xx."""
    auth = ["-H", f"Authorization: Bearer {TOKEN}"] if authorized else []
    run = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{served.url}/openapi.json",
        *auth,
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        # Bounded so `make test` stays under its 10 minutes; a longer run by hand finds the
        # same classes of request (raise both numbers to look harder).
        "--max-examples",
        "30" if authorized else "10",
        "--max-time",
        "30" if authorized else "10",
        # One worker: hypothesis describes strategies with ast.parse, which CPython 3.11
        # cannot run in two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--seed",
        "18",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await run.communicate()
    text = output.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(text)
    print(text[-3000:])
    assert run.returncode == 0, text[-8000:]
