"""Outbound calls: signed webhooks and chat messages, guarded against reaching inside.

The activities call :func:`post_webhook` and :func:`notify_chat` with
:class:`OutboundSettings` read once from the environment. Everything a call can do wrong
becomes a ``temporalio.exceptions.ApplicationError`` that says whether retrying may help.
"""

from workers.outbound._guard import (
    USER_AGENT,
    AddressPolicy,
    AddressRefused,
    GuardedBackend,
    GuardedTransport,
    OutboundClient,
)
from workers.outbound._send import WebhookResult, notify_chat, post_webhook, retry_after
from workers.outbound._settings import AllowEntry, OutboundSettings, channel_key, parse_allow
from workers.outbound._signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_json,
    sign,
    verify_signature,
)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "USER_AGENT",
    "AddressPolicy",
    "AddressRefused",
    "AllowEntry",
    "GuardedBackend",
    "GuardedTransport",
    "OutboundClient",
    "OutboundSettings",
    "WebhookResult",
    "canonical_json",
    "channel_key",
    "notify_chat",
    "parse_allow",
    "post_webhook",
    "retry_after",
    "sign",
    "verify_signature",
]
