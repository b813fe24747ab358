"""Rendering and sending email against a real SMTP server (aiosmtpd) on loopback.

Nothing here is mocked: each test starts an aiosmtpd ``Controller`` on a free port with a
handler that collects what it receives or answers with the reply the test needs (550, 451),
and the shipped templates are rendered as a journey would render them.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from temporalio.exceptions import ApplicationError

import engine
from engine.language._plan import TemplatePlan
from engine.language._template_context import template_context
from workers.email import (
    IDEMPOTENCY_HEADER,
    Outgoing,
    RenderedEmail,
    SmtpSettings,
    message_id,
    render,
    send_email,
    send_emails,
)

ROOT = Path(__file__).parents[2]
SENDER = "Acme Success <success@acme-cs.example>"
CUSTOMER = "dana@customer.example"
CSM = "sam@acme-cs.example"


class Mailbox:
    """An aiosmtpd handler: accepts and keeps messages, or answers with a fixed reply."""

    def __init__(self, data_reply: str | None = None, refuse: dict[str, str] | None = None):
        self.data_reply = data_reply
        self.refuse = refuse or {}
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        out = []
        for envelope in self.envelopes:
            assert isinstance(envelope.content, bytes)
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
        return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_server(
    handler: Mailbox, port: int | None = None, **smtp_options: Any
) -> Iterator[SmtpSettings]:
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port(), **smtp_options)
    controller.start()
    try:
        yield SmtpSettings(host="127.0.0.1", port=controller.port, sender=SENDER, timeout=5)
    finally:
        controller.stop()


def context(**account: Any) -> dict[str, Any]:
    return template_context(
        account={"name": "Acme Corp", "owner": "Sam Lee", "renewal_date": "2026-12-01"} | account,
        health={"score": 48.5, "tier": "at-risk", "trend": "declining"},
        recipient={"name": "Dana", "email": CUSTOMER},
        people={"customer": {"name": "Dana", "email": CUSTOMER}, "csm": {"name": "Sam Lee"}},
        playbook="onboarding",
        version=2,
        step="welcome",
        now=datetime(2026, 6, 1, 9, tzinfo=UTC),
        enrolled_at=datetime(2026, 6, 1, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def welcome() -> TemplatePlan:
    """The shipped onboarding welcome, as the onboarding plan carries it."""
    return engine.load([ROOT / "playbooks"]).plan("onboarding").templates["onboarding-welcome"]


def plain(subject: str = "Hi", text: str = "Hello", html: str | None = None) -> TemplatePlan:
    return TemplatePlan(subject=subject, text=text, html=html)


async def failure(settings: SmtpSettings, to: list[str] | None = None) -> ApplicationError:
    """The error a send of a small email to ``to`` raises."""
    with pytest.raises(ApplicationError) as caught:
        await send_email(
            settings, to=to or [CUSTOMER], cc=[], rendered=render(plain(), {}), idempotency_key="k"
        )
    return caught.value


async def test_shipped_template_arrives_rendered_with_both_parts(welcome: TemplatePlan) -> None:
    """The received message has the rendered subject, a text and an HTML part, the
    deterministic Message-ID and the idempotency key, and went to To and Cc."""
    rendered = render(welcome, context())
    mailbox = Mailbox()
    key = "playbook/onboarding/acct-1/1/welcome/1"
    with smtp_server(mailbox) as settings:
        sent_id = await send_email(
            settings, sender=SENDER, to=[CUSTOMER], cc=[CSM], rendered=rendered, idempotency_key=key
        )
    [received] = mailbox.messages()
    assert received["Subject"] == "Welcome to the team, Acme Corp: your first 30 days"
    assert received["Message-ID"] == sent_id == message_id(key, "acme-cs.example")
    assert received[IDEMPOTENCY_HEADER] == key
    assert received["From"] == SENDER and received["Cc"] == CSM
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None and html is not None
    assert "Hi Dana," in text.get_content() and "I'm Sam Lee" in text.get_content()
    assert "<p>Hi Dana,</p>" in html.get_content()
    assert mailbox.envelopes[0].mail_from == "success@acme-cs.example"
    assert mailbox.envelopes[0].rcpt_tos == [CUSTOMER, CSM]


@pytest.mark.parametrize(
    "key",
    [
        "playbook/onboarding-enterprise/acct-3f9c2a71/1/welcome-email/1/customer",
        "playbook/renewal/" + "a" * 200 + "/3/ninety-days-out/2",
        "k",
    ],
)
async def test_idempotency_key_arrives_on_one_line_exactly(key: str) -> None:
    """The key header is written unfolded, so every parser reads exactly the key: a long key
    used to be moved to a continuation line and read back with a leading space."""
    mailbox = Mailbox()
    with smtp_server(mailbox) as settings:
        await send_email(
            settings, to=[CUSTOMER], cc=[], rendered=render(plain(), {}), idempotency_key=key
        )
    raw = mailbox.envelopes[0].content
    assert isinstance(raw, bytes)
    assert f"\r\n{IDEMPOTENCY_HEADER}: {key}\r\n".encode() in raw
    for policy in (email.policy.default, email.policy.compat32):
        assert email.message_from_bytes(raw, policy=policy)[IDEMPOTENCY_HEADER] == key
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


async def test_text_only_template_sends_one_part() -> None:
    """Without an HTML body the message is a single text/plain part."""
    mailbox = Mailbox()
    rendered = render(plain(text="Renewal in {{ days_to_renewal }} days."), context())
    with smtp_server(mailbox) as settings:
        await send_email(settings, to=[CUSTOMER], cc=[], rendered=rendered, idempotency_key="k")
    [received] = mailbox.messages()
    assert received.get_content_type() == "text/plain"
    assert received.get_content().strip() == "Renewal in 183 days."


def test_message_id_is_a_function_of_the_key() -> None:
    """A retry builds the same Message-ID; another step or cycle a different one."""
    first = message_id("playbook/onboarding/a/1/welcome/1", "acme.example")
    assert first == message_id("playbook/onboarding/a/1/welcome/1", "acme.example")
    assert first != message_id("playbook/onboarding/a/2/welcome/1", "acme.example")
    assert (
        first.startswith("<")
        and first.endswith("@acme.example>")
        and len(first) == len("<@acme.example>") + 32
    )


async def test_permanent_refusal_is_not_retried() -> None:
    """A 550 reply to DATA is a non-retryable EmailRejected carrying the server's words."""
    with smtp_server(Mailbox(data_reply="550 5.7.1 Message rejected as spam")) as settings:
        error = await failure(settings)
    assert error.type == "EmailRejected" and error.non_retryable
    assert "550 5.7.1 Message rejected as spam" in error.message


