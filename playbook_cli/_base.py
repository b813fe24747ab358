"""What every ``playbook`` command shares: the app, the consoles, one-line failures, and the
Temporal connection options (one set of flags and environment variables for every command
that talks to Temporal, added by :func:`connected`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from engine.client._connect import TemporalSettings, env_var, flag
from engine.language._errors import PlaybookError

app = typer.Typer(
    name="playbook",
    help="Customer-success playbooks as code: validate, compile and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_T = TypeVar("_T")
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    from workers.redaction import redact

    # Messages quote settings and URLs; a password or token must not reach the terminal.
    _err.print(f"playbook: {redact(message)}", markup=False)
    raise typer.Exit(code)


def _connection(field: str, text: str, metavar: str) -> Any:
    return typer.Option(
        flag(field), help=f"{text} [env: {env_var(field)}]", metavar=metavar, show_default=False
    )


Address = Annotated[
    str | None, _connection("address", "Temporal frontend (default: localhost:7233).", "HOST:PORT")
]
Namespace = Annotated[
    str | None, _connection("namespace", "Temporal namespace (default: default).", "NAME")
]
TaskQueue = Annotated[
    str | None, _connection("task_queue", "Task queue of the engine (default: playbooks).", "NAME")
]
Tls = Annotated[
    bool | None,
    typer.Option(
        "--tls/--no-tls",
        help="Use TLS (default: on when an API key or certificate is given)"
        f" [env: {env_var('tls')}]",
        show_default=False,
    ),
]
TlsCert = Annotated[
    Path | None, _connection("tls_cert", "Client certificate (PEM) for mTLS.", "FILE")
]
TlsKey = Annotated[Path | None, _connection("tls_key", "Private key (PEM) of --tls-cert.", "FILE")]
TlsCa = Annotated[
    Path | None, _connection("tls_ca", "CA certificate (PEM) to verify the server.", "FILE")
]
ApiKey = Annotated[
    str | None, _connection("api_key", "Temporal Cloud API key (prefer the variable).", "KEY")
]


def _settings(**flags: Any) -> TemporalSettings:
    try:
        return TemporalSettings.resolve(flags)
    except PlaybookError as exc:
        _fail(str(exc))


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    """Run ``work``; a problem the user can fix (server down, bad certificate) is one line."""
    try:
        return asyncio.run(work)
    except PlaybookError as exc:
        _fail(str(exc))


class _Failed(PlaybookError):
    """Temporal answered, but not as the command needed: the message says what to do."""


_CONNECTION: dict[str, Any] = {
    "address": Address,
    "namespace": Namespace,
    "task_queue": TaskQueue,
    "tls": Tls,
    "tls_cert": TlsCert,
    "tls_key": TlsKey,
    "tls_ca": TlsCa,
    "api_key": ApiKey,
}


def connected(*, task_queue: bool = True) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Give a command the Temporal connection flags; it receives them as ``settings``.

    The flags are appended to the command's own parameters (Typer reads the signature), and
    resolved (flag, then environment, then default) before the command runs, so a bad value
    is one line before anything else happens. ``task_queue=False`` for commands that only
    read (status, why...), where a task queue means nothing.
    """
    names = [name for name in _CONNECTION if task_queue or name != "task_queue"]

    def wrap(command: Callable[..., _T]) -> Callable[..., _T]:
        # Evaluated: the command's module uses string annotations, Typer needs the objects.
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "settings"]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_CONNECTION[name]
            )
            for name in names
        ]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> _T:
            settings = _settings(**{name: kwargs.pop(name, None) for name in names})
            return command(*args, settings=settings, **kwargs)

        run.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        return run

    return wrap


By = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Who acts (default: your login name).",
        metavar="PERSON",
        show_default=False,
    ),
]


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        _fail("cannot tell who you are: give --by PERSON")
