"""Email delivery: render a template in the sandbox, send it over SMTP, exactly once per key.

Rendering happens here, in the activity, never in workflow code: it reads account data that
changes and its output is not needed for any decision. Sending is idempotent from the
receiver's point of view: the Message-ID is derived from the activity's idempotency key
(workflow id, step id, visit), so a retry after a crash produces the same message, which
mail systems and our own receipts recognise as a duplicate.

Rendering runs in a thread, bounded in time and size (``engine.language._template_bounds``):
a template that loops for minutes or builds gigabytes stops at its bound and fails its
action for good, and the worker's event loop, which serves every other journey, never waits
for it.

Failures are sorted for Temporal's retry policy: a template that cannot render and a server
that refuses for good (SMTP 5xx) are non-retryable, and the journey records them; a busy
server (4xx), a refused connection or a timeout raise an error the activity retries with
backoff.

All or none: a step's email goes out only when the server accepts every recipient (to and
cc). A refused address is a bad contact someone must fix; a copy that reached the CSM while
the customer's bounced would look like a welcome that went out, so the step fails instead,
naming the address, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import functools
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Literal

import aiosmtplib
from aiosmtplib.email import flatten_message
from jinja2 import Template, TemplateError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from temporalio.exceptions import ApplicationError

from engine.language._plan import TemplatePlan
from engine.language._template_bounds import RENDER_SECONDS, deadline, render_text
from engine.language._templates import environment

IDEMPOTENCY_HEADER = "X-Playbook-Idempotency-Key"
# RFC 5322's hard limit on a line, CRLF excluded.
MAX_LINE = 998


class _OneLine(UnstructuredHeader, BaseHeader):
    """A header written on one line, never folded.

    The default policy folds at 78 characters, and a key with no space to fold at is moved
    whole onto a continuation line: ``X-Playbook-Idempotency-Key:\n <key>``. Parsers unfold
    that to the key with a leading space, so a receiver comparing keys saw two different
    ones. Keys are ASCII without spaces; anything else (or a line past RFC 5322's limit)
    is folded as usual.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        value = str(self)
        line = f"{self.name}: {value}"
        if len(line) > MAX_LINE or not value.isascii() or not value.isprintable():
            return super().fold(policy=policy)
        return line + policy.linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type(IDEMPOTENCY_HEADER.lower(), _OneLine)
_POLICY = email.policy.default.clone(header_factory=_HEADERS)

_TEXT = environment(autoescape=False)
_HTML = environment(autoescape=True)


class RenderedEmail(BaseModel):
    """A template rendered for one recipient: what goes into the message."""

    model_config = ConfigDict(frozen=True)

    subject: str
    text: str
    html: str | None = None


async def render_off_loop(
    template: TemplatePlan, context: dict[str, Any], seconds: float = RENDER_SECONDS
) -> RenderedEmail:
    """:func:`render` in a worker thread, so the event loop goes on serving while it runs."""
    return await asyncio.to_thread(render, template, context, seconds)


def render(
    template: TemplatePlan, context: dict[str, Any], seconds: float = RENDER_SECONDS
) -> RenderedEmail:
    """Render the subject, text and HTML of ``template`` with ``context``.

    The HTML part is autoescaped, the subject and text are not (they are not HTML), and the
    subject is folded onto one line. Anything that goes wrong (a value the context lacks, a
    sandbox refusal, a bound passed: more than ``seconds`` in all, a text or value over the
    size bound) raises a non-retryable ``ApplicationError`` of type ``TemplateError``:
    rendering the same template with the same data again would fail the same way.
    """
    try:
        with deadline(seconds):
            subject = render_text(_compiled(template.subject, html=False), context)
            text = render_text(_compiled(template.text, html=False), context)
            html = (
                render_text(_compiled(template.html, html=True), context)
                if template.html is not None
                else None
            )
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        # Undefined values and sandbox refusals (SecurityError, TemplateTooCostly) are
        # TemplateErrors; the others come from data a template mishandles ({{ account.arr / 0 }}).
        raise _unrenderable(str(error) or type(error).__name__) from None
    except RecursionError:
        raise _unrenderable("a macro calls itself too deeply") from None
    except MemoryError:
        raise _unrenderable("it needs more memory than the worker has") from None
    return RenderedEmail(subject=" ".join(subject.split()), text=text, html=html)


def _unrenderable(reason: str) -> ApplicationError:
    return ApplicationError(
        f"cannot render the email: {_one_line(reason)}", type="TemplateError", non_retryable=True
    )


@functools.lru_cache(maxsize=1_024)
def _compiled(source: str, html: bool) -> Template:
    """A template compiled once per worker: a journey sends the same few templates to
    every account, and compiling costs far more than rendering."""
    return (_HTML if html else _TEXT).from_string(source)


class SmtpSettings(BaseModel):
    """Where and how to send: read from ``PLAYBOOK_SMTP_*`` environment variables."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    """The server's port; by default 25, 587 with STARTTLS, 465 with TLS."""
    security: Literal["none", "starttls", "tls"] = "none"
    """none: plain SMTP (a local relay); starttls: upgrade after connecting; tls: TLS from
    the first byte (SMTPS)."""
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="playbooks@localhost", min_length=3)
    """The From address (PLAYBOOK_SMTP_FROM), e.g. 'Acme Success <success@acme.example>'."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds for connecting and for each SMTP command."""

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"none": 25, "starttls": 587, "tls": 465}[self.security]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SmtpSettings:
        """Settings from the environment; an empty variable counts as unset.

        Raises :class:`ValueError` with one line naming the variable when a value is bad.
        """
        env = os.environ if environ is None else environ
        names = {
            "host": "PLAYBOOK_SMTP_HOST",
            "port": "PLAYBOOK_SMTP_PORT",
            "security": "PLAYBOOK_SMTP_SECURITY",
            "username": "PLAYBOOK_SMTP_USERNAME",
            "password": "PLAYBOOK_SMTP_PASSWORD",
            "sender": "PLAYBOOK_SMTP_FROM",
            "timeout": "PLAYBOOK_SMTP_TIMEOUT",
        }
        values = {key: env[var] for key, var in names.items() if env.get(var)}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            key = str(first["loc"][0]) if first["loc"] else ""
            shown = "" if key in ("password", "") else f", got {values.get(key)!r}"
            raise ValueError(
                f"{names.get(key, 'PLAYBOOK_SMTP_*')}: {_one_line(first['msg'])}{shown}"
            ) from None


