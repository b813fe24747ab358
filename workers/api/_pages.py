"""The API's pages for people in a browser: the login, the dashboard, the account page and
the search that finds an account.

Kept apart from the JSON routes in ``_app``: a page without credentials redirects to the
login (a JSON route answers 401), an unknown account is a page saying so (not JSON), and
each page knows the session's CSRF token for its logout button.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.client import Client

from engine.client._operate import UnknownAccount, _quoted
from engine.journeys import _search as sa
from workers.api._auth import authorize
from workers.api._page_style import STYLE, header, template
from workers.api._session import (
    COOKIE,
    CSRF_FIELD,
    SESSION_SECONDS,
    csrf_ok,
    csrf_token,
    issue,
    role_of,
    verify,
)
from workers.settings import Settings

T = TypeVar("T")
TemporalCall = Callable[[Callable[[Client], Awaitable[T]]], Awaitable[T]]
SEARCH_LIMIT = 50
"""Accounts a search lists; a longer prefix narrows it."""
PageAccount = Annotated[
    str, Path(description="The account id.", max_length=200, pattern=r"^[^\s/\x00-\x1f\x7f]+$")
]


class LoginNeeded(Exception):
    """A page was asked for without a valid session: the browser goes to the login."""

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted


def _safe_next(wanted: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    if not wanted or not wanted.startswith("/") or wanted.startswith("//") or "\\" in wanted:
        return "/dashboard"
    return wanted


_LOGIN = template("login.html")
_MISSING = template("accounts.html")


def add_pages(
    app: FastAPI,
    settings: Settings,
    temporal_call: TemporalCall[Any],
    failed: Callable[[str, str, str], Exception],
) -> None:
    """Add the pages to ``app``; ``temporal_call`` runs work with the app's Temporal client
    (a 503 when Temporal is down, as for every route), ``failed`` makes a failed visibility
    query that 503 (its text goes to the log, not to the page)."""
    api = settings.api

    async def page_caller(request: Request) -> None:
        try:
            await authorize(request, api)
        except HTTPException as error:
            if error.status_code == status.HTTP_401_UNAUTHORIZED:
                wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise LoginNeeded(wanted) from None
            raise

    def csrf_of(request: Request) -> str | None:
        cookie = request.cookies.get(COOKIE)
        session = verify(api, cookie) if cookie and not api.open else None
        return csrf_token(api, session) if session else None

    pages = [Depends(page_caller)]

    @app.exception_handler(LoginNeeded)
    async def _to_login(_: Request, error: LoginNeeded) -> RedirectResponse:
        return RedirectResponse(
            f"/login?next={quote(error.wanted, safe='/')}", status.HTTP_303_SEE_OTHER
        )

    @app.get("/login", include_in_schema=False, response_model=None)
    async def login_form(next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
        if api.open:
            return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
        return HTMLResponse(_LOGIN.render(style=STYLE, next=_safe_next(next), error=None))

    @app.post("/login", include_in_schema=False, response_model=None)
    async def login(request: Request) -> Response:
        """A token in, a session cookie out; a wrong token is the form again, with 401."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            # Another site's form posting a token of its own: login CSRF.
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a login from another site")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        wanted = _safe_next((form.get("next") or [""])[0])
        role = role_of(api, token) if token.strip() and not api.open else None
        if role is None:
            page = _LOGIN.render(style=STYLE, next=wanted, error="That token is not accepted.")
            return HTMLResponse(page, status.HTTP_401_UNAUTHORIZED)
        response = RedirectResponse(wanted, status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            COOKIE,
            issue(api, token, role),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or _behind_tls(request),
            path="/",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> RedirectResponse:
        cookie = request.cookies.get(COOKIE)
        session = verify(api, cookie) if cookie else None
        if session is not None:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            if not csrf_ok(api, session, (form.get(CSRF_FIELD) or [""])[0]):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "log out from the page's button")
        response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/dashboard", dependencies=pages, tags=["pages"], response_class=HTMLResponse)
    async def get_dashboard(
        request: Request,
        period: Annotated[
            str,
            Query(
                description="1d to 3660d, or START..END (YYYY-MM-DD or UTC times, at most "
                "3,660 days apart, between 1970 and 2999).",
                max_length=100,
            ),
        ] = "90d",
    ) -> HTMLResponse:
        """The customer-success dashboard as a page: what `playbook report` prints."""
        from engine.dashboard._period import parse_period
        from workers.api._dashboard import render
        from workers.dashboard_sources import VisibilityFailed, report
        from workers.store import open_store

        now = datetime.now(UTC)
        window = parse_period(period, now)
        store = await asyncio.to_thread(open_store, settings.store_url())
        try:
            built = await temporal_call(
                lambda client: report(client, store, window, now, settings.dashboard)
            )
        except VisibilityFailed as error:
            raise failed("a visibility query", error.status_name, error.answer) from None
        finally:
            store.close()
        return HTMLResponse(render(built, csrf_of(request)))

    @app.get("/accounts", dependencies=pages, tags=["pages"], response_class=HTMLResponse)
    async def find_account(
        request: Request, q: Annotated[str, Query(max_length=200)] = ""
    ) -> Response:
        """Find an account: its page when the id matches, else the accounts it begins."""
        q = q.strip()

        async def work(client: Client) -> list[dict[str, str | None]]:
            found = []
            query = "WorkflowType = 'Account' AND ExecutionStatus = 'Running'"
            if q:
                query += f" AND {sa.ACCOUNT_ID.name} STARTS_WITH {_quoted(q)}"
            async for execution in client.list_workflows(query, limit=SEARCH_LIMIT):
                attributes = execution.typed_search_attributes
                account = attributes.get(sa.ACCOUNT_ID)
                if account:
                    found.append(
                        {
                            "id": account,
                            "tier": attributes.get(sa.HEALTH_TIER),
                            "segment": attributes.get(sa.SEGMENT),
                        }
                    )
            return sorted(found, key=lambda a: a["id"] or "")

        found = await temporal_call(work)
        if any(a["id"] == q for a in found):
            return RedirectResponse(f"/accounts/{quote(q, safe='')}", status.HTTP_303_SEE_OTHER)
        title = f"Accounts beginning {q!r}" if q else "Accounts"
        page = _MISSING.render(
            style=STYLE,
            top=header(csrf_of(request), q),
            title=title,
            found=found,
            empty="no account matches",
        )
        return HTMLResponse(page)

    @app.get("/accounts/{account}", dependencies=pages, tags=["pages"], response_class=HTMLResponse)
    async def account_page(request: Request, account: PageAccount) -> HTMLResponse:
        """One account: health, history, attributes, journeys, tasks and decisions."""
        from workers.api._account_page import gather, render

        logged, tasks, drafts = await asyncio.to_thread(_stored, settings, account)
        try:
            page = await temporal_call(
                lambda client: gather(client, account, logged, tasks, api.temporal_ui, drafts)
            )
        except UnknownAccount as error:
            missing = _MISSING.render(
                style=STYLE,
                top=header(csrf_of(request), account),
                title=f"No account {account}",
                found=[],
                empty=str(error),
            )
            return HTMLResponse(missing, status.HTTP_404_NOT_FOUND)
        return HTMLResponse(render(page, csrf_of(request)))


def _behind_tls(request: Request) -> bool:
    # A TLS-terminating proxy in front (docker-compose, a load balancer) says so here.
    return request.headers.get("x-forwarded-proto", "").lower() == "https"


def _stored(
    settings: Settings, account: str
) -> tuple[list[Any], list[Any] | None, list[Any] | None]:
    """The account's logged decisions, its tasks and its outbox drafts (all of them), from
    the store the workers write; none when there is no store here yet."""
    from workers import history
    from workers.outbox import list_drafts
    from workers.store import DEFAULT_SQLITE_PATH, open_store

    url = settings.store_url()
    if url is None and not DEFAULT_SQLITE_PATH.exists():
        return [], None, None
    with open_store(url) as store:
        return (
            history.decisions(store, account),
            store.list_tasks(account=account, status="all"),
            list_drafts(store, account=account, status="all"),
        )


__all__ = ["LoginNeeded", "add_pages"]
