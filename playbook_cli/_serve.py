"""Commands that keep running: the HTTP API, the laptop stack (``playbook dev``), and
``playbook settings``, which shows what they would run with.

``playbook worker`` has a module of its own (``_worker``); these three share the one
settings model of ``workers.settings`` and the logging set-up of ``workers.log``.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import _fail, _run, app, connected

if TYPE_CHECKING:
    from email.message import EmailMessage

    from engine.journeys._catalog import Catalog
    from workers.settings import Settings

_log = logging.getLogger("playbook")


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from workers.log import configure

    configure()
    # aiosmtpd (the dev stack's mail catcher) logs every connection at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _full(temporal: TemporalSettings | None = None) -> Settings:
    from workers.settings import Settings

    try:
        return Settings.from_env(temporal=temporal)
    except PlaybookError as exc:
        _fail(str(exc))


Host = Annotated[
    str | None,
    typer.Option(
        "--host", help="Address to listen on (default 127.0.0.1) [env: PLAYBOOK_API_HOST]."
    ),
]


@app.command()
@connected()
def api(
    host: Host = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port to listen on (default 8000) [env: PLAYBOOK_API_PORT].",
            min=0,
            max=65535,
        ),
    ] = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Serve the HTTP API: events in, account status and decisions out (OpenAPI at /docs)."""
    from workers.api import serve
    from workers.metrics import serve_sdk_metrics

    full = _full(settings)
    _logging()
    serve_sdk_metrics()  # before the API's client: the SDK's runtime serves them (/metrics)

    def ready(url: str) -> None:
        _log.info(
            "API at %s (OpenAPI at %s/docs, dashboard at %s/dashboard), Temporal at %s",
            url,
            url,
            url,
            full.temporal.where(),
        )
        if full.api.open:
            _log.warning("no PLAYBOOK_API_TOKENS or PLAYBOOK_API_HMAC_SECRET: open to loopback")

    _run(serve(full, host=host, port=port, on_ready=ready))


@app.command()
def dev(
    playbooks: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Playbooks to publish at start (default: playbooks).",
            metavar="PATH",
            readable=False,
        ),
    ] = None,
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Where the dev server and the task store keep their state."),
    ] = Path(".playbook"),
    port: Annotated[
        int, typer.Option("--port", help="Temporal dev server port.", min=0, max=65535)
    ] = 7233,
    ui_port: Annotated[
        int, typer.Option("--ui-port", help="Temporal UI port (0: no UI).", min=0, max=65535)
    ] = 8233,
    api_port: Annotated[
        int, typer.Option("--api-port", help="HTTP API port.", min=0, max=65535)
    ] = 8000,
    people: Annotated[
        Path | None,
        typer.Option(
            "--people", help="People directory YAML [env: PLAYBOOK_DIRECTORY].", metavar="FILE"
        ),
    ] = None,
) -> None:
    """Run the engine on this machine until Ctrl-C: Temporal dev server with its UI, a worker,
    the HTTP API, and mail and chat catchers that print what would be sent.

    State stays in --dir, so the next `playbook dev` resumes the journeys; the other commands
    reach it with their defaults (localhost:7233, task queue playbooks, .playbook/playbook.db).
    """
    from playbook_cli._playbooks import _checked

    paths = playbooks or [Path("playbooks")]
    shipped = _checked(paths)
    health = shipped.health_plan()
    if not shipped.playbooks or health is None:
        _fail(f"nothing to publish: no playbooks in {' '.join(map(str, paths))}")
    full = _full()
    _logging()
    from engine.journeys._catalog import build_catalog

    catalog = build_catalog(shipped.plans(), health, shipped.contact_plan())
    _run(_dev(full, catalog, directory, port, ui_port, api_port, people))
    print("stopped")


async def _dev(
    settings: Settings,
    catalog: Catalog,
    directory: Path,
    port: int,
    ui_port: int,
    api_port: int,
    people: Path | None,
) -> None:
    from engine.client._start import publish
    from workers.dev import QUEUE, running, stop_signals, stopped

    def mail(message: EmailMessage) -> None:
        _say(f"mail  to {message['To']}: {message['Subject']}")

    def chat(post: dict[str, object]) -> None:
        text = str(post.get("text", "")).splitlines()
        _say(f"chat  {post.get('channel', '')}: {text[0] if text else ''}")

    stop = stop_signals()
    async with running(
        directory,
        temporal_port=port,
        ui_port=ui_port,
        api_port=api_port,
        people=people,
        settings=settings,
        on_mail=mail,
        on_chat=chat,
    ) as stack:
        changed = await publish(stack.client, catalog, QUEUE)
        _say(
            f"""playbook dev: {changed}
  Temporal        {stack.temporal_address} (namespace default, task queue {QUEUE})
  Temporal UI     {stack.ui_url or "off"}
  HTTP API        {stack.api_url}  (OpenAPI: {stack.api_url}/docs)
  dashboard       {stack.api_url}/dashboard  (or: playbook report)
  task store      {stack.database_url}
  state           {directory}/ (a restart resumes; delete it to start over)
Try: playbook event acme --score 35   then: playbook status acme
Ctrl-C to stop."""
        )
        await stopped(stop)
        _say("stopping...")


_PRINTING = threading.Lock()


def _say(text: str) -> None:
    """Print ``text`` as one piece: the mail catcher and the chat catcher call this from
    their own threads, and print() writes the text and its newline separately, so two
    threads printing at once glued their lines together."""
    with _PRINTING:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


@app.command(name="settings")
def settings_() -> None:
    """Show every setting a worker or the API would use (PLAYBOOK_* variables), secrets masked."""
    from workers.settings import shown

    _full()  # a bad value is reported first, as the worker would
    width = max(len(var) for var, _, _ in shown())
    for var, value, meaning in shown():
        print(f"{var:<{width}}  {value:<24}  {meaning}")
