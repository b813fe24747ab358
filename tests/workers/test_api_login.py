"""Who gets into the API's pages and routes: the login form, its session cookie (signed,
HttpOnly, SameSite=Strict, CSRF-checked on writes), read-only tokens and the redirect to the
login. Served in process through httpx's ASGI transport: no request here reaches Temporal,
since every one is decided before a route would call it."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import SecretStr

from engine.client._connect import SettingsError, TemporalSettings
from workers.api import create_app
from workers.api._session import COOKIE, CSRF_HEADER, csrf_token, issue, verify
from workers.settings import ApiSettings, Settings

WRITE = "write-token-0123456789abcdef"
READ = "read-only-token-0123456789ab"
# Nothing listens here: a request that got past the checks would be a 503, never a 2xx.
NOWHERE = TemporalSettings(address="127.0.0.1:9")


def _settings(**api: object) -> Settings:
    values: dict[str, object] = {
        "tokens": (SecretStr(WRITE),),
        "read_tokens": (SecretStr(READ),),
        **api,
    }
    return Settings(temporal=NOWHERE, api=ApiSettings.model_validate(values))


def _client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://testserver"
    )


async def _login(http: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await http.post(
        "/login",
        content=f"token={token}&next=/accounts/acme",
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
    )


async def test_a_page_without_a_session_redirects_to_the_login_and_json_routes_say_401() -> None:
    """/dashboard and /accounts/acme go to /login?next=...; /v1/accounts is 401 JSON."""
    async with _client(_settings()) as http:
        for path in ("/dashboard?period=30d", "/accounts/acme", "/accounts?q=ac"):
            answer = await http.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=/"), answer.headers
        assert (await http.get("/v1/accounts")).status_code == 401
        form = await http.get("/login?next=/dashboard")
        assert form.status_code == 200 and 'name="token"' in form.text


async def test_a_wrong_token_is_refused_and_a_right_one_gets_a_signed_httponly_cookie() -> None:
    """401 with the form again for a wrong token; 303 to `next` with a Strict, HttpOnly
    cookie for a known one, which then opens pages (here a 503: Temporal is not there)."""
    async with _client(_settings()) as http:
        wrong = await _login(http, "not-a-token-we-know-at-all")
        assert wrong.status_code == 401 and "That token is not accepted." in wrong.text
        assert COOKIE not in wrong.cookies
        right = await _login(http, READ)
        assert right.status_code == 303 and right.headers["location"] == "/accounts/acme"
        set_cookie = right.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        assert "max-age=43200" in set_cookie
        http.cookies.set(COOKIE, right.cookies[COOKIE])
        assert (await http.get("/v1/accounts")).status_code == 503


async def test_a_read_only_token_cannot_write_with_a_bearer_or_a_session() -> None:
    """POSTs of events with a read-only token are 403 naming the write tokens' variable; a
    write token gets past the check (503: no Temporal here)."""
    body = {"events": [{"account": "acme", "id": "e1", "score": 40}]}
    async with _client(_settings()) as http:
        read = await http.post("/v1/events", json=body, headers={"authorization": f"Bearer {READ}"})
        assert read.status_code == 403 and "PLAYBOOK_API_TOKENS" in read.json()["detail"]
        assert (
            await http.get("/v1/accounts", headers={"authorization": f"Bearer {READ}"})
        ).status_code == 503
        write = await http.post(
            "/v1/events", json=body, headers={"authorization": f"Bearer {WRITE}"}
        )
        assert write.status_code == 503


async def test_a_write_carried_by_the_cookie_needs_the_sessions_csrf_token() -> None:
    """Without X-CSRF-Token (what another site's form would send) 403; with it, a write
    session gets through and a read-only session is still 403."""
    settings = _settings()
    body = {"events": [{"account": "acme", "id": "e1", "score": 40}]}
    for token, allowed in ((WRITE, True), (READ, False)):
        cookie = issue(settings.api, token, "write" if allowed else "read")
        session = verify(settings.api, cookie)
        assert session is not None
        async with _client(settings) as http:
            http.cookies.set(COOKIE, cookie)
            bare = await http.post("/v1/events", json=body)
            assert bare.status_code == 403 and CSRF_HEADER in bare.json()["detail"]
            checked = await http.post(
                "/v1/events", json=body, headers={CSRF_HEADER: csrf_token(settings.api, session)}
            )
            assert checked.status_code == (503 if allowed else 403)


def test_a_forged_expired_or_revoked_session_is_not_valid() -> None:
    """A changed byte, a passed expiry, or its token removed from the settings: no session."""
    api = _settings().api
    cookie = issue(api, READ, "read")
    assert verify(api, cookie) is not None
    body, _, signature = cookie.partition(".")
    assert verify(api, f"{body}x.{signature}") is None
    assert verify(api, cookie, now=time.time() + 13 * 3600) is None
    keyed = _settings(session_secret=SecretStr("a-session-key-0123456789")).api
    kept = issue(keyed, READ, "read")
    assert verify(keyed, kept) is not None
    revoked = keyed.model_copy(update={"read_tokens": (SecretStr("another-read-token-012345"),)})
    assert verify(revoked, kept) is None


async def test_login_goes_only_to_this_site_and_refuses_other_origins() -> None:
    """`next` of //elsewhere goes to the dashboard; a login posted from another origin is
    403 (login CSRF); logout needs the page's CSRF field and clears the cookie."""
    settings = _settings()
    async with _client(settings) as http:
        away = await http.post(
            "/login",
            content=f"token={READ}&next=//evil.example/x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert away.headers["location"] == "/dashboard"
        other = await _login(http, READ, origin="https://evil.example")
        assert other.status_code == 403
        cookie = (await _login(http, READ)).cookies[COOKIE]
        http.cookies.set(COOKIE, cookie)
        forged = await http.post(
            "/logout",
            content="csrf=nope",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert forged.status_code == 403
        session = verify(settings.api, cookie)
        assert session is not None
        out = await http.post(
            "/logout",
            content=f"csrf={csrf_token(settings.api, session)}",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert f'{COOKIE}=""' in out.headers["set-cookie"] or "max-age=0" in (
            out.headers["set-cookie"].lower()
        )


async def test_an_open_api_needs_no_login() -> None:
    """No credentials configured (loopback only): /login goes straight on."""
    async with _client(Settings(temporal=NOWHERE)) as http:
        answer = await http.get("/login?next=/accounts/acme")
        assert answer.status_code == 303 and answer.headers["location"] == "/accounts/acme"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLAYBOOK_API_READ_TOKENS": "short"}, "PLAYBOOK_API_READ_TOKENS: each token needs"),
        ({"PLAYBOOK_API_SESSION_SECRET": "short"}, "PLAYBOOK_API_SESSION_SECRET: at least"),
        ({"PLAYBOOK_TEMPORAL_UI_URL": "javascript:alert(1)"}, "PLAYBOOK_TEMPORAL_UI_URL: an"),
        ({"PLAYBOOK_DASHBOARD_TARGETS": "grr=lots"}, "PLAYBOOK_DASHBOARD_TARGETS: "),
        ({"PLAYBOOK_DASHBOARD_TARGETS": "gross=0.9"}, "unknown target 'gross'"),
        ({"PLAYBOOK_DASHBOARD_CHURN_RISK": "critical=2"}, "PLAYBOOK_DASHBOARD_CHURN_RISK: "),
    ],
)
def test_bad_login_and_dashboard_settings_are_one_line_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    """Each bad value stops the process with one line naming its variable."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_dashboard_targets_and_the_ui_address_come_from_the_environment() -> None:
    """Targets given override the defaults one by one; the UI address loses its last /."""
    settings = Settings.from_env(
        {
            "PLAYBOOK_DASHBOARD_TARGETS": "grr=0.95, nrr=1.2",
            "PLAYBOOK_DASHBOARD_CHURN_RISK": "critical=0.7",
            "PLAYBOOK_TEMPORAL_UI_URL": "https://temporal.example.com/",
        }
    )
    assert settings.dashboard.targets["grr"] == 0.95 and settings.dashboard.targets["nrr"] == 1.2
    assert settings.dashboard.targets["onboarding_completion"] == 0.90
    assert settings.dashboard.churn_risk["critical"] == 0.7
    assert settings.dashboard.churn_risk["healthy"] == 0.05
    assert settings.api.temporal_ui == "https://temporal.example.com"