async def test_every_recipient_refused_is_not_retried() -> None:
    """550 for every recipient is a non-retryable EmailRejected naming them."""
    refuse = {CUSTOMER: "550 5.1.1 No such user"}
    with smtp_server(Mailbox(refuse=refuse)) as settings:
        error = await failure(settings)
    assert error.type == "EmailRejected" and error.non_retryable
    assert CUSTOMER in error.message and "No such user" in error.message


async def test_one_recipient_refused_sends_nothing() -> None:
    """A 550 for the cc while the to is accepted fails the email, names the address and
    sends nothing: no copy reaches the CSM of an email the customer never got."""
    mailbox = Mailbox(refuse={CSM: "550 5.1.1 No such user"})
    with smtp_server(mailbox) as settings, pytest.raises(ApplicationError) as caught:
        await send_email(
            settings, to=[CUSTOMER], cc=[CSM], rendered=render(plain(), {}), idempotency_key="k"
        )
    error = caught.value
    assert error.type == "EmailRejected" and error.non_retryable
    assert f"{CSM}: 550 5.1.1 No such user" in error.message
    assert "nothing was sent" in error.message
    assert mailbox.envelopes == []


async def test_a_busy_recipient_defers_the_whole_email() -> None:
    """A 450 for one recipient while the other is accepted is retried, with nothing sent."""
    mailbox = Mailbox(refuse={CSM: "450 4.2.1 Mailbox busy"})
    with smtp_server(mailbox) as settings, pytest.raises(ApplicationError) as caught:
        await send_email(
            settings, to=[CUSTOMER], cc=[CSM], rendered=render(plain(), {}), idempotency_key="k"
        )
    assert caught.value.type == "EmailDeferred" and not caught.value.non_retryable
    assert mailbox.envelopes == []