def message_id(idempotency_key: str, domain: str) -> str:
    """The Message-ID of the email sent under ``idempotency_key``: the same on every retry."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_message(
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    rendered: RenderedEmail,
    idempotency_key: str,
) -> EmailMessage:
    """The MIME message: text alone, or multipart/alternative with text and HTML."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(idempotency_key, _domain(sender))
    message[IDEMPOTENCY_HEADER] = idempotency_key
    message.set_content(rendered.text)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message


@dataclass(frozen=True)
class Outgoing:
    """One message to send: one ``to`` person's copy of a step's email, under its own key."""

    idempotency_key: str
    to: list[str]
    cc: list[str]
    rendered: RenderedEmail


Sent = Callable[[Outgoing, str], Awaitable[None]]
"""Called with each message and its Message-ID the moment the server accepted it."""


async def send_email(
    settings: SmtpSettings,
    *,
    sender: str | None = None,
    to: list[str],
    cc: list[str],
    rendered: RenderedEmail,
    idempotency_key: str,
) -> str:
    """Send one rendered email; returns its Message-ID (see :func:`send_emails`)."""
    ids: list[str] = []

    async def sent(_: Outgoing, message_id: str) -> None:
        ids.append(message_id)

    outgoing = Outgoing(idempotency_key=idempotency_key, to=to, cc=cc, rendered=rendered)
    await send_emails(settings, [outgoing], sent=sent, sender=sender)
    return ids[0]


