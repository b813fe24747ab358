"""Secrets out of everything we print: one place that masks passwords and tokens.

Database URLs, chat incoming-webhook URLs and webhook URLs carry credentials in two places:
the password of the user info (``postgresql://app:PASSWORD@db/cs``) and query parameters
(``?password=``, ``?api_key=``, ``?sig=``). Settings, CLI error lines, worker logs and the
HTTP access log all print URLs, so all of them pass through here:

- :func:`redact_url` masks one URL or libpq connection string (``host=db password=...``);
- :func:`redact` masks every URL and every ``name=value`` with a secret-looking name in a
  line of text (a log message, a driver's error), plus any secret given explicitly;
- :class:`RedactingFilter` applies :func:`redact` to log records.

A password may hold a raw ``/``, ``@`` or ``:`` that its writer did not percent-encode, and
then nobody can tell where it ends for sure. The user info is taken to run to the *last*
``@`` (or to the end, with no host), so whatever the password holds is masked; the price is
that a URL with a port and an ``@`` later on (``https://h:8443/x?email=a@b``) is masked
more than it needs. Masking too much costs a reader a few characters; masking too little
leaks a credential into a log that outlives it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

_SECRET_WORDS = re.compile(
    r"pass|pwd|token|secret|key|sig|auth|credential|session|cookie|private", re.IGNORECASE
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# A query (or fragment) parameter: the name after ?, &, ; or #, the value up to the next one.
_PARAM = re.compile(r"(?<=[?&;#])([^=&;#?]*)=([^&;#]*)")
# A name=value in a libpq connection string or in text: the value quoted (with backslash
# escapes), or up to whitespace (in text also up to '&', which separates query parameters),
# so a trailing comma may be masked with it.
_PAIR_NAME = r"""(?:(?<=[\s?&;#,("'])|^)([\w.%-]+)\s*=\s*"""
_QUOTED = r"""'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?"""
_DSN_PAIR = re.compile(_PAIR_NAME + rf"({_QUOTED}|\S*)")
_TEXT_PAIR = re.compile(_PAIR_NAME + rf"({_QUOTED}|[^\s&]*)")
# Up to whitespace: a password may hold quotes, and a closing quote masked is a small price.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")


def secret_name(name: str) -> bool:
    """True for a parameter name that looks like it holds a credential."""
    return bool(_SECRET_WORDS.search(unquote(name)))


def redact_url(url: str) -> str:
    """``url`` (or a ``key=value`` connection string) with its secrets replaced by ``***``."""
    return _masked(url, _url_spans(url) if _SCHEME.match(url) else _pair_spans(url, _DSN_PAIR))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL's secrets, every secret-named ``name=value`` and each of
    ``secrets`` (texts known to be secret, such as a password from a URL) masked."""
    # Longest first, so a secret holding another is masked whole; under three characters
    # would mask ordinary words, and such a password is no secret anyway.
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    spans = []
    for found in _URL_IN_TEXT.finditer(text):
        spans += [(found.start() + a, found.start() + b) for a, b in _url_spans(found.group())]
    return _masked(text, spans + _pair_spans(text, _TEXT_PAIR))


def secrets_of(url: str) -> list[str]:
    """The secret parts of ``url`` as written and percent-decoded, for :func:`redact` to
    take out of messages that quote them (a driver's "invalid token" error)."""
    spans = _url_spans(url) if _SCHEME.match(url) else _pair_spans(url, _DSN_PAIR)
    raw = [url[start:end] for start, end in spans]
    return [*raw, *(unquote(part) for part in raw)]


class RedactingFilter(logging.Filter):
    """Masks secrets in each record's message (arguments included) before a handler prints it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _url_spans(url: str) -> list[tuple[int, int]]:
    scheme = _SCHEME.match(url)
    if scheme is None:
        return []
    start = scheme.end()
    spans = []
    at = url.rfind("@", start)
    if at != -1:
        colon = url.find(":", start, at)
        # A ':' after a '/', '?' or '#' is in the path or query, not in the user info.
        if colon != -1 and not re.search(r"[/?#]", url[start:colon]):
            spans.append((colon + 1, at))
    for param in _PARAM.finditer(url, start):
        if secret_name(param.group(1)):
            spans.append(param.span(2))
    return spans


def _pair_spans(text: str, pairs: re.Pattern[str]) -> list[tuple[int, int]]:
    return [pair.span(2) for pair in pairs.finditer(text) if secret_name(pair.group(1))]


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the union of ``spans`` replaced, one ``***`` per run of masked text."""
    out, end = [], 0
    for start, stop in sorted(s for s in spans if s[1] > s[0]):
        if start < end:  # overlaps the previous span: extend it
            if stop > end:
                end = stop
            continue
        out += [text[end:start], MASK]
        end = stop
    return "".join(out) + text[end:]