async def test_a_permanent_refusal_wins_over_a_busy_one() -> None:
    """450 for one address and 550 for another: the 550 fails the step (a retry would meet
    it again), and both addresses are named."""
    other = "lee@customer.example"
    refuse = {CSM: "450 4.2.1 Mailbox busy", other: "550 5.1.1 No such user"}
    mailbox = Mailbox(refuse=refuse)
    with smtp_server(mailbox) as settings:
        error = await failure(settings, to=[CUSTOMER, CSM, other])
    assert error.type == "EmailRejected" and error.non_retryable
    assert CSM in error.message and other in error.message


def _copy(key: str, to: str) -> Outgoing:
    return Outgoing(key, [to], [CSM], render(plain(), {}))


async def test_a_refused_second_copy_stops_the_first() -> None:
    """Copies to two people: the second person's 550 is found before either copy goes."""
    mailbox = Mailbox(refuse={"lee@customer.example": "550 5.1.1 No such user"})
    recorded: list[str] = []

    async def sent(outgoing: Outgoing, _: str) -> None:
        recorded.append(outgoing.idempotency_key)

    copies = [_copy("k/dana", CUSTOMER), _copy("k/lee", "lee@customer.example")]
    with smtp_server(mailbox) as settings, pytest.raises(ApplicationError) as caught:
        await send_emails(settings, copies, sent=sent)
    assert caught.value.type == "EmailRejected" and "nothing was sent" in caught.value.message
    assert mailbox.envelopes == [] and recorded == []


async def test_each_copy_is_recorded_as_soon_as_the_server_accepted_it() -> None:
    """The record of a copy (the ledger, in the activity) is made after its 250 and before
    the next copy's transaction and before QUIT: the duplicate window is no wider than the
    server's answer."""
    events: list[str] = []

    class Watching(Mailbox):
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            events.append(f"data {envelope.rcpt_tos[0]}")
            return await super().handle_DATA(server, session, envelope)

        async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            events.append("quit")
            return "221 Bye"

    async def sent(outgoing: Outgoing, message_id: str) -> None:
        assert message_id == message_id_of(outgoing.idempotency_key)
        events.append(f"recorded {outgoing.idempotency_key}")

    copies = [_copy("k/dana", CUSTOMER), _copy("k/lee", "lee@customer.example")]
    with smtp_server(Watching()) as settings:
        await send_emails(settings, copies, sent=sent)
    assert events == [
        f"data {CUSTOMER}",
        "recorded k/dana",
        "data lee@customer.example",
        "recorded k/lee",
        "quit",
    ]


def message_id_of(key: str) -> str:
    return message_id(key, "acme-cs.example")


async def test_temporary_refusal_is_retried() -> None:
    """A 451 reply is a retryable EmailDeferred."""
    with smtp_server(Mailbox(data_reply="451 4.3.0 Try again later")) as settings:
        error = await failure(settings)
    assert error.type == "EmailDeferred" and not error.non_retryable
    assert "451" in error.message


async def test_unreachable_server_is_retried() -> None:
    """A refused connection (a closed port) is a retryable SmtpUnavailable, in one line."""
    settings = SmtpSettings(port=free_port(), timeout=5)
    error = await failure(settings)
    assert error.type == "SmtpUnavailable" and not error.non_retryable
    assert f"127.0.0.1:{settings.port}" in error.message
    assert "\n" not in error.message


async def test_starttls_against_a_server_without_it_is_not_retried() -> None:
    """Asking for STARTTLS from a server that does not offer it is a settings mistake."""
    with smtp_server(Mailbox()) as settings:
        error = await failure(settings.model_copy(update={"security": "starttls"}))
    assert error.type == "SmtpNotSupported" and error.non_retryable


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"bot", b"s3cret")
    # handled=False: aiosmtpd answers a failure with 535 itself.
    return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(("password", "delivered"), [("s3cret", True), ("wrong", False)])
async def test_credentials(password: str, delivered: bool) -> None:
    """Credentials log in; wrong ones are a permanent refusal (535), not retried."""
    mailbox = Mailbox()
    # Plain-text AUTH is fine on loopback; the warning aiosmtpd gives about it is expected.
    options = {"authenticator": _authenticator, "auth_require_tls": False, "auth_required": True}
    with smtp_server(mailbox, **options) as settings:
        settings = SmtpSettings.model_validate(
            settings.model_dump() | {"username": "bot", "password": password}
        )
        if delivered:
            await send_email(
                settings, to=[CUSTOMER], cc=[], rendered=render(plain(), {}), idempotency_key="k"
            )
        else:
            error = await failure(settings)
            assert error.type == "EmailRejected" and error.non_retryable, error.message
    assert len(mailbox.envelopes) == int(delivered)


