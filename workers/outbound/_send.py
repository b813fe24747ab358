"""Sending: one signed webhook or one chat message, and what its outcome means to Temporal.

Activities retry what may succeed later and must not retry what never will, so each outcome
becomes either a result or an ``ApplicationError`` whose ``non_retryable`` flag says which:
2xx is done; 408, 425, 429, 5xx, timeouts and connection errors are worth retrying (after
``Retry-After`` when the server says so); other 4xx, redirects, refused addresses and missing
configuration are not. Every message is one line naming the call, never a credential.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict
from temporalio.exceptions import ApplicationError

from workers.outbound._guard import AddressRefused, OutboundClient
from workers.outbound._settings import CHAT_DEFAULT_VAR, CHAT_VAR, SECRET_VAR, OutboundSettings
from workers.outbound._signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_json,
    sign,
)
from workers.redaction import redact_url

RETRYABLE_4XX = frozenset({408, 425, 429})
# A server may ask for a pause; a hostile or broken one should not park a journey for days.
MAX_RETRY_AFTER = timedelta(hours=1)
# Enough of a response body to explain a failure ("channel_not_found"), never a download.
EXCERPT_BYTES = 2048
EXCERPT_CHARS = 200


class WebhookResult(BaseModel):
    """A delivered call: the status, where it went (without secrets) and what came back."""

    model_config = ConfigDict(frozen=True)

    status: int
    target: str
    """``POST https://crm.example.com/hooks/stage`` (no query), or ``chat #cs-alerts``."""
    idempotency_key: str
    response: str = ""
    """The start of the response body, on one line."""

    @property
    def detail(self) -> str:
        """One line for a receipt: ``POST https://... answered 200``."""
        return f"{self.target} answered {self.status}"


def _shown(url: httpx.URL) -> str:
    # Query strings and user info often carry tokens; the path is enough to find the step.
    return str(url.copy_with(query=None, fragment=None, username=None, password=None))


