"""One settings model for every process the engine runs: worker, API, `playbook dev`.

Each area keeps its own small model next to the code that uses it (Temporal in
``engine.client._connect``, SMTP in ``workers.email``, outbound calls in ``workers.outbound``);
this module gathers them into :class:`Settings`, read once from environment variables that
all start with ``PLAYBOOK_`` (the area follows: ``PLAYBOOK_TEMPORAL_ADDRESS``,
``PLAYBOOK_SMTP_HOST``, ``PLAYBOOK_API_TOKENS``...), with command-line flags on top for the
Temporal connection. ``playbook settings`` prints what a process would run with and where
each value came from, secrets masked. The README's Configuration section lists them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.client._connect import SettingsError, TemporalSettings
from engine.client._connect import env_var as temporal_var
from engine.dashboard._settings import DashboardSettings
from workers.backoff import INITIAL_VAR as RETRY_INITIAL_VAR
from workers.backoff import MAXIMUM_VAR as RETRY_MAXIMUM_VAR
from workers.backoff import RetrySettings
from workers.email import SmtpSettings
from workers.outbound import OutboundSettings
from workers.outbound._settings import MIN_SECRET_LENGTH
from workers.store import DATABASE_URL_ENV as DATABASE_VAR
from workers.store import DATABASE_URL_FALLBACK_ENV as DATABASE_FALLBACK_VAR
from workers.store import database_url, redact

PREFIX = "PLAYBOOK_"
DIRECTORY_VAR = "PLAYBOOK_DIRECTORY"
API_TOKENS_VAR = "PLAYBOOK_API_TOKENS"
API_HMAC_VAR = "PLAYBOOK_API_HMAC_SECRET"
API_HOST_VAR = "PLAYBOOK_API_HOST"
API_PORT_VAR = "PLAYBOOK_API_PORT"
API_TIMEOUT_VAR = "PLAYBOOK_API_REQUEST_TIMEOUT"
API_READ_TOKENS_VAR = "PLAYBOOK_API_READ_TOKENS"
API_SESSION_VAR = "PLAYBOOK_API_SESSION_SECRET"
TEMPORAL_UI_VAR = "PLAYBOOK_TEMPORAL_UI_URL"
TARGETS_VAR = "PLAYBOOK_DASHBOARD_TARGETS"
CHURN_RISK_VAR = "PLAYBOOK_DASHBOARD_CHURN_RISK"
METRICS_HOST_VAR = "PLAYBOOK_METRICS_HOST"
METRICS_PORT_VAR = "PLAYBOOK_METRICS_PORT"
CACHED_WORKFLOWS_VAR = "PLAYBOOK_WORKER_CACHED_WORKFLOWS"
DEFAULT_CACHED_WORKFLOWS = 2_000
"""An account is its account workflow and one to three runs, and each cached workflow took
about 0.37 MiB of the worker's memory when measured: 2,000 is some 700 accounts' worth
within the worker's 1 GiB goal (bench/results/scale.md). The SDK's own default is 1,000."""
# Bearer tokens are compared in full; shorter ones are guessable by brute force.
MIN_TOKEN_LENGTH = 16


class ApiSettings(BaseModel):
    """Who may call the HTTP API and where it listens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[SecretStr, ...] = ()
    """Bearer tokens (``Authorization: Bearer TOKEN``), comma-separated in the variable."""
    read_tokens: tuple[SecretStr, ...] = ()
    """Tokens that may read (pages, ``GET``) but not send events: ``403`` on a write."""
    session_secret: SecretStr | None = None
    """Key that signs the pages' login cookie; derived from the tokens when unset."""
    temporal_ui: str = "http://localhost:8233"
    """Base address of the Temporal Web UI, for the account page's links."""
    hmac_secret: SecretStr | None = None
    """Key for signed requests (``X-Playbook-Timestamp`` + ``X-Playbook-Signature``)."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    request_timeout: float = Field(10.0, gt=0, le=300)
    """Seconds a client has to send a request's headers, and again its body; then ``408``."""

    @property
    def open(self) -> bool:
        """No credentials configured: the API serves anyone, so only on loopback."""
        return not self.tokens and not self.read_tokens and self.hmac_secret is None


class MetricsSettings(BaseModel):
    """Where ``playbook worker`` serves /metrics, /healthz and /readyz (``workers/probe.py``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=1, le=65535)
    """None: no endpoint (several workers on one machine would share a port)."""


class WorkerSettings(BaseModel):
    """What a `playbook worker` keeps in memory between a workflow's tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cached_workflows: int = Field(DEFAULT_CACHED_WORKFLOWS, ge=0)
    """Workflows kept in memory between their tasks. A task for one that is not (evicted
    when the cache is full) replays its whole history in a new sandbox instance first:
    several times the work of a cached one. 0 keeps none."""


