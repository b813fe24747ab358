"""Where Temporal is and how to reach it: one settings model and one ``connect``.

Every command that talks to Temporal (``playbook worker``, ``playbook publish``, later the
HTTP API) needs the same things: the address, namespace and task queue, TLS or an API key
for Temporal Cloud, the pydantic data converter our workflows require, and a failure a
person can read. Keeping them here means a setting added once works in every command, and
a server that is down is always reported as one line, never a traceback from the SDK.

Settings come from ``PLAYBOOK_TEMPORAL_*`` environment variables, overridden by flags.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from engine.language._errors import PlaybookError

# The SDK is imported where it is used: the CLI imports this module for its flags, and
# `playbook validate` (run by editors and pre-commit hooks) should not pay half a second
# for a Temporal client it never makes.
if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.service import TLSConfig

ENV_PREFIX = "PLAYBOOK_TEMPORAL_"
# Long enough for a Cloud endpoint across an ocean, short enough that a wrong address
# (something listening that is not Temporal) fails while the operator is still watching.
CONNECT_TIMEOUT = timedelta(seconds=10)


class SettingsError(PlaybookError):
    """A connection setting is wrong: a bad value, a missing certificate file."""


class TemporalUnreachable(PlaybookError):
    """Temporal did not answer at the configured address, or refused us."""


def env_var(field: str) -> str:
    """The environment variable that sets ``field``: ``api_key`` -> PLAYBOOK_TEMPORAL_API_KEY."""
    return ENV_PREFIX + field.upper()


def flag(field: str) -> str:
    """The command-line flag that sets ``field``: ``api_key`` -> ``--api-key``."""
    return "--" + field.replace("_", "-")


class TemporalSettings(BaseModel):
    """How to reach Temporal; see :meth:`resolve` for where the values come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field("localhost:7233", min_length=1, description="Frontend host:port.")
    namespace: str = Field("default", min_length=1)
    task_queue: str = Field("playbooks", min_length=1)
    tls: bool | None = Field(
        None, description="None: on when an API key or a certificate is given, else off."
    )
    tls_cert: Path | None = Field(None, description="Client certificate (PEM) for mTLS.")
    tls_key: Path | None = Field(None, description="Private key (PEM) of the client certificate.")
    tls_ca: Path | None = Field(None, description="CA (PEM) to verify the server with.")
    # SecretStr: the key never appears in a repr, a log line or an error message.
    api_key: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TemporalSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                f"a client certificate needs its key: give both {flag('tls_cert')} and "
                f"{flag('tls_key')} (or {env_var('tls_cert')} and {env_var('tls_key')})"
            )
        if self.tls is False and (self.tls_cert or self.tls_ca):
            raise ValueError(
                f"{flag('tls_cert')}/{flag('tls_ca')} need TLS, but TLS is turned off "
                f"(--no-tls or {env_var('tls')}=false)"
            )
        return self

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> TemporalSettings:
        """Settings from ``PLAYBOOK_TEMPORAL_*`` variables, overridden by non-None ``flags``.

        An empty variable counts as unset, as compose files and CI secrets often leave them.
        Raises :class:`SettingsError` naming the variable or flag that holds a bad value.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        origin: dict[str, str] = {}
        for name in cls.model_fields:
            if environ.get(env_var(name)):
                values[name] = environ[env_var(name)]
                origin[name] = env_var(name)
        for name, value in (flags or {}).items():
            if value is not None:
                values[name] = value
                origin[name] = flag(name)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc, origin)) from None

    @property
    def use_tls(self) -> bool:
        # Temporal Cloud accepts API keys only over TLS, and a client certificate means mTLS.
        if self.tls is not None:
            return self.tls
        return bool(self.api_key or self.tls_cert or self.tls_ca)

    def tls_config(self) -> bool | TLSConfig:
        """What ``Client.connect(tls=...)`` takes; reads the certificate files."""
        from temporalio.service import TLSConfig

        if not self.use_tls:
            return False
        if not (self.tls_cert or self.tls_ca):
            return True  # the system's root certificates, as Temporal Cloud needs
        return TLSConfig(
            server_root_ca_cert=_read(self.tls_ca, "tls_ca"),
            client_cert=_read(self.tls_cert, "tls_cert"),
            client_private_key=_read(self.tls_key, "tls_key"),
        )

    def where(self) -> str:
        """``ADDRESS (namespace N)``, for messages."""
        return f"{self.address} (namespace {self.namespace})"


def _describe(exc: ValidationError, origin: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else None
        message = error["msg"].removeprefix("Value error, ")
        where = origin.get(field, flag(field)) if field else None
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def _read(path: Path | None, field: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "is a directory, not a PEM file"
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    raise SettingsError(f"{path}: {problem} (given by {flag(field)} or {env_var(field)})")


def quiet_core_logs(prometheus: str | None = None) -> None:
    """Make the SDK's default runtime forward its Rust core's logs to Python logging, errors
    only (``temporalio.core``). By default the core prints coloured WARN lines straight to
    stderr, dozens a second while the server is away (a retried call, a worker's polls), into
    the user's terminal and into files a command's output is redirected to; each command says
    what went wrong in its own one line instead. Once per process, before the first client.

    ``prometheus`` (``host:port``): the runtime also serves the SDK's metrics there, durations
    in seconds as Prometheus names them (``workers.metrics`` shows them with the engine's).
    Raises ``RuntimeError`` if the runtime was already made without it."""
    global _QUIETED
    if _QUIETED:
        if prometheus is not None:
            raise RuntimeError("the Temporal runtime was made before its metrics were asked for")
        return

    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        PrometheusConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    metrics = (
        PrometheusConfig(bind_address=prometheus, durations_as_seconds=True) if prometheus else None
    )
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=metrics,
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
    _QUIETED = True


_QUIETED = False


async def connect(settings: TemporalSettings) -> Client:
    """A client for ``settings``, checked against the namespace.

    Always with the pydantic data converter: our workflow inputs and messages are pydantic
    models. Raises :class:`SettingsError` or :class:`TemporalUnreachable` with a one-line
    message; nothing else a user can cause escapes.
    """
    from temporalio.client import Client
    from temporalio.service import RPCError

    from engine.client._converter import DATA_CONVERTER

    quiet_core_logs()
    tls = settings.tls_config()
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    try:
        client = await asyncio.wait_for(
            Client.connect(
                settings.address,
                namespace=settings.namespace,
                api_key=api_key,
                tls=tls,
                data_converter=DATA_CONVERTER,
            ),
            CONNECT_TIMEOUT.total_seconds(),
        )
    except TimeoutError:
        raise _unreachable(settings, f"no answer in {CONNECT_TIMEOUT.seconds}s") from None
    except (RuntimeError, ValueError, RPCError) as exc:
        # The SDK raises RuntimeError("Failed client connect: ...") for transport errors
        # and ValueError for an address it cannot parse.
        raise _unreachable(settings, _reason(exc)) from None
    await _check_namespace(client, settings)
    return client


async def _check_namespace(client: Client, settings: TemporalSettings) -> None:
    # Connecting does not look at the namespace: without this, a typo in it surfaces later
    # as a worker that polls nothing or an update that never returns.
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.namespace), timeout=CONNECT_TIMEOUT
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise TemporalUnreachable(
                f"namespace {settings.namespace} does not exist at {settings.address}"
            ) from None
        if exc.status == RPCStatusCode.UNAUTHENTICATED:
            raise TemporalUnreachable(
                f"Temporal at {settings.where()} refused the credentials: {exc.message}"
                f" (check {flag('api_key')} or {flag('tls_cert')}/{flag('tls_key')})"
            ) from None
        if exc.status == RPCStatusCode.PERMISSION_DENIED:
            return  # a key scoped to workflows may not describe; the real calls will tell
        raise _unreachable(settings, exc.message or exc.status.name) from None


def _unreachable(settings: TemporalSettings, reason: str) -> TemporalUnreachable:
    return TemporalUnreachable(f"Temporal is not reachable at {settings.where()}: {reason}")


def _reason(exc: Exception) -> str:
    """The useful words of an SDK connection error (a Rust error chain on one line)."""
    text = str(exc)
    for pattern in (r'message: "([^"]+)"', r'error: "([^"]+)"'):
        found = re.search(pattern, text)
        if found:
            return found.group(1)
    if "InvalidContentType" in text or "CorruptMessage" in text:
        return "TLS handshake failed (does this server use TLS? try --no-tls)"
    text = text.removeprefix("Failed client connect: ").strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."