def _parse_url(url: str, what: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        # Only up to the query (what follows often carries a token), and no password.
        shown = redact_url(url).split("?", 1)[0]
        raise _fatal(f"{what}: {shown!r} is not a valid URL ({exc})", "WebhookInvalid") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _fatal(
            f"{what}: {_shown(parsed)!r} is not an http:// or https:// URL", "WebhookInvalid"
        )
    return parsed


def _fatal(message: str, kind: str) -> ApplicationError:
    return ApplicationError(_one_line(message), type=kind, non_retryable=True)


def _retry(message: str, kind: str, delay: timedelta | None = None) -> ApplicationError:
    return ApplicationError(
        _one_line(message), type=kind, non_retryable=False, next_retry_delay=delay
    )


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """``Retry-After`` as a delay: seconds or an HTTP date, capped at an hour; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - (now or datetime.now(UTC))
    if delay <= timedelta(0):
        return None
    return min(delay, MAX_RETRY_AFTER)


async def _excerpt(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    text = _one_line(data[:EXCERPT_BYTES].decode("utf-8", "replace"))
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _outcome(what: str, response: httpx.Response, excerpt: str) -> None:
    """Raise the ApplicationError a non-2xx response means; return for 2xx."""
    status = response.status_code
    said = f": {excerpt}" if excerpt else ""
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        location = response.headers.get("Location")
        target = _shown(response.url.join(location)) if location else "an unnamed location"
        raise _fatal(
            f"{what}: redirect to {target} refused (status {status}); "
            "outbound calls never follow redirects, so point the step at the final URL",
            "WebhookRedirect",
        )
    phrase = f"{status} {response.reason_phrase}".strip()
    if status in RETRYABLE_4XX or status >= 500:
        delay = retry_after(response.headers.get("Retry-After"))
        after = f", retrying after {delay.total_seconds():g} s as asked" if delay else ""
        raise _retry(f"{what} answered {phrase}{said}{after}", "WebhookUnavailable", delay)
    raise _fatal(f"{what} rejected with {phrase}{said}", "WebhookRejected")


@asynccontextmanager
async def _client(
    settings: OutboundSettings, client: OutboundClient | None
) -> AsyncIterator[OutboundClient]:
    if client is not None:
        yield client
        return
    async with OutboundClient(settings) as own:
        yield own


async def _send(
    settings: OutboundSettings,
    client: OutboundClient | None,
    *,
    what: str,
    method: str,
    url: httpx.URL,
    content: bytes,
    headers: dict[str, str],
    idempotency_key: str,
) -> WebhookResult:
    try:
        async with _client(settings, client) as http:
            request = http.build_request(method, url, content=content, headers=headers)
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
    except AddressRefused as exc:
        raise _fatal(f"{what} refused: {exc}", "AddressRefused") from None
    except httpx.TimeoutException as exc:
        raise _retry(f"{what}: {_timeout(exc, settings)}", "WebhookTimeout") from None
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise _retry(
            f"{what}: could not connect or lost the connection: {reason}", "WebhookUnavailable"
        ) from None
    _outcome(what, response, excerpt)
    return WebhookResult(
        status=response.status_code, target=what, idempotency_key=idempotency_key, response=excerpt
    )


def _timeout(exc: httpx.TimeoutException, settings: OutboundSettings) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {settings.connect_timeout:g} s"
    if isinstance(exc, httpx.WriteTimeout):
        return f"could not send the request within {settings.write_timeout:g} s"
    if isinstance(exc, httpx.PoolTimeout):
        return f"no free connection within {settings.pool_timeout:g} s"
    return f"no answer within {settings.read_timeout:g} s"


async def post_webhook(
    settings: OutboundSettings,
    *,
    url: str,
    method: Literal["POST", "PUT", "PATCH"] = "POST",
    body: dict[str, Any],
    idempotency_key: str,
    client: OutboundClient | None = None,
) -> WebhookResult:
    """Send ``body`` as signed JSON to ``url``; raise ``ApplicationError`` unless 2xx.

    Unsigned webhooks are never sent: without ``PLAYBOOK_WEBHOOK_SECRET`` this raises a
    non-retryable ``WebhookNotConfigured`` error, since a receiver that checks signatures
    would reject the call and one that does not should not be taught to trust unsigned ones.
    """
    parsed = _parse_url(url, f"webhook {method}")
    what = f"webhook {method} {_shown(parsed)}"
    if settings.webhook_secret is None:
        raise _fatal(
            f"{what} not sent: {SECRET_VAR} is not set and webhooks are always signed; "
            "set it on the worker and share it with the receiver",
            "WebhookNotConfigured",
        )
    try:
        content = canonical_json(body)
    except (TypeError, ValueError) as exc:
        # Never sent as null or as the non-JSON NaN: the receiver would act on what nobody
        # wrote. Playbook validation refuses them first; this is the last line.
        reason = (
            "a number in it is NaN or infinity, which JSON cannot carry"
            if "Out of range float" in str(exc)
            else str(exc)
        )
        raise _fatal(f"{what} not sent: the body is not JSON: {reason}", "WebhookInvalid") from None
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: idempotency_key,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(settings.webhook_secret.get_secret_value(), timestamp, content),
    }
    return await _send(
        settings,
        client,
        what=what,
        method=method,
        url=parsed,
        content=content,
        headers=headers,
        idempotency_key=idempotency_key,
    )


async def notify_chat(
    settings: OutboundSettings,
    *,
    channel: str,
    text: str,
    idempotency_key: str,
    client: OutboundClient | None = None,
) -> WebhookResult:
    """Post ``text`` to ``channel`` through its Slack-compatible incoming webhook.

    The body is ``{"text": ...}``; through the default webhook it also names the channel,
    which Mattermost and Slack's legacy webhooks honour (Slack app webhooks post to their
    own channel). Raises a non-retryable ``ChatNotConfigured`` error when neither the
    channel nor a default has a webhook.
    """
    hook = settings.chat_webhook(channel)
    if hook is None:
        raise _fatal(
            f"chat {channel}: no incoming webhook configured; add {channel}=URL to "
            f"{CHAT_VAR} or set {CHAT_DEFAULT_VAR}",
            "ChatNotConfigured",
        )
    url, is_default = hook
    parsed = httpx.URL(url)  # checked when the settings were read
    # The webhook's path is its credential: messages name the channel and the host only.
    what = f"chat {channel} via {parsed.host}"
    payload: dict[str, Any] = {"text": text}
    if is_default:
        payload["channel"] = channel
    return await _send(
        settings,
        client,
        what=what,
        method="POST",
        url=parsed,
        content=canonical_json(payload),
        headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key},
        idempotency_key=idempotency_key,
    )
