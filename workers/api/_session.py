"""The pages' login: a token exchanged once for a signed, HttpOnly, SameSite cookie.

A browser cannot send ``Authorization: Bearer``, so with ``PLAYBOOK_API_TOKENS`` set the
dashboard was a 401 in JSON. The login form takes a token (a write token or a read-only one
from ``PLAYBOOK_API_READ_TOKENS``) and answers with a cookie that says which kind it was,
which token (a keyed fingerprint, so removing the token from the settings ends its sessions)
and until when; it is signed with ``PLAYBOOK_API_SESSION_SECRET``, or a key derived from the
configured credentials. The cookie is ``SameSite=Strict``, so another site's page cannot
make a browser send it; a POST carried by the cookie must also carry the session's CSRF
token (the pages put it in their forms), which another site cannot read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Literal

from pydantic import BaseModel, ValidationError

from workers.settings import ApiSettings

COOKIE = "playbook_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
"""A working day: long enough for a CS leader's day, short enough that a lost laptop's
session ends on its own."""

Role = Literal["read", "write"]


class Session(BaseModel):
    role: Role
    token: str
    """The keyed fingerprint of the token it was made from."""
    expires: int
    nonce: str


def _key(settings: ApiSettings) -> bytes:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    # Derived from every credential: changing any of them ends the sessions made before.
    material = [t.get_secret_value() for t in (*settings.tokens, *settings.read_tokens)]
    if settings.hmac_secret is not None:
        material.append(settings.hmac_secret.get_secret_value())
    return hashlib.sha256(("playbook-session\0" + "\0".join(sorted(material))).encode()).digest()


def _fingerprint(key: bytes, token: str) -> str:
    return hmac.new(key, b"token\0" + token.encode(), hashlib.sha256).hexdigest()[:32]


def role_of(settings: ApiSettings, token: str) -> Role | None:
    """The role ``token`` grants, comparing against every token in constant time each."""
    given = token.strip().encode()
    write = read = False
    for known in settings.tokens:
        write |= hmac.compare_digest(given, known.get_secret_value().encode())
    for known in settings.read_tokens:
        read |= hmac.compare_digest(given, known.get_secret_value().encode())
    return "write" if write else "read" if read else None


def issue(settings: ApiSettings, token: str, role: Role, now: float | None = None) -> str:
    """The cookie value for a login with ``token``."""
    key = _key(settings)
    session = Session(
        role=role,
        token=_fingerprint(key, token.strip()),
        expires=int((now or time.time()) + SESSION_SECONDS),
        nonce=secrets.token_urlsafe(16),
    )
    body = base64.urlsafe_b64encode(session.model_dump_json().encode()).decode().rstrip("=")
    return f"{body}.{_sign(key, body)}"


def _sign(key: bytes, body: str) -> str:
    return hmac.new(key, b"session\0" + body.encode(), hashlib.sha256).hexdigest()


def verify(settings: ApiSettings, value: str, now: float | None = None) -> Session | None:
    """The session in a cookie, or None when it is forged, expired, or its token is gone."""
    key = _key(settings)
    body, _, signature = value.partition(".")
    if not body or not hmac.compare_digest(signature.encode(), _sign(key, body).encode()):
        return None
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        session = Session.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None
    if session.expires <= (now or time.time()):
        return None
    tokens = settings.tokens if session.role == "write" else settings.read_tokens
    if not any(
        hmac.compare_digest(session.token, _fingerprint(key, t.get_secret_value())) for t in tokens
    ):
        return None
    return session


def csrf_token(settings: ApiSettings, session: Session) -> str:
    """The session's CSRF token: what its pages' forms send back with a POST."""
    return hmac.new(_key(settings), b"csrf\0" + session.nonce.encode(), hashlib.sha256).hexdigest()


def csrf_ok(settings: ApiSettings, session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode(), csrf_token(settings, session).encode()
    )
