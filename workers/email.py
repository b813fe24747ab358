"""Email delivery: render a template in the sandbox, send it over SMTP, exactly once per key.

Rendering happens here, in the activity, never in workflow code: it reads account data that
changes and its output is not needed for any decision. Sending is idempotent from the
receiver's point of view: the Message-ID is derived from the activity's idempotency key
(workflow id, step id, visit), so a retry after a crash produces the same message, which
mail systems and our own receipts recognise as a duplicate.

Failures are sorted for Temporal's retry policy: a template that cannot render and a server
that refuses for good (SMTP 5xx) are non-retryable, and the journey records them; a busy
server (4xx), a refused connection or a timeout raise an error the activity retries with
backoff.
"""

from __future__ import annotations

import email.policy
import functools
import hashlib
import logging
import os
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Literal

import aiosmtplib
from jinja2 import Template, TemplateError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from temporalio.exceptions import ApplicationError

from engine.language._plan import TemplatePlan
from engine.language._templates import environment

log = logging.getLogger("playbook.email")

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


def render(template: TemplatePlan, context: dict[str, Any]) -> RenderedEmail:
    """Render the subject, text and HTML of ``template`` with ``context``.

    The HTML part is autoescaped, the subject and text are not (they are not HTML), and the
    subject is folded onto one line. Anything that goes wrong (a value the context lacks, a
    sandbox refusal) raises a non-retryable ``ApplicationError`` of type ``TemplateError``:
    rendering the same template with the same data again would fail the same way.
    """
    try:
        subject = _compiled(template.subject, html=False).render(context)
        text = _compiled(template.text, html=False).render(context)
        html = (
            _compiled(template.html, html=True).render(context)
            if template.html is not None
            else None
        )
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        # Undefined values and sandbox refusals (SecurityError) are TemplateErrors; the
        # others come from data a template mishandles ({{ account.arr / 0 }}).
        raise ApplicationError(
            f"cannot render the email: {_one_line(str(error) or type(error).__name__)}",
            type="TemplateError",
            non_retryable=True,
        ) from None
    return RenderedEmail(subject=" ".join(subject.split()), text=text, html=html)


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


async def send_email(
    settings: SmtpSettings,
    *,
    sender: str | None = None,
    to: list[str],
    cc: list[str],
    rendered: RenderedEmail,
    idempotency_key: str,
) -> str:
    """Send one rendered email; returns its Message-ID.

    ``sender`` defaults to the configured From address. SMTP replies of 5xx raise a
    non-retryable ``ApplicationError`` of type ``EmailRejected`` carrying the server's reply;
    4xx replies (``EmailDeferred``), refused connections and timeouts (``SmtpUnavailable``)
    raise retryable ones, so Temporal tries again with backoff.
    """
    message = build_message(
        sender=sender or settings.sender,
        to=to,
        cc=cc,
        rendered=rendered,
        idempotency_key=idempotency_key,
    )
    recipients = [*to, *cc]
    where = f"{settings.host}:{settings.effective_port}"
    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=parseaddr(sender or settings.sender)[1],
            recipients=recipients,
            hostname=settings.host,
            port=settings.effective_port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        raise _refused(
            min(r.code for r in error.recipients),
            "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients),
        ) from None
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
    for address, response in refused.items():
        # Some recipients accepted: the message is sent and must not be sent again for the
        # others, so the refusals are logged rather than retried.
        log.warning("%s refused %s: %s %s", where, address, response.code, response.message)
    return str(message["Message-ID"])


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
