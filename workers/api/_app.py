"""The HTTP API's routes: events in (signal-with-start, like the CLI), status and why out.

Every door into the engine shares ``engine.client._operate``: an event sent here gets the same
message ids as the same event in an ingest file, so a retry through either is ignored by
the account. The Temporal client is made on first use and kept; while Temporal is down,
requests get a 503 with the one-line reason and the process stays up to serve the next.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Path, Query, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from temporalio.client import Client
from temporalio.service import RPCError

from engine.client._connect import TemporalUnreachable, connect
from engine.client._events import event_messages
from engine.client._operate import (
    Overview,
    UnknownAccount,
    account_why,
    list_accounts,
    overview,
)
from engine.client._start import check_account_id, send_event
from engine.journeys._messages import DecisionRecord
from engine.language._errors import PlaybookError
from workers.api._auth import authorize
from workers.api._limits import DEFAULT_REQUEST_SECONDS, MAX_BODY_BYTES, ReadBody
from workers.api._models import (
    Accepted,
    AccountList,
    Batch,
    EventIn,
    OverrideIn,
    OverrideOut,
    Problem,
    Why,
)
from workers.api._pages import add_pages
from workers.api._tasks import add_task_routes
from workers.metrics import CONTENT_TYPE, METRICS, exposition, sdk_url
from workers.settings import Settings

T = TypeVar("T")
_log = logging.getLogger("playbook.api")
# At module level: routes are read with their annotations as strings, resolved here.
Account = Annotated[
    str, Path(description="The account id.", max_length=200, pattern=r"^[^\s/\x00-\x1f\x7f]+$")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Makes a retried request's events without ids the same events (see"
        " event ids in the README); optional.",
    ),
]


def _content_id(account: str, event: EventIn, index: int, day: str, key: str | None) -> str:
    """An id for an event sent without one, from what it is: its account, its content, its
    place in the request, the day (UTC) and the request's Idempotency-Key. A client that
    retries a request after a timeout or a 503 sends the same events again, and the accounts
    ignore those already delivered; the same reading sent on another day is a new event."""
    content = event.model_dump(mode="json", exclude={"id"}, exclude_none=True)
    canonical = json.dumps([account, content, index, day, key], sort_keys=True, default=str)
    return "api-" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


class _Temporal:
    """One client for the process, connected on first use; reconnects after a failure."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self._settings.temporal)
            return self._client

    def forget(self) -> None:
        self._client = None