class Settings(BaseModel):
    """Everything a worker or the API needs; see :meth:`from_env`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    database_url: SecretStr | None = None
    """PostgreSQL URL of the store; SQLite at ``.playbook/playbook.db`` when unset."""
    directory: Path | None = None
    """YAML file of the people playbooks name (CSMs, managers, executives)."""
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        temporal: TemporalSettings | None = None,
    ) -> Settings:
        """Settings from ``PLAYBOOK_*`` variables; an empty variable counts as unset.

        ``temporal`` replaces the Temporal part (the CLI resolves it with its flags first).
        Raises :class:`SettingsError` with one line naming the variable with a bad value.
        """
        env = os.environ if environ is None else environ
        try:
            smtp = SmtpSettings.from_env(dict(env))
            retry = RetrySettings.from_env(env)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        database = database_url(env)
        directory = env.get(DIRECTORY_VAR) or None
        return cls(
            temporal=temporal or TemporalSettings.resolve(environ=env),
            database_url=SecretStr(database) if database else None,
            directory=Path(directory) if directory else None,
            smtp=smtp,
            outbound=OutboundSettings.from_env(env),
            retry=retry,
            api=_api(env),
            dashboard=dashboard_settings(env),
            metrics=_metrics(env),
            worker=_worker(env),
        )

    def store_url(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None


def _api(env: Mapping[str, str]) -> ApiSettings:
    values: dict[str, Any] = {}
    if tokens := env.get(API_TOKENS_VAR):
        parsed = [token.strip() for token in tokens.split(",") if token.strip()]
        if any(len(token) < MIN_TOKEN_LENGTH for token in parsed):
            raise SettingsError(
                f"{API_TOKENS_VAR}: each token needs at least {MIN_TOKEN_LENGTH} characters "
                "(`openssl rand -hex 32` makes a good one)"
            )
        values["tokens"] = tuple(SecretStr(token) for token in parsed)
    if tokens := env.get(API_READ_TOKENS_VAR):
        parsed = [token.strip() for token in tokens.split(",") if token.strip()]
        if any(len(token) < MIN_TOKEN_LENGTH for token in parsed):
            raise SettingsError(
                f"{API_READ_TOKENS_VAR}: each token needs at least {MIN_TOKEN_LENGTH} characters"
                " (`openssl rand -hex 32` makes a good one)"
            )
        values["read_tokens"] = tuple(SecretStr(token) for token in parsed)
    if secret := env.get(API_SESSION_VAR):
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"{API_SESSION_VAR}: at least {MIN_SECRET_LENGTH} characters, please"
            )
        values["session_secret"] = SecretStr(secret)
    if ui := env.get(TEMPORAL_UI_VAR):
        if not re.fullmatch(r"https?://[^\s\"'<>]+", ui.strip()):
            raise SettingsError(f"{TEMPORAL_UI_VAR}: an http:// or https:// address, please")
        values["temporal_ui"] = ui.strip().rstrip("/")
    if secret := env.get(API_HMAC_VAR):
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"{API_HMAC_VAR}: at least {MIN_SECRET_LENGTH} characters, please")
        values["hmac_secret"] = SecretStr(secret)
    if host := env.get(API_HOST_VAR):
        values["host"] = host
    if port := env.get(API_PORT_VAR):
        values["port"] = port
    if timeout := env.get(API_TIMEOUT_VAR):
        values["request_timeout"] = timeout
    try:
        return ApiSettings.model_validate(values)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = first["loc"][0] if first["loc"] else "host"
        var = {"port": API_PORT_VAR, "request_timeout": API_TIMEOUT_VAR}.get(
            str(field), API_HOST_VAR
        )
        raise SettingsError(f"{var}: {first['msg']}") from None


def dashboard_settings(env: Mapping[str, str]) -> DashboardSettings:
    """The dashboard's targets and churn risks from ``PLAYBOOK_DASHBOARD_*``; one line if bad."""
    values: dict[str, dict[str, float]] = {}
    for var, field in ((TARGETS_VAR, "targets"), (CHURN_RISK_VAR, "churn_risk")):
        text = env.get(var)
        if not text:
            continue
        parsed: dict[str, float] = {}
        for item in text.split(","):
            name, sep, number = item.partition("=")
            try:
                parsed[name.strip()] = float(number) if sep else float("nan")
            except ValueError:
                parsed[name.strip()] = float("nan")
        values[field] = parsed
    try:
        return DashboardSettings.model_validate(values)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        var = TARGETS_VAR if first["loc"][0] == "targets" else CHURN_RISK_VAR
        raise SettingsError(f"{var}: {first['msg']}") from None


def _metrics(env: Mapping[str, str]) -> MetricsSettings:
    values = {"host": env.get(METRICS_HOST_VAR) or None, "port": env.get(METRICS_PORT_VAR) or None}
    try:
        return MetricsSettings.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        var = METRICS_PORT_VAR if first["loc"] == ("port",) else METRICS_HOST_VAR
        raise SettingsError(f"{var}: {first['msg']}") from None


