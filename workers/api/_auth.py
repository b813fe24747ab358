"""Who may call the API: a bearer token, or a request signed with the shared HMAC key.

Signed requests use the scheme our outbound webhooks use (``workers.outbound._signing``):
``X-Playbook-Timestamp`` in Unix seconds and ``X-Playbook-Signature: sha256=HEX`` over
``f"{timestamp}.{raw body}"``, accepted within five minutes. A CRM or data pipeline that can
sign requests never has to store a token that works forever; a replayed request is refused
once its timestamp is old.

Tokens come in two kinds: ``PLAYBOOK_API_TOKENS`` may do everything, read-only tokens
(``PLAYBOOK_API_READ_TOKENS``, for dashboards and people who only look) may read: a write
(any method but GET, HEAD, OPTIONS) with one is ``403``. Browsers log in once with a token and
then carry the signed session cookie of ``workers.api._session``; a write carried by the
cookie needs the session's CSRF token too.

With no credentials configured the API is open, which ``serve`` allows on loopback only.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from workers.api._session import COOKIE, CSRF_HEADER, csrf_ok, role_of, verify
from workers.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from workers.settings import API_TOKENS_VAR, ApiSettings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="playbook"'}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY = f"this token may only read: sending events needs a token from {API_TOKENS_VAR}"


async def authorize(request: Request, settings: ApiSettings) -> None:
    """Raise 401 unless the request carries a valid token, signature or session cookie,
    and 403 when a read-only one asks to write."""
    if settings.open:
        return
    write = request.method not in SAFE_METHODS
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        # Every token is compared, in constant time each, so timing tells nothing.
        role = role_of(settings, token)
        if role is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid bearer token", _CHALLENGE)
        if write and role == "read":
            raise HTTPException(status.HTTP_403_FORBIDDEN, READ_ONLY)
        return
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
    cookie = request.cookies.get(COOKIE)
    if cookie:
        session = verify(settings, cookie)
        if session is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "session expired or not valid: log in again"
            )
        if write and not csrf_ok(settings, session, request.headers.get(CSRF_HEADER)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"a write with the session cookie needs {CSRF_HEADER}"
            )
        if write and session.role == "read":
            raise HTTPException(status.HTTP_403_FORBIDDEN, READ_ONLY)
        return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "credentials required: Authorization: Bearer TOKEN"
        + (f", or {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}" if settings.hmac_secret else ""),
        _CHALLENGE,
    )