def create_app(settings: Settings, *, request_seconds: float = DEFAULT_REQUEST_SECONDS) -> FastAPI:
    """The API for ``settings``; ``playbook api`` serves it with uvicorn.

    ``request_seconds`` bounds how long a client may take to send a request's body.
    """
    temporal = _Temporal(settings)

    app = FastAPI(
        title="Playbook engine API",
        version="1",
        summary="Send accounts their health events; read their journeys and decisions.",
        description=(
            "Authenticate with `Authorization: Bearer TOKEN` (`PLAYBOOK_API_TOKENS`) or sign "
            "the request: `X-Playbook-Timestamp` (Unix seconds) and `X-Playbook-Signature: "
            "sha256=HEX`, the HMAC-SHA256 of `{timestamp}.{body}` with "
            "`PLAYBOOK_API_HMAC_SECRET`. Events are accepted with 202 once Temporal has them; "
            "each account applies its events in order, usually within 100 ms."
        ),
        responses={401: {"model": Problem}, 503: {"model": Problem}},
    )
    app.add_middleware(ReadBody, seconds=request_seconds)

    async def caller(request: Request) -> None:
        await authorize(request, settings.api)

    async def _temporal_call(work: Callable[[Client], Awaitable[T]]) -> T:
        try:
            return await work(await temporal.client())
        except RPCError as error:
            # The connection may be what failed: connect afresh next time.
            temporal.forget()
            raise _failed("the call", error.status.name, error.message) from None

    def _failed(what: str, status_name: str, answer: str) -> TemporalUnreachable:
        # Temporal's answer can quote its visibility store's SQL and the query we built:
        # the operator reads it in the log, the client gets the status and where to look.
        where = settings.temporal.where()
        _log.warning("Temporal at %s failed %s: %s %s", where, what, status_name, answer)
        return TemporalUnreachable(
            f"Temporal at {where} failed {what} ({status_name}); the API's log has its answer"
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        if request.url.path.endswith("/events"):
            METRICS.api_refused.inc()
        # FastAPI's own handler echoes the input, and a NaN in it cannot be rendered as
        # JSON: the client would get a 500 for its own bad payload.
        detail = _json_safe(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(TemporalUnreachable)
    async def _unreachable(_: Request, error: TemporalUnreachable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(UnknownAccount)
    async def _unknown(_: Request, error: UnknownAccount) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_404_NOT_FOUND)

    @app.exception_handler(PlaybookError)
    async def _refused(_: Request, error: PlaybookError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    authed = [Depends(caller)]

    async def _deliver(events: list[tuple[str, EventIn]], key: str | None) -> Accepted:
        ids, batches = [], []
        day = datetime.now(UTC).date().isoformat()
        for index, (account, event) in enumerate(events):
            try:
                check_account_id(account)  # all refused before any is sent
            except PlaybookError:
                METRICS.api_refused.inc()
                raise
            event_id = event.id or _content_id(account, event, index, day, key)
            ids.append(event_id)
            batches.append(
                (
                    account,
                    event_messages(
                        event_id,
                        score=event.score,
                        components=event.components,
                        attributes=event.set,
                        event=event.event,
                    ),
                )
            )

        async def work(client: Client) -> None:
            for account, messages in batches:
                await send_event(client, account, messages, settings.temporal.task_queue)

        try:
            await _temporal_call(work)
        except TemporalUnreachable:
            METRICS.api_events.labels("failed").inc(len(events))
            raise
        METRICS.api_events.labels("accepted").inc(len(ids))
        return Accepted(accepted=len(ids), event_ids=ids)

    @app.post(
        "/v1/accounts/{account}/events",
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=authed,
        tags=["events"],
        responses={422: {"description": "The body is not a valid event."}},
    )
    async def post_event(
        account: Account, event: EventIn, idempotency_key: IdempotencyKey = None
    ) -> Accepted:
        """Send one account an event; its workflow starts if this is its first."""
        return await _deliver([(account, event)], idempotency_key)

    @app.post(
        "/v1/events", status_code=status.HTTP_202_ACCEPTED, dependencies=authed, tags=["events"]
    )
    async def post_events(batch: Batch, idempotency_key: IdempotencyKey = None) -> Accepted:
        """Send up to 1,000 events, for any accounts; all are checked before any is sent."""
        return await _deliver([(event.account, event) for event in batch.events], idempotency_key)

    @app.post(
        "/v1/accounts/{account}/override",
        dependencies=authed,
        tags=["accounts"],
        responses={422: {"description": "A score, reason or until the account cannot take."}},
    )
    async def post_override(account: Account, body: OverrideIn) -> OverrideOut:
        """Override the account's health score until a moment, or clear the override; refused
        (422, one line) when the score is not 0-100, the reason not 1-500 characters on one
        line, or until passed or over 400 days ahead."""
        from engine.client._commands import override
        from engine.journeys._messages import OverrideRequest

        check_account_id(account)
        if not body.clear and (body.score is None or body.until is None):
            raise PlaybookError("give score, reason and until (or clear: true)")
        request = OverrideRequest(**body.model_dump())
        answer = await _temporal_call(lambda client: override(client, account, request))
        return OverrideOut(done=answer.done, text=answer.text)

    @app.get("/v1/accounts/{account}", dependencies=authed, tags=["accounts"])
    async def get_status(account: Account) -> Overview:
        """Health, attributes and journeys: step, escalation tier, who acknowledged."""
        return await _temporal_call(lambda client: overview(client, account))

    @app.get("/v1/accounts/{account}/why", dependencies=authed, tags=["accounts"])
    async def get_why(account: Account) -> Why:
        """Every decision about the account, oldest first: rule, version, values seen."""
        logged = await asyncio.to_thread(_logged, settings, account)
        decisions = await _temporal_call(lambda client: account_why(client, account, logged))
        return Why(account=account, decisions=decisions)

    @app.get("/v1/accounts", dependencies=authed, tags=["accounts"])
    async def get_accounts(
        tier: Annotated[
            str | None, Query(description="Health tier, e.g. critical.", max_length=200)
        ] = None,
        segment: Annotated[
            str | None, Query(description="Segment, e.g. enterprise.", max_length=200)
        ] = None,
        owner: Annotated[str | None, Query(description="The CSM's email.", max_length=200)] = None,
        playbook: Annotated[
            str | None, Query(description="With a running journey.", max_length=200)
        ] = None,
        escalation: Annotated[
            str | None, Query(description="At this escalation tier.", max_length=200)
        ] = None,
    ) -> AccountList:
        """Accounts matching the filters, from Temporal's visibility store (no scan).

        A filter is plain text of at most 200 characters: a control character (NUL, newline)
        is 400, a longer value 422; an empty one filters nothing.
        """
        filters: dict[str, Any] = {
            "tier": tier,
            "segment": segment,
            "owner": owner,
            "playbook": playbook,
            "escalation": escalation,
        }
        found = await _temporal_call(lambda client: list_accounts(client, **filters))
        return AccountList(accounts=found)

    add_pages(app, settings, _temporal_call, _failed)
    add_task_routes(app, settings, _temporal_call, authed)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests. Needs no credentials."""
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics (docs/metrics.md): the API's counts and the Temporal SDK's."""
        return Response(await exposition(METRICS.registry, sdk_url()), media_type=CONTENT_TYPE)

    @app.get("/readyz", tags=["health"], responses={503: {"model": Problem}})
    async def readyz() -> dict[str, str]:
        """Readiness, for load balancers: Temporal answers. Needs no credentials."""
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

        # A call, not the cached connection: Temporal may have gone away since.
        await _temporal_call(lambda c: c.workflow_service.get_system_info(GetSystemInfoRequest()))
        return {"status": "ready", "temporal": settings.temporal.where()}

    return app


__all__ = ["MAX_BODY_BYTES", "create_app"]


def _logged(settings: Settings, account: str) -> list[DecisionRecord]:
    """The account's decisions in the store's decision log (they outlive retention)."""
    from workers import history
    from workers.store import DEFAULT_SQLITE_PATH, open_store

    url = settings.store_url()
    if url is None and not DEFAULT_SQLITE_PATH.exists():
        return []  # no worker has written here: the live journeys are all there is
    with open_store(url) as store:
        return history.decisions(store, account)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value
