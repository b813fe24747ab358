"""Webhook signatures: how a receiver knows a request came from us and was not replayed.

The scheme (documented in the README, stable for receivers): the body is canonical JSON;
``X-Playbook-Timestamp`` is the send time in Unix seconds; ``X-Playbook-Signature`` is
``sha256=`` + hex HMAC-SHA256 with the shared secret over ``f"{timestamp}.{body}"``. Signing
the timestamp with the body lets a receiver refuse an old request replayed by someone who
captured it; ``Idempotency-Key`` lets it drop our own retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

TIMESTAMP_HEADER = "X-Playbook-Timestamp"
SIGNATURE_HEADER = "X-Playbook-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_TIMESTAMP_DIGITS = 12
"""Unix seconds have 10 digits until the year 2286."""


def canonical_json(body: Any) -> bytes:
    """Sorted keys, no spaces, ASCII: the same data always gives the same bytes.

    Raises ``TypeError`` or ``ValueError`` for what JSON cannot carry (NaN included).
    """
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Playbook-Signature`` value for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes | str,
    signature: str,
    tolerance_seconds: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` signs ``body`` at ``timestamp`` and the timestamp is recent.

    For receivers: pass the raw request body (not re-serialized JSON) and the two headers.
    The comparison takes constant time, so response times do not leak the signature.
    """
    text = str(timestamp).strip()
    # Total on any header a client sends: only ASCII digits (str.isdigit() takes "²", which
    # int() refuses), short enough for int() (it refuses over 4,300 digits) and for a clock.
    if not (0 < len(text) <= _TIMESTAMP_DIGITS and text.isascii() and text.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(text)) > tolerance_seconds:
        return False
    given = signature.strip()
    if not given.isascii():  # compare_digest refuses non-ASCII text; it cannot match anyway
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, int(text), raw).encode(), given.encode())
