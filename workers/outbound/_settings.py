"""Outbound settings: the signing secret, the allowlist, chat webhooks and timeouts, from env.

Webhooks and chat messages leave the worker for URLs that playbook authors write, so what
they may reach and how they prove who sent them is the platform engineer's decision, made
once in the worker's environment rather than in each playbook. This module turns the
``PLAYBOOK_WEBHOOK_*``, ``PLAYBOOK_CHAT_*`` and ``PLAYBOOK_OUTBOUND_*`` variables into one
frozen model, and a bad value into one line naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.client._connect import SettingsError

SECRET_VAR = "PLAYBOOK_WEBHOOK_SECRET"
ALLOW_VAR = "PLAYBOOK_OUTBOUND_ALLOW"
CHAT_VAR = "PLAYBOOK_CHAT_WEBHOOKS"
CHAT_DEFAULT_VAR = "PLAYBOOK_CHAT_DEFAULT_WEBHOOK"
TIMEOUT_VARS = {
    "connect_timeout": "PLAYBOOK_OUTBOUND_CONNECT_TIMEOUT",
    "read_timeout": "PLAYBOOK_OUTBOUND_READ_TIMEOUT",
    "write_timeout": "PLAYBOOK_OUTBOUND_WRITE_TIMEOUT",
    "pool_timeout": "PLAYBOOK_OUTBOUND_POOL_TIMEOUT",
}
# A shorter HMAC key is guessable offline from one signed request; 16 characters of a
# generated secret (`openssl rand -hex 32` gives 64) is the least we accept.
MIN_SECRET_LENGTH = 16

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_][a-z0-9_-]{0,62})*$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AllowEntry(BaseModel):
    """One ``PLAYBOOK_OUTBOUND_ALLOW`` entry: an address block or a host name, maybe a port."""

    model_config = ConfigDict(frozen=True)

    network: IPNetwork | None = None
    host: str | None = None
    """A host name as written in URLs, lower case, without a trailing dot."""
    port: int | None = None
    """None: any port."""

    def permits(
        self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
    ) -> bool:
        """Whether a connection to ``address`` (resolved from ``host``) on ``port`` may go."""
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == normalize_host(host)
        assert self.network is not None
        return address.version == self.network.version and address in self.network

    def __str__(self) -> str:
        where = self.host or str(self.network)
        if self.port is None:
            return where
        return f"[{where}]:{self.port}" if ":" in where else f"{where}:{self.port}"


def normalize_host(host: str) -> str:
    """``LocalHost.`` and ``localhost`` are the same host for the allowlist."""
    return host.strip().lower().rstrip(".")


def parse_allow(text: str) -> tuple[AllowEntry, ...]:
    """Parse ``10.0.0.0/8, 127.0.0.1, [::1]:8080, crm.internal:8443`` (commas or spaces)."""
    entries = []
    for raw in re.split(r"[,\s]+", text.strip()):
        if raw:
            entries.append(_parse_entry(raw))
    return tuple(entries)


def _parse_entry(raw: str) -> AllowEntry:
    problem = f"{ALLOW_VAR}: {raw!r} is not an address, an address block (CIDR) or host[:port]"
    try:
        return AllowEntry(network=ipaddress.ip_network(raw, strict=False))
    except ValueError:
        pass
    where, port = raw, None
    if raw.startswith("["):  # [::1]:8080
        where, _, rest = raw[1:].partition("]")
        if not rest.startswith(":"):
            raise SettingsError(problem)
        port = _port(rest[1:], problem)
    elif raw.count(":") == 1:
        where, _, number = raw.partition(":")
        port = _port(number, problem)
    try:
        return AllowEntry(network=ipaddress.ip_network(where, strict=False), port=port)
    except ValueError:
        pass
    host = normalize_host(where)
    if not _HOSTNAME.match(host):
        raise SettingsError(problem)
    return AllowEntry(host=host, port=port)


def _port(text: str, problem: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(problem)
    return int(text)


def channel_key(channel: str) -> str:
    """``#CS-Escalations`` and ``cs-escalations`` name the same channel."""
    return channel.strip().lower().removeprefix("#")