def test_html_is_escaped_and_text_is_not() -> None:
    """An account name with markup is escaped in the HTML part only."""
    template = plain(
        subject="News for {{ account.name }}",
        text="Hello {{ account.name }}",
        html="<p>Hello {{ account.name }}</p>",
    )
    rendered = render(template, context(name="<script>alert(1)</script>"))
    assert rendered.html == "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert rendered.text == "Hello <script>alert(1)</script>"
    assert rendered.subject == "News for <script>alert(1)</script>"


def test_subject_is_one_line() -> None:
    """A subject that renders over several lines is folded into one."""
    template = plain(subject="{% if health.tier %}\n[{{ health.tier }}]\n{% endif %} Check-in")
    assert render(template, context()).subject == "[at-risk] Check-in"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ARR: {{ account.arr }}", "'dict object' has no attribute 'arr'"),
        ("{{ nobody }}", "'nobody' is undefined"),
        ("{{ ''.__class__ }}", "__class__"),
        ("{{ account.tags.append('vip') }}", "append"),
        ("{{ 1 / 0 }}", "division by zero"),
    ],
)
def test_render_failures_are_not_retried(text: str, words: str) -> None:
    """Undefined values, sandbox refusals and bad data raise a one-line TemplateError."""
    with pytest.raises(ApplicationError) as caught:
        render(plain(text=text), context(tags=["new"]))
    error = caught.value
    assert error.type == "TemplateError" and error.non_retryable
    assert words in error.message and "\n" not in error.message


def test_settings_from_the_environment() -> None:
    """Defaults, ports that follow the security mode, and one line for a bad value."""
    assert SmtpSettings.from_env({}).effective_port == 25
    env = {"PLAYBOOK_SMTP_SECURITY": "tls", "PLAYBOOK_SMTP_HOST": "smtp.example", "X": "y"}
    settings = SmtpSettings.from_env(env)
    assert (settings.host, settings.effective_port) == ("smtp.example", 465)
    assert SmtpSettings.from_env({"PLAYBOOK_SMTP_SECURITY": "starttls"}).effective_port == 587
    assert SmtpSettings.from_env({"PLAYBOOK_SMTP_PORT": ""}).port is None
    with pytest.raises(ValueError, match=r"^PLAYBOOK_SMTP_PORT: .*'smtp'$"):
        SmtpSettings.from_env({"PLAYBOOK_SMTP_PORT": "smtp"})
    with pytest.raises(ValueError, match="PLAYBOOK_SMTP_SECURITY"):
        SmtpSettings.from_env({"PLAYBOOK_SMTP_SECURITY": "ssl"})
    secret = SmtpSettings.from_env({"PLAYBOOK_SMTP_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(secret)


def test_rendered_email_is_plain_data() -> None:
    """What render returns can cross an activity boundary as JSON."""
    rendered = RenderedEmail(subject="s", text="t")
    assert RenderedEmail.model_validate_json(rendered.model_dump_json()) == rendered


@pytest.mark.parametrize("name", ["churn-risk-csm", "churn-risk-executive"])
def test_ladder_alerts_render_without_arr_or_renewal_date(name: str) -> None:
    """An escalation alert must reach its reader for an account with no ARR or renewal date
    recorded: the shipped templates say so instead of failing the send."""
    template = engine.load([ROOT / "playbooks"]).plan("churn-prevention").templates[name]
    bare = context()
    bare["account"] = {"name": "Acme"}
    del bare["days_to_renewal"]
    rendered = render(template, bare)
    assert "ARR" in rendered.text and "not recorded" in rendered.text
    assert "Renewal: not set\n" in rendered.text
    dated = render(template, context(name="Acme", arr=120_000, renewal_date="2026-12-01"))
    assert "120000" in dated.text and "(183 days away)" in dated.text


def test_shipped_templates_greet_a_contact_without_a_name() -> None:
    """A CRM contact often has an email and no name: every shipped template still renders,
    greeting "there" instead of failing the send."""
    plans = engine.load([ROOT / "playbooks"]).plans()
    templates = {name: t for plan in plans for name, t in plan.templates.items()}
    for name, template in sorted(templates.items()):
        nameless = context(name="Acme", arr=1000)
        nameless["recipient"] = {"email": CUSTOMER}
        rendered = render(template, nameless)
        assert "Hi there," in rendered.text, name
