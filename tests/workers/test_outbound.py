"""Outbound calls against real HTTP servers on loopback: the guard, signatures, outcomes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any

import httpcore
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError

from engine.client._connect import SettingsError
from workers.outbound import (
    AddressPolicy,
    AddressRefused,
    GuardedBackend,
    OutboundClient,
    OutboundSettings,
    canonical_json,
    notify_chat,
    parse_allow,
    post_webhook,
    sign,
    verify_signature,
)
from workers.outbound._guard import refusal

SECRET = "s3cret-for-tests-only-0123456789"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A real HTTP server on 127.0.0.1 whose path says how to answer; it records requests."""

    port: int
    requests: list[Seen] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {key.lower(): value for key, value in self.headers.items()}
            server.requests.append(Seen(self.command, self.path, headers, body))
            status, extra = 200, {}
            if self.path.startswith("/status/"):
                status = int(self.path.rsplit("/", 1)[1])
                if status == 429:
                    extra["Retry-After"] = "7"
            elif self.path == "/redirect":
                status, extra = 302, {"Location": "/target"}
            elif self.path == "/slow":
                time.sleep(1.0)
            answer = b"ok" if status < 300 else b"invalid_payload\nsee docs"
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_PUT = do_PATCH = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Quiet(ThreadingHTTPServer):
    # The slow handler outlives its client; do not wait for it, nor print its broken pipe.
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextmanager
def serve() -> Iterator[Server]:
    state = Server(port=0)
    http = _Quiet(("127.0.0.1", 0), _handler(state))
    state.port = http.server_address[1]
    # A short poll keeps shutdown (which waits for the next poll) from costing half a second.
    thread = threading.Thread(target=http.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        http.shutdown()
        http.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as state:
        yield state


def settings(allow: str = "", **values: Any) -> OutboundSettings:
    values.setdefault("webhook_secret", SECRET)
    return OutboundSettings(allow=parse_allow(allow), connect_timeout=2, read_timeout=0.3, **values)


async def refused(**kwargs: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await post_webhook(**kwargs)
    assert "\n" not in caught.value.message
    return caught.value


# The guard -------------------------------------------------------------------------------


async def test_loopback_refused_without_allowlist(server: Server) -> None:
    error = await refused(
        settings=settings(), url=server.url("/ok"), body={"a": 1}, idempotency_key="k1"
    )
    assert error.type == "AddressRefused"
    assert error.non_retryable
    assert "127.0.0.1 is a loopback address" in error.message
    assert f"add 127.0.0.1:{server.port} (or a CIDR block) to PLAYBOOK_OUTBOUND_ALLOW" in (
        error.message
    )
    assert server.requests == []


async def test_allowed_loopback_receives_a_body_whose_signature_verifies(server: Server) -> None:
    body = {"account": {"id": "acme"}, "step": "crm-stage", "stage": "adopted"}
    result = await post_webhook(
        settings("127.0.0.1"),
        url=server.url("/hooks/stage?token=abc"),
        method="PATCH",
        body=body,
        idempotency_key="playbook/x/acme/1/crm-stage/1",
    )
    assert result.status == 200
    assert result.response == "ok"
    assert "token" not in result.target
    [seen] = server.requests
    assert seen.method == "PATCH"
    assert json.loads(seen.body) == body
    assert seen.body == canonical_json(body)
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "playbook/x/acme/1/crm-stage/1"
    assert seen.headers["user-agent"].startswith("playbook-engine/")
    timestamp, signature = (
        seen.headers["x-playbook-timestamp"],
        seen.headers["x-playbook-signature"],
    )
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, timestamp, seen.body, signature)
    assert not verify_signature("another-secret-0123456789", timestamp, seen.body, signature)
    assert not verify_signature(SECRET, timestamp, seen.body + b" ", signature)
    assert not verify_signature(SECRET, timestamp, seen.body, signature, now=int(timestamp) + 301)


async def test_long_idempotency_keys_arrive_exactly(server: Server) -> None:
    """A webhook's Idempotency-Key is sent on one line as given, however long: the receiver
    reads exactly the key, with no leading space from a folded header."""
    key = "playbook/renewal/" + "a" * 200 + "/3/ninety-days-out/2"
    await post_webhook(
        settings("127.0.0.1"), url=server.url("/hooks/k"), body={}, idempotency_key=key
    )
    [seen] = server.requests
    assert seen.headers["idempotency-key"] == key


async def test_metadata_address_refused_at_once_even_with_loopback_allowed() -> None:
    started = time.monotonic()
    error = await refused(
        settings=settings("127.0.0.1, ::1"),
        url="http://169.254.169.254/latest/meta-data/",
        body={},
        idempotency_key="k",
    )
    # A connection attempt to an unrouted address would wait for the connect timeout (2 s).
    assert time.monotonic() - started < 1
    assert error.type == "AddressRefused"
    assert "169.254.169.254 is a link-local (cloud metadata) address" in error.message


async def test_localhost_refused_without_allowlist(server: Server) -> None:
    # localhost stands in for any name whose DNS answer is private, rebinding included.
    error = await refused(
        settings=settings(),
        url=server.url("/ok", host="localhost"),
        body={},
        idempotency_key="k",
    )
    assert error.type == "AddressRefused"
    assert "localhost resolves to" in error.message
    assert f"add localhost:{server.port} (or a CIDR block)" in error.message
    assert server.requests == []


async def test_ipv6_loopback_refused() -> None:
    error = await refused(
        settings=settings("127.0.0.1"), url="http://[::1]:9/hook", body={}, idempotency_key="k"
    )
    assert error.type == "AddressRefused"
    assert "::1 is a loopback address" in error.message
    assert "add [::1]:9" in error.message


async def test_every_connection_is_checked(server: Server) -> None:
    config = settings(f"127.0.0.1:{server.port}")
    with serve() as other:
        async with OutboundClient(config) as client:
            ok = {"settings": config, "body": {}, "idempotency_key": "k", "client": client}
            await post_webhook(url=server.url("/ok"), **ok)
            error = await refused(url=other.url("/ok"), **ok)
            await post_webhook(url=server.url("/ok"), **ok)
        assert other.requests == []
    assert error.type == "AddressRefused"
    assert server.paths() == ["/ok", "/ok"]


class _Recording(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.hosts: list[str] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await self.inner.connect_tcp(host, port, **kwargs)


async def test_the_connection_goes_to_the_checked_address(server: Server) -> None:
    # Resolved once, checked, then the socket opens to that address: no second lookup that a
    # rebinding DNS server could answer differently.
    recording = _Recording()
    backend = GuardedBackend(AddressPolicy(parse_allow("localhost")), inner=recording)
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("POST", server.url("/ok", host="localhost"), content=b"{}")
    assert response.status == 200
    assert recording.hosts
    assert all(ip_address(host).is_loopback for host in recording.hosts)
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
        (
            "::ffff:169.254.169.254",
            "link-local (cloud metadata) (IPv4 169.254.169.254 inside IPv6)",
        ),
        ("2002:a00:1::1", "private (IPv4 10.0.0.1 inside IPv6)"),
        ("fe80::1", "link-local"),
        ("fd12::1", "private"),
        ("10.1.2.3", "private"),
        ("100.64.0.1", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert refusal(ip_address(address)) == kind


def test_ipv4_mapped_loopback_allowed_by_the_ipv4_entry() -> None:
    AddressPolicy(parse_allow("127.0.0.1")).check("x", ip_address("::ffff:127.0.0.1"), 80)
    with pytest.raises(AddressRefused):
        AddressPolicy(parse_allow("10.0.0.0/8")).check("x", ip_address("::ffff:127.0.0.1"), 80)


# Outcomes --------------------------------------------------------------------------------


async def test_redirect_refused_and_not_followed(server: Server) -> None:
    error = await refused(
        settings=settings("127.0.0.1"), url=server.url("/redirect"), body={}, idempotency_key="k"
    )
    assert error.type == "WebhookRedirect"
    assert error.non_retryable
    assert f"redirect to {server.url('/target')} refused (status 302)" in error.message
    assert server.paths() == ["/redirect"]


async def test_client_errors_are_final(server: Server) -> None:
    error = await refused(
        settings=settings("127.0.0.1"), url=server.url("/status/400"), body={}, idempotency_key="k"
    )
    assert error.type == "WebhookRejected"
    assert error.non_retryable
    assert "rejected with 400 Bad Request: invalid_payload see docs" in error.message


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503])
async def test_busy_and_server_errors_retry(server: Server, status: int) -> None:
    error = await refused(
        settings=settings("127.0.0.1"),
        url=server.url(f"/status/{status}"),
        body={},
        idempotency_key="k",
    )
    assert error.type == "WebhookUnavailable"
    assert not error.non_retryable
    if status == 429:
        assert error.next_retry_delay is not None
        assert error.next_retry_delay.total_seconds() == 7
        assert "retrying after 7 s as asked" in error.message


async def test_read_timeout_retries(server: Server) -> None:
    started = time.monotonic()
    error = await refused(
        settings=settings("127.0.0.1"), url=server.url("/slow"), body={}, idempotency_key="k"
    )
    assert time.monotonic() - started < 0.9
    assert error.type == "WebhookTimeout"
    assert not error.non_retryable
    assert "no answer within 0.3 s" in error.message


async def test_connection_refused_retries(server: Server) -> None:
    error = await refused(
        settings=settings("127.0.0.1"), url="http://127.0.0.1:9/hook", body={}, idempotency_key="k"
    )
    assert error.type == "WebhookUnavailable"
    assert not error.non_retryable


async def test_unsigned_webhooks_are_not_sent(server: Server) -> None:
    error = await refused(
        settings=settings("127.0.0.1", webhook_secret=None),
        url=server.url("/ok"),
        body={},
        idempotency_key="k",
    )
    assert error.type == "WebhookNotConfigured"
    assert "PLAYBOOK_WEBHOOK_SECRET is not set" in error.message
    assert server.requests == []


async def test_bad_urls_and_bodies_are_final() -> None:
    error = await refused(
        settings=settings(), url="ftp://example.com/x", body={}, idempotency_key="k"
    )
    assert error.type == "WebhookInvalid"
    assert "'ftp://example.com/x' is not an http:// or https:// URL" in error.message
    error = await refused(
        settings=settings(), url="http:///x?token=t0k", body={}, idempotency_key="k"
    )
    assert error.type == "WebhookInvalid"
    assert "t0k" not in error.message
    error = await refused(
        settings=settings(),
        url="https://example.com/x",
        body={"x": float("nan")},
        idempotency_key="k",
    )
    assert error.type == "WebhookInvalid"
    assert "not sent: the body is not JSON: a number in it is NaN or infinity" in error.message
    error = await refused(
        settings=settings(),
        url="https://example.com/x",
        body={"deep": [{"x": float("-inf")}]},
        idempotency_key="k",
    )
    assert error.type == "WebhookInvalid" and "NaN or infinity" in error.message


# Chat ------------------------------------------------------------------------------------


@pytest.fixture
def chat(server: Server) -> OutboundSettings:
    return OutboundSettings.from_env(
        {
            "PLAYBOOK_OUTBOUND_ALLOW": "127.0.0.1",
            "PLAYBOOK_CHAT_WEBHOOKS": f"#cs-escalations={server.url('/chat/esc')};"
            f" cs-renewals = {server.url('/chat/renew')}",
            "PLAYBOOK_CHAT_DEFAULT_WEBHOOK": server.url("/chat/default"),
        }
    )


async def test_chat_posts_text_to_the_channels_webhook(
    server: Server, chat: OutboundSettings
) -> None:
    result = await notify_chat(
        chat, channel="#CS-Escalations", text="Acme is critical", idempotency_key="k1"
    )
    await notify_chat(chat, channel="#cs-renewals", text="Renewal in 90 days", idempotency_key="k2")
    await notify_chat(chat, channel="#cs-other", text="Hello", idempotency_key="k3")
    assert result.status == 200
    assert result.target == "chat #CS-Escalations via 127.0.0.1"
    assert server.paths() == ["/chat/esc", "/chat/renew", "/chat/default"]
    bodies = [json.loads(seen.body) for seen in server.requests]
    assert bodies == [
        {"text": "Acme is critical"},
        {"text": "Renewal in 90 days"},
        {"text": "Hello", "channel": "#cs-other"},
    ]
    assert server.requests[0].headers["idempotency-key"] == "k1"


async def test_chat_without_a_webhook_names_the_variables(server: Server) -> None:
    with pytest.raises(ApplicationError) as caught:
        await notify_chat(settings(), channel="#cs-alerts", text="x", idempotency_key="k")
    assert caught.value.type == "ChatNotConfigured"
    assert caught.value.non_retryable
    assert "PLAYBOOK_CHAT_WEBHOOKS" in caught.value.message
    assert "PLAYBOOK_CHAT_DEFAULT_WEBHOOK" in caught.value.message


async def test_chat_is_guarded_too(server: Server) -> None:
    config = OutboundSettings.from_env({"PLAYBOOK_CHAT_DEFAULT_WEBHOOK": server.url("/chat/x")})
    with pytest.raises(ApplicationError) as caught:
        await notify_chat(config, channel="#a", text="x", idempotency_key="k")
    assert caught.value.type == "AddressRefused"
    assert "/chat/x" not in caught.value.message  # the webhook path is a credential
    assert server.requests == []


# Settings --------------------------------------------------------------------------------


def test_settings_from_env() -> None:
    config = OutboundSettings.from_env(
        {
            "PLAYBOOK_WEBHOOK_SECRET": SECRET,
            "PLAYBOOK_OUTBOUND_ALLOW": "10.0.0.0/8, crm.internal:8443 [::1]:8080,127.0.0.1",
            "PLAYBOOK_OUTBOUND_READ_TIMEOUT": "2.5",
            "PLAYBOOK_CHAT_WEBHOOKS": "",
        }
    )
    assert [str(entry) for entry in config.allow] == [
        "10.0.0.0/8",
        "crm.internal:8443",
        "[::1/128]:8080",
        "127.0.0.1/32",
    ]
    assert config.read_timeout == 2.5
    assert config.timeout().read == 2.5
    assert SECRET not in repr(config)
    assert OutboundSettings.from_env({}).webhook_secret is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLAYBOOK_OUTBOUND_ALLOW": "10.0.0.0/33"}, "PLAYBOOK_OUTBOUND_ALLOW: '10.0.0.0/33'"),
        ({"PLAYBOOK_OUTBOUND_ALLOW": "host:99999"}, "PLAYBOOK_OUTBOUND_ALLOW: 'host:99999'"),
        ({"PLAYBOOK_WEBHOOK_SECRET": "short"}, "PLAYBOOK_WEBHOOK_SECRET: at least 16"),
        ({"PLAYBOOK_OUTBOUND_READ_TIMEOUT": "soon"}, "PLAYBOOK_OUTBOUND_READ_TIMEOUT: 'soon'"),
        ({"PLAYBOOK_OUTBOUND_CONNECT_TIMEOUT": "0"}, "PLAYBOOK_OUTBOUND_CONNECT_TIMEOUT: must"),
        ({"PLAYBOOK_CHAT_WEBHOOKS": "https://hooks.example/T0/B0/XYZ"}, "CHANNEL=URL"),
        ({"PLAYBOOK_CHAT_WEBHOOKS": "#a=hooks.example/T0"}, "the URL for #a is not"),
        ({"PLAYBOOK_CHAT_DEFAULT_WEBHOOK": "nope"}, "PLAYBOOK_CHAT_DEFAULT_WEBHOOK is not"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        OutboundSettings.from_env(env)
    assert message in str(caught.value)
    assert "XYZ" not in str(caught.value)


@hypothesis_settings(max_examples=500, deadline=None)
@given(timestamp=st.text(max_size=60) | st.integers().map(str), signature=st.text(max_size=90))
def test_verify_signature_answers_any_header_without_raising(
    timestamp: str, signature: str
) -> None:
    """Whatever a client puts in the two headers, the answer is True or False, never an error;
    a signature that is not the right HMAC is False."""
    body = b'{"score": 40}'
    assert verify_signature(SECRET, timestamp, body, signature) in (False,)


@given(
    timestamp=st.sampled_from(["\u00b9\u00b2\u00b3", "\u0661\u0662", "9" * 5000, " 12 ", "-1"]),
    signature=st.sampled_from(["sha256=00", "sha256=\u00e9", "", "sha256=" + "z" * 64]),
)
def test_verify_signature_refuses_the_reported_headers(timestamp: str, signature: str) -> None:
    """Superscript and Arabic-Indic digits, 5,000 digits, a negative time, non-ASCII or
    non-hex signatures: refused, not raised."""
    assert verify_signature(SECRET, timestamp, b"{}", signature) is False


def test_a_right_signature_with_spaces_around_still_verifies() -> None:
    """The headers' surrounding spaces are not part of the values."""
    now = int(time.time())
    body = b'{"a":1}'
    assert verify_signature(SECRET, f" {now} ", body, f" {sign(SECRET, now, body)} ")