async def send_emails(
    settings: SmtpSettings,
    messages: list[Outgoing],
    *,
    sent: Sent,
    sender: str | None = None,
) -> None:
    """Send ``messages`` over one connection, all or none as far as the server can tell.

    Every recipient of every message is offered (RCPT) before any message's content goes:
    when the server refuses one, nothing is sent and the refusal is raised, a 5xx as a
    non-retryable ``EmailRejected`` naming the address, a 4xx as a retryable
    ``EmailDeferred``. ``sent`` is awaited the moment the server answers 250 to a message's
    content, before the next message and before QUIT, so a record of it (the ledger) follows
    the acceptance as closely as it can. Refused connections and timeouts raise a retryable
    ``SmtpUnavailable``; STARTTLS or AUTH the server lacks a non-retryable ``SmtpNotSupported``.
    """
    if not messages:
        return
    sender = sender or settings.sender
    where = f"{settings.host}:{settings.effective_port}"
    delivered: list[str] = []
    try:
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.effective_port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout,
        )
        async with client:
            session = _Session(client, parseaddr(sender)[1])
            everyone = list(dict.fromkeys(a for m in messages for a in [*m.to, *m.cc]))
            if len(messages) > 1:
                # One offer of everyone first: a refusal of the last copy's person stops the
                # first copy too (a 5xx for anyone fails the step with nothing sent).
                await session.offer(everyone)
            for outgoing in messages:
                message = build_message(
                    sender=sender,
                    to=outgoing.to,
                    cc=outgoing.cc,
                    rendered=outgoing.rendered,
                    idempotency_key=outgoing.idempotency_key,
                )
                await session.deliver(message, [*outgoing.to, *outgoing.cc])
                delivered += outgoing.to
                await sent(outgoing, str(message["Message-ID"]))
    except _Refused as refused:
        also = f" (already sent to {', '.join(delivered)})" if delivered else "; nothing was sent"
        raise _refused(refused.code, refused.reply + also) from None
    except aiosmtplib.SMTPResponseException as error:
        raise _refused(error.code, f"{error.code} {error.message}") from None
    except aiosmtplib.SMTPException as error:
        if not _unsupported(error):
            # Refused connections, timeouts, dropped connections: the server may be back soon.
            raise ApplicationError(
                f"the SMTP server at {where} is unreachable: {_one_line(str(error))}",
                type="SmtpUnavailable",
            ) from None
        # STARTTLS or AUTH asked of a server that does not offer it: no retry changes that.
        raise ApplicationError(
            f"the SMTP server at {where} cannot do what the settings ask: {_one_line(str(error))}",
            type="SmtpNotSupported",
            non_retryable=True,
        ) from None
    except OSError as error:
        raise ApplicationError(
            f"the SMTP server at {where} is unreachable: {_one_line(str(error))}",
            type="SmtpUnavailable",
        ) from None


class _Refused(Exception):
    """Some recipients were refused at RCPT; the envelope was reset, nothing sent."""

    def __init__(self, refusals: list[aiosmtplib.SMTPRecipientRefused]) -> None:
        # Any 5xx is the answer: a retry would be refused again for that address.
        self.code = max(r.code for r in refusals)
        self.reply = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)


class _Session:
    """Mail transactions on one connection (aiosmtplib's sendmail sends when at least one
    recipient is accepted; ours sends only when all are)."""

    def __init__(self, client: aiosmtplib.SMTP, sender: str) -> None:
        self._client = client
        self._sender = sender

    async def offer(self, recipients: list[str]) -> None:
        """MAIL and RCPT for ``recipients``, then RSET: raises ``_Refused`` for a refusal."""
        await self._envelope(recipients, self._options(recipients))
        await self._client.rset()

    async def deliver(self, message: EmailMessage, recipients: list[str]) -> None:
        """One transaction: DATA only after every recipient was accepted."""
        options = self._options(recipients)
        utf8 = "SMTPUTF8" in options
        cte = "8bit" if "BODY=8BITMIME" in options else "7bit"
        await self._envelope(recipients, options)
        try:
            await self._client.data(flatten_message(message, utf8=utf8, cte_type=cte))
        except aiosmtplib.SMTPResponseException:
            await self._reset()
            raise

    async def _envelope(self, recipients: list[str], options: list[str]) -> None:
        encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
        await self._client.mail(self._sender, options=options, encoding=encoding)
        refusals = []
        for recipient in recipients:
            try:
                await self._client.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as refusal:
                refusals.append(refusal)
        if refusals:
            await self._reset()
            raise _Refused(refusals)

    def _options(self, recipients: list[str]) -> list[str]:
        options = []
        if not all(a.isascii() for a in [self._sender, *recipients]):
            if not self._client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported(
                    "an address is not ASCII and the server does not support SMTPUTF8"
                )
            options.append("SMTPUTF8")
        if self._client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    async def _reset(self) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await self._client.rset()


def _unsupported(error: aiosmtplib.SMTPException) -> bool:
    # aiosmtplib raises its base exception, told apart only by its words, when the server
    # lacks STARTTLS or AUTH; SMTPNotSupported covers non-ASCII addresses without SMTPUTF8.
    return isinstance(error, aiosmtplib.SMTPNotSupported) or (
        type(error) is aiosmtplib.SMTPException and "not supported" in error.message
    )


def _refused(code: int, reply: str) -> ApplicationError:
    if code >= 500:
        return ApplicationError(
            f"the SMTP server refused the email: {_one_line(reply)}",
            type="EmailRejected",
            non_retryable=True,
        )
    return ApplicationError(
        f"the SMTP server deferred the email: {_one_line(reply)}", type="EmailDeferred"
    )


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def _one_line(text: str) -> str:
    return " ".join(text.split())
