"""Who may call the API: a bearer token, or a request signed with the shared HMAC key.

Signed requests use the scheme our outbound webhooks use (``workers.outbound._signing``):
``X-Playbook-Timestamp`` in Unix seconds and ``X-Playbook-Signature: sha256=HEX`` over
``f"{timestamp}.{raw body}"``, accepted within five minutes. A CRM or data pipeline that can
sign requests never has to store a token that works forever; a replayed request is refused
once its timestamp is old.

With no credentials configured the API is open, which ``serve`` allows on loopback only.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from workers.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from workers.settings import ApiSettings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="playbook"'}


async def authorize(request: Request, settings: ApiSettings) -> None:
    """Raise 401 unless the request carries a valid token or signature."""
    if settings.open:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        given = token.strip().encode()
        # Every token is compared, in constant time each, so timing tells nothing.
        matched = False
        for known in settings.tokens:
            matched |= hmac.compare_digest(given, known.get_secret_value().encode())
        if matched:
            return
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid bearer token", _CHALLENGE)
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if signature and settings.hmac_secret is not None:
        body = await request.body()
        secret = settings.hmac_secret.get_secret_value()
        if timestamp and verify_signature(secret, timestamp, body, signature):
            return
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"bad signature: sign f'{{timestamp}}.{{body}}' with the shared key, and send "
            f"{TIMESTAMP_HEADER} within 5 minutes of now",
            _CHALLENGE,
        )
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "credentials required: Authorization: Bearer TOKEN"
        + (f", or {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}" if settings.hmac_secret else ""),
        _CHALLENGE,
    )