def parse_chat_webhooks(text: str) -> dict[str, SecretStr]:
    """Parse ``#cs-escalations=https://...;#cs-renewals=https://...`` (``;`` or new lines)."""
    hooks: dict[str, SecretStr] = {}
    for raw in re.split(r"[;\n]", text):
        item = raw.strip()
        if not item:
            continue
        channel, sep, url = item.partition("=")
        key = channel_key(channel)
        if not sep or not key:
            # The item may hold a webhook URL, which is a credential: never echo it.
            raise SettingsError(
                f"{CHAT_VAR}: each entry is CHANNEL=URL, separated by ';' "
                f"(entry {len(hooks) + 1} is not)"
            )
        hooks[key] = SecretStr(_chat_url(url.strip(), f"{CHAT_VAR}: the URL for {channel.strip()}"))
    return hooks


def _chat_url(url: str, where: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise SettingsError(f"{where} is not an http:// or https:// URL")
    return url


class OutboundSettings(BaseModel):
    """What outbound calls (webhook steps, chat notifications) may do; see :meth:`from_env`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # SecretStr: the key and the chat URLs (whose path is the credential) never appear in a
    # repr, a log line or an error message.
    webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key for ``X-Playbook-Signature``; without it webhooks are not sent."""
    allow: tuple[AllowEntry, ...] = ()
    """Private, loopback or link-local destinations that may be reached anyway."""
    chat_webhooks: dict[str, SecretStr] = Field(default_factory=dict)
    """Incoming-webhook URL by channel key (see :func:`channel_key`)."""
    chat_default_webhook: SecretStr | None = None
    """Incoming-webhook URL for channels not in ``chat_webhooks``."""
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(10.0, gt=0)
    write_timeout: float = Field(10.0, gt=0)
    pool_timeout: float = Field(5.0, gt=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OutboundSettings:
        """Settings from the environment; an empty variable counts as unset.

        Raises :class:`engine.client._connect.SettingsError` naming the variable with a bad value.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if secret := environ.get(SECRET_VAR):
            if len(secret) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    f"{SECRET_VAR}: at least {MIN_SECRET_LENGTH} characters, please "
                    "(`openssl rand -hex 32` makes a good one)"
                )
            values["webhook_secret"] = SecretStr(secret)
        if allow := environ.get(ALLOW_VAR):
            values["allow"] = parse_allow(allow)
        if chat := environ.get(CHAT_VAR):
            values["chat_webhooks"] = parse_chat_webhooks(chat)
        if default := environ.get(CHAT_DEFAULT_VAR):
            values["chat_default_webhook"] = SecretStr(_chat_url(default.strip(), CHAT_DEFAULT_VAR))
        for field, var in TIMEOUT_VARS.items():
            if value := environ.get(var):
                try:
                    values[field] = float(value)
                except ValueError:
                    raise SettingsError(f"{var}: {value!r} is not a number of seconds") from None
                if not values[field] > 0:
                    raise SettingsError(f"{var}: must be more than 0 seconds")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:  # pragma: no cover - every field is checked above
            raise SettingsError(str(exc).replace("\n", " ")) from None

    def timeout(self) -> httpx.Timeout:
        """The four httpx timeouts, all explicit: httpx's default (5 s each) is nobody's choice."""
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )

    def chat_webhook(self, channel: str) -> tuple[str, bool] | None:
        """The incoming-webhook URL for ``channel`` and whether it is the default one."""
        hook = self.chat_webhooks.get(channel_key(channel))
        if hook is not None:
            return hook.get_secret_value(), False
        if self.chat_default_webhook is not None:
            return self.chat_default_webhook.get_secret_value(), True
        return None