def _worker(env: Mapping[str, str]) -> WorkerSettings:
    cached = env.get(CACHED_WORKFLOWS_VAR) or None
    try:
        return WorkerSettings.model_validate({} if cached is None else {"cached_workflows": cached})
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise SettingsError(f"{CACHED_WORKFLOWS_VAR}: {first['msg']}, got {cached!r}") from None


# (variable, what it sets) for `playbook settings` and the README; secrets are masked there.
VARIABLES: tuple[tuple[str, str], ...] = (
    (temporal_var("address"), "Temporal frontend host:port"),
    (temporal_var("namespace"), "Temporal namespace"),
    (temporal_var("task_queue"), "task queue of workers and new journeys"),
    (temporal_var("tls"), "TLS on/off (default: on with an API key or certificate)"),
    (temporal_var("tls_cert"), "client certificate (PEM) for mTLS"),
    (temporal_var("tls_key"), "its private key (PEM)"),
    (temporal_var("tls_ca"), "CA (PEM) that signed the server's certificate"),
    (temporal_var("api_key"), "Temporal Cloud API key (secret)"),
    (DATABASE_VAR, f"store URL, postgresql://... (also read from {DATABASE_FALLBACK_VAR})"),
    (DIRECTORY_VAR, "YAML file of CSMs, managers and executives"),
    ("PLAYBOOK_SMTP_HOST", "SMTP server"),
    ("PLAYBOOK_SMTP_PORT", "SMTP port (25, 587 with starttls, 465 with tls)"),
    ("PLAYBOOK_SMTP_SECURITY", "none | starttls | tls"),
    ("PLAYBOOK_SMTP_USERNAME", "SMTP login"),
    ("PLAYBOOK_SMTP_PASSWORD", "SMTP password (secret)"),
    ("PLAYBOOK_SMTP_FROM", "From address of emails"),
    ("PLAYBOOK_SMTP_TIMEOUT", "seconds per SMTP command"),
    (RETRY_INITIAL_VAR, "seconds before the second try of a failed action (default 1)"),
    (RETRY_MAXIMUM_VAR, "longest pause between tries of a failed action, seconds (default 60)"),
    ("PLAYBOOK_WEBHOOK_SECRET", "HMAC key that signs outbound webhooks (secret)"),
    ("PLAYBOOK_OUTBOUND_ALLOW", "private addresses webhooks may reach anyway"),
    ("PLAYBOOK_CHAT_WEBHOOKS", "chat incoming-webhook URL per channel (secret)"),
    ("PLAYBOOK_CHAT_DEFAULT_WEBHOOK", "chat incoming-webhook URL for other channels (secret)"),
    ("PLAYBOOK_OUTBOUND_CONNECT_TIMEOUT", "seconds to connect to a webhook"),
    ("PLAYBOOK_OUTBOUND_READ_TIMEOUT", "seconds to wait for a webhook's answer"),
    ("PLAYBOOK_OUTBOUND_WRITE_TIMEOUT", "seconds to send a webhook's body"),
    ("PLAYBOOK_OUTBOUND_POOL_TIMEOUT", "seconds to wait for a free connection"),
    (API_TOKENS_VAR, "bearer tokens the API accepts, comma-separated (secret)"),
    (API_HMAC_VAR, "HMAC key the API verifies signed requests with (secret)"),
    (API_HOST_VAR, "address the API listens on (default 127.0.0.1)"),
    (API_PORT_VAR, "port the API listens on (default 8000)"),
    (API_TIMEOUT_VAR, "seconds a client has to send a request's headers, then its body"),
    (API_READ_TOKENS_VAR, "read-only tokens: pages and GET, never writes (secret)"),
    (API_SESSION_VAR, "key that signs the pages' login cookie (secret; default from the tokens)"),
    (TEMPORAL_UI_VAR, "Temporal Web UI address the account page links to"),
    (TARGETS_VAR, "dashboard targets, e.g. grr=0.92,nrr=1.10"),
    (CHURN_RISK_VAR, "churn risk per health tier for the renewal forecast"),
    (METRICS_PORT_VAR, "port of the worker's /metrics, /healthz, /readyz (default: none)"),
    (METRICS_HOST_VAR, "address of that endpoint (default 127.0.0.1)"),
    (
        CACHED_WORKFLOWS_VAR,
        f"workflows a worker keeps in memory between tasks (default {DEFAULT_CACHED_WORKFLOWS})",
    ),
)

_SECRET_WORDS = ("SECRET", "PASSWORD", "API_KEY", "TOKENS", "WEBHOOKS", "DEFAULT_WEBHOOK")


def shown(environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(variable, value as shown, meaning) for every setting; secrets show as ``(set)``."""
    env = os.environ if environ is None else environ
    rows = []
    for var, meaning in VARIABLES:
        value = (database_url(env) if var == DATABASE_VAR else env.get(var)) or ""
        if value and var == DATABASE_VAR:
            value = redact(value)
        elif value and any(word in var for word in _SECRET_WORDS):
            value = "(set)"
        rows.append((var, value or "-", meaning))
    return rows
