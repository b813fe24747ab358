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
import re
import time
from typing import Any

TIMESTAMP_HEADER = "X-Playbook-Timestamp"
SIGNATURE_HEADER = "X-Playbook-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


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
    Total over whatever a client sends: a malformed timestamp or signature is ``False``, never
    an exception. The comparison takes constant time, so response times do not leak the
    signature.
    """
    seconds = _seconds(timestamp)
    expected = _digest(signature)
    if seconds is None or expected is None:
        return False
    if abs((time.time() if now is None else now) - seconds) > tolerance_seconds:
        return False
    try:
        raw = body.encode() if isinstance(body, str) else bytes(body)
    except (UnicodeEncodeError, TypeError):
        return False  # a lone surrogate: not bytes anyone could have signed
    mac = hmac.new(_key(secret), str(seconds).encode() + b"." + raw, hashlib.sha256).digest()
    return hmac.compare_digest(mac, expected)


def _seconds(timestamp: object) -> int | None:
    """Unix seconds from a header, or None for anything else.

    ASCII digits only: ``str.isdigit`` also takes ``"¹²"`` and ``int()`` then fails; a bound
    on the length, since ``int()`` refuses more than 4,300 digits by raising, and no clock
    this side of the year 33658 needs more than 12. Signs, spaces inside, fractions: refused.
    """
    if isinstance(timestamp, bool):
        return None
    if isinstance(timestamp, int):
        return timestamp if 0 <= timestamp < 10**_MAX_DIGITS else None
    if not isinstance(timestamp, str):
        return None
    text = timestamp.strip(" \t")
    if not _DIGITS.fullmatch(text):
        return None
    return int(text)


def _digest(signature: object) -> bytes | None:
    """The 32 bytes of ``sha256=<64 hex digits>``, or None for any other scheme or shape."""
    if not isinstance(signature, str):
        return None
    found = _SIGNATURE.fullmatch(signature.strip(" \t"))
    return bytes.fromhex(found.group(1)) if found else None


_MAX_DIGITS = 12
_DIGITS = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}", re.ASCII)
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})", re.ASCII)
