"""The dashboard on a known book driven through the real workflows (dev server, a worker, the
store), read three ways: the report, `playbook report --json`, and the page `playbook api`
serves, loaded in headless Chromium (a screenshot is kept in .artifacts/); then the walk a CS
leader takes behind the login, from the dashboard to an account's page and on to the
Temporal UI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright
from pydantic import BaseModel, SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._connect import TemporalSettings
from engine.client._operate import overview, signal_account
from engine.client._start import account_workflow_id, publish, send
from engine.dashboard._numbers import Report
from engine.dashboard._period import Period
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import (
    AccountEvent,
    AttributeChange,
    HealthEvent,
    OverrideRequest,
    PlaybookAck,
)
from tests.browser import chromium, sees
from tests.support import eventually, fresh_namespace
from workers.activities import Actions
from workers.api import serve
from workers.dashboard_sources import report
from workers.directory import Directory
from workers.email import SmtpSettings
from workers.outbound import OutboundSettings
from workers.settings import ApiSettings, Settings
from workers.store import Store, open_store
from workers.worker import build_worker

BOOK = Path(__file__).parents[1] / "fixtures" / "dashboard"
ROOT = Path(__file__).parents[2]
PLAYBOOK = Path(sys.executable).parent / "playbook"


class Book(BaseModel):
    """Where the book lives and the period that starts between its two phases."""

    model_config = {"arbitrary_types_allowed": True}

    client: Client
    queue: str
    database: str
    period: Period
    report: Report


OVERRIDE = OverrideRequest(
    by="dana",
    reason="winding down, champion still engaged",
    score=55,
    until=datetime.combine(
        datetime.now(UTC).date() + timedelta(days=5), datetime.min.time(), tzinfo=UTC
    ),
)


def _days(n: int) -> str:
    return (datetime.now(UTC) + timedelta(days=n)).date().isoformat()


async def _drive(client: Client, queue: str, store: Store) -> Period:
    """Phase one (before the period): five customers with ARR and health. Phase two (in it):
    expansion, contraction, a churn, a recovery, a critical drop, a new customer onboarded."""

    async def to(account: str, *messages: Any) -> None:
        for message in messages:
            await send(client, account, message, queue)

    def at(**values: Any) -> AttributeChange:
        return AttributeChange(set=values)

    await to("acme", at(segment="enterprise", arr=100_000, renewal_date=_days(30)))
    await to("acme", HealthEvent(score=90, components={"nps": 80}))
    await to("beta", at(segment="mid-market", arr=50_000, renewal_date=_days(60)))
    await to("beta", HealthEvent(score=70))
    await to("gamma", at(segment="smb", arr=20_000), HealthEvent(score=50))
    await to("delta", at(segment="enterprise", arr=30_000, renewal_date=_days(200)))
    await to("delta", HealthEvent(score=85, components={"nps": 60}))
    await to("echo", at(segment="smb", arr=10_000), HealthEvent(score=45))

    # Five ARR and five tier changes; gamma's and echo's rescue engaged their CSM.
    await eventually(lambda: _count(store, 10), "phase one recorded")
    for account in ("gamma", "echo"):
        await eventually(lambda a=account: _tier(client, a, "csm"), f"{account} escalated")
    await asyncio.sleep(0.05)
    start = datetime.now(UTC)
    await asyncio.sleep(0.05)

    await to("acme", at(arr=130_000), AccountEvent(name="renewal.signed"))
    await to("beta", at(arr=40_000), HealthEvent(score=20))
    await to("gamma", AccountEvent(name="contract.cancelled"), at(arr=0))
    # Gamma's CSM knows better than the model (still at risk, so no journey changes course).
    await client.get_workflow_handle(account_workflow_id("gamma")).execute_update(
        "override_health", OVERRIDE
    )
    await signal_account(client, "echo", "acknowledge", PlaybookAck(by="csm@x", playbook="rescue"))
    await eventually(lambda: _acked(client, "echo"), "echo acknowledged")
    await to("echo", HealthEvent(score=85))
    await to("newco", at(segment="smb", arr=15_000), HealthEvent(score=65))
    await to("newco", AccountEvent(name="contract.signed"))
    await eventually(lambda: _running(client, "newco", "onboarding"), "newco onboarding")
    await to("newco", AccountEvent(name="onboarding.completed"))
    return Period(start=start, end=start + timedelta(days=1), label="the test")


async def _count(store: Store, wanted: int) -> bool:
    def count() -> int:
        with store.transaction() as tx:
            return int(tx.run("SELECT COUNT(*) AS n FROM account_changes")[0]["n"])

    return await asyncio.to_thread(count) >= wanted


async def _tier(client: Client, account: str, tier: str) -> bool:
    view = await overview(client, account)
    return any(run.escalation_tier == tier for run in view.runs.values())


async def _acked(client: Client, account: str) -> bool:
    view = await overview(client, account)
    return any(run.acknowledged_by for run in view.runs.values())


async def _running(client: Client, account: str, playbook: str) -> bool:
    view = await overview(client, account)
    enrollment = view.account.enrollments.get(playbook)
    return enrollment is not None and enrollment.running


def _settled(r: Report) -> bool:
    """Every write and visibility update of the book has landed."""
    playbooks = {p.playbook: p for p in r.playbooks}
    return (
        r.health.accounts == 6
        and r.at_risk.escalated.get("manager") == 1
        and r.at_risk.resolved == 1
        and r.onboarding.journeys_ended == 1
        # Enrollments come from the decision log, which the accounts write in the background.
        and r.onboarding.onboarded == 1
        and "rescue" in playbooks
        and playbooks["rescue"].completed == 2
        and r.at_risk.interventions == 1
        and r.retention.churned_accounts == 1
        # The override's decision is written to the log in the background too.
        and r.overridden == 1
    )


@pytest.fixture(scope="module")
async def book(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The book, driven once for the module's tests (it takes seconds of real time)."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    database = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'playbook.db'}"
    loaded = load([BOOK])
    with open_store(database) as store:
        # The real actions: the rescue's tasks land in the store, for the account page.
        actions = Actions(
            store=store, directory=Directory(), smtp=SmtpSettings(), outbound=OutboundSettings()
        )
        async with build_worker(client, queue, actions.activities()):
            await publish(client, build_catalog(loaded.plans(), loaded.health_plan()), queue)  # type: ignore[arg-type]
            period = await _drive(client, queue, store)

            async def settled() -> Report | None:
                found = await report(client, store, period, datetime.now(UTC))
                return found if _settled(found) else None

            result = await eventually(settled, "the dashboard shows the whole book", 20)
            yield Book(client=client, queue=queue, database=database, period=period, report=result)


async def test_every_metric_matches_the_book(book: Book) -> None:
    """Retention, health, risk, renewals, onboarding and playbooks, each computed by hand."""
    r = book.report
    # Cohort at the period start: acme 100k, beta 50k, gamma 20k, delta 30k, echo 10k = 210k.
    # gamma cancelled: 20k churned; beta 50k -> 40k: 10k contraction; acme 100k -> 130k: 30k
    # expansion; newco's 15k is new business.
    ret = r.retention
    assert (ret.starting_accounts, ret.starting_arr) == (5, 210_000)
    assert (ret.churned_arr, ret.contraction, ret.expansion, ret.new_arr) == (
        20_000,
        10_000,
        30_000,
        15_000,
    )
    assert ret.grr == pytest.approx(180_000 / 210_000)  # (210 - 20 - 10) / 210 = 85.7%
    assert ret.nrr == pytest.approx(210_000 / 210_000)  # (210 + 30 - 20 - 10) / 210 = 100%
    assert ret.logo_churn == pytest.approx(1 / 5)  # 20%
    # Now: acme 90, delta 85, echo 85 healthy; newco 65 good; gamma 50 at-risk; beta 20
    # critical. At the start: acme, delta healthy; beta good; gamma, echo at-risk.
    tiers = {row.tier: (row.count, row.at_start, row.change) for row in r.health.tiers}
    assert tiers == {
        "healthy": (3, 2, 1),
        "good": (1, 1, 0),
        "at-risk": (1, 2, -1),
        "critical": (1, 0, 1),
    }
    segments = {s.segment: (s.total, s.tiers) for s in r.health.segments}
    assert segments["enterprise"] == (2, {"healthy": 2, "good": 0, "at-risk": 0, "critical": 0})
    assert segments["smb"][0] == 3 and segments["mid-market"][0] == 1
    # At risk: beta (40k) and gamma (ARR 0 since it cancelled); beta's rescue is the one
    # intervention running, at the manager; echo recovered (at-risk -> healthy).
    a = r.at_risk
    assert (a.accounts, a.arr, a.interventions, a.resolved) == (2, 40_000, 1, 1)
    assert a.escalated == {"csm": 0, "manager": 1, "executive": 0}
    assert [(e.account_id, e.playbook, e.tier) for e in a.escalations] == [
        ("beta", "rescue", "manager")
    ]
    # Renewals within 90 days: acme (30 days, signed, expanded) and beta (60 days, critical).
    n = r.renewals
    assert (n.count, n.confirmed, n.at_risk, n.with_expansion, n.arr) == (2, 1, 1, 1, 170_000)
    # newco signed and completed onboarding within the test: one account, well under a day.
    o = r.onboarding
    assert (o.onboarded, o.journeys_ended, o.reached_goal, o.completion_rate) == (1, 1, 1, 1.0)
    assert o.median_days_to_value is not None and o.median_days_to_value < 0.01
    # rescue: beta's enrolled in the period and runs; gamma's exited, echo's reached its goal,
    # both escalated to the CSM, and echo's was acknowledged.
    p = {row.playbook: row for row in r.playbooks}
    rescue = p["rescue"]
    assert (rescue.running, rescue.enrolled, rescue.completed, rescue.goal, rescue.escalated) == (
        1,
        1,
        2,
        1,
        2,
    )
    assert set(rescue.median_ack_seconds) == {"csm"} and rescue.median_ack_seconds["csm"] > 0
    onboarding = p["onboarding"]
    assert (onboarding.enrolled, onboarding.completed, onboarding.goal) == (1, 1, 1)
    # Gamma's override: its score, the model's now, who, why and until when.
    [o] = r.overrides
    assert (o.account_id, o.score, o.model_score, o.model_tier) == ("gamma", 55, 50, "at-risk")
    assert (o.by, o.reason, o.until) == (OVERRIDE.by, OVERRIDE.reason, OVERRIDE.until)


def _period_arg(period: Period) -> str:
    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return f"{iso(period.start)}..{iso(period.end)}"


class _Rows(HTMLParser):
    """The page's ``<tr data-key=...>`` rows as key -> cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._key: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._key = dict(attrs).get("data-key")
            if self._key:
                self.rows[self._key] = []
        elif tag == "td" and self._key:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._key:
            self.rows[self._key].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._key = None


def _browse(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", *args, url],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def test_the_page_shows_the_numbers_in_a_real_browser(
    book: Book, dev_env: WorkflowEnvironment
) -> None:
    """`playbook api` serves /dashboard (open on loopback); Chromium renders it, a screenshot
    is saved, and the numbers in its DOM are the book's; `playbook report --json` agrees."""
    address = dev_env.client.service_client.config.target_host
    settings = Settings(
        temporal=TemporalSettings(
            address=address, namespace=book.client.namespace, task_queue=book.queue
        ),
        database_url=SecretStr(book.database),
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, port=0, stop=stop, on_ready=ready.set_result))
    try:
        url = f"{await ready}/dashboard?period={_period_arg(book.period)}"
        artifacts = ROOT / ".artifacts"
        artifacts.mkdir(exist_ok=True)
        shot = artifacts / "dashboard.png"
        shot.unlink(missing_ok=True)
        taken, dumped = await asyncio.gather(
            asyncio.to_thread(_browse, url, f"--screenshot={shot}", "--window-size=1280,2000"),
            asyncio.to_thread(_browse, url, "--dump-dom"),
        )
        assert shot.exists() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
        parser = _Rows()
        parser.feed(dumped.stdout)
        rows = parser.rows
        assert rows["retention.grr"][:4] == [
            "Gross revenue retention (GRR)",
            "85.7%",
            "92%+",
            "missed",
        ]
        assert rows["retention.nrr"][1] == "100.0%"
        assert rows["retention.logo_churn"][1] == "20.0%"
        assert rows["retention.expansion"][1] == "$30,000"
        assert rows["health.healthy"] == ["healthy", "80-100", "3", "50.0%", "2", "+1"]
        assert rows["health.critical"] == ["critical", "0-39", "1", "16.7%", "0", "+1"]
        # beta is at risk and has its rescue running; gamma's ended with its cancellation.
        assert rows["at_risk.coverage"][1] == "1 of 2 at-risk accounts have a retain play (50.0%)"
        assert rows["pipeline.opportunities"][1] == "n/a: no playbook has stage: expand"
        assert rows["satisfaction.nps"][1] == "70.0 of 100 (latest reading of 2 accounts)"
        assert rows["at_risk.arr"][1] == "$40,000"
        assert rows["at_risk.escalated.manager"][1] == "1"
        assert rows["at_risk.resolved"][1] == "1"
        assert rows["escalation.beta.rescue"] == ["beta", "rescue", "manager"]
        until = f"{OVERRIDE.until:%Y-%m-%d %H:%M} UTC"
        assert rows["account.gamma"][3] == f"55 by dana until {until}: {OVERRIDE.reason}"
        assert rows["account.beta"][3] == "-"
        assert rows["override.gamma"] == [
            "gamma",
            "55",
            "50 (at-risk)",
            "dana",
            OVERRIDE.reason,
            until,
        ]
        assert rows["renewals.count"][1] == "2" and rows["renewals.arr"][1] == "$170,000"
        assert rows["onboarding.completion"][1:] == ["100.0%", "90%+", "met"]
        assert rows["playbook.rescue"][:6] == ["rescue", "1", "1", "2", "1", "2"]
        assert "<svg" in dumped.stdout
    finally:
        stop.set()
        await server

    cli = await asyncio.to_thread(
        subprocess.run,
        [
            str(PLAYBOOK),
            "report",
            "--json",
            "--period",
            _period_arg(book.period),
            "--address",
            address,
            "--namespace",
            book.client.namespace,
            "--database",
            book.database,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)
    assert printed["retention"]["grr"] == pytest.approx(180_000 / 210_000)
    assert printed["at_risk"]["escalated"]["manager"] == 1


WRITE_TOKEN = "write-token-0123456789abcdef"
READ_TOKEN = "read-only-token-0123456789ab"


async def test_a_cs_leader_logs_in_and_walks_from_the_dashboard_to_a_run_in_the_temporal_ui(
    book: Book, dev_env: WorkflowEnvironment, dev_ui_port: int
) -> None:
    """With tokens set, in headless Chromium: a page without a cookie goes to the login, a
    wrong token is refused, a read-only token logs in (HttpOnly, SameSite=Strict cookie);
    the dashboard's escalation row leads to beta's page, which shows its rescue journey at
    the manager, its open tasks (the call and the manager's save plan), its decision log,
    and a link that opens the run in the Temporal UI."""
    settings = Settings(
        temporal=TemporalSettings(
            address=dev_env.client.service_client.config.target_host,
            namespace=book.client.namespace,
            task_queue=book.queue,
        ),
        database_url=SecretStr(book.database),
        api=ApiSettings(
            tokens=(SecretStr(WRITE_TOKEN),),
            read_tokens=(SecretStr(READ_TOKEN),),
            temporal_ui=f"http://127.0.0.1:{dev_ui_port}",
        ),
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, port=0, stop=stop, on_ready=ready.set_result))
    artifacts = ROOT / ".artifacts"
    artifacts.mkdir(exist_ok=True)
    try:
        base = await ready
        dashboard = f"{base}/dashboard?period={_period_arg(book.period)}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 2000})
                await page.goto(dashboard)
                assert page.url.startswith(f"{base}/login?next=/dashboard"), page.url
                await page.fill("#token", "not-a-token-we-know-at-all")
                await page.click("button[type=submit]")
                await sees(page, "That token is not accepted.")
                assert "/login" in page.url
                await page.fill("#token", READ_TOKEN)
                await page.click("button[type=submit]")
                await page.wait_for_url(dashboard)
                (cookie,) = await page.context.cookies()
                assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
                await sees(page, "Gross revenue retention (GRR)")

                await page.click('tr[data-key="escalation.beta.rescue"] a')
                await page.wait_for_url(f"{base}/accounts/beta")
                journey = page.locator('tr[data-key="journey.rescue"]')
                assert "manager" in await journey.inner_text()
                tasks = await page.locator("#tasks").inner_text()
                assert "Open (" in tasks and "Call the customer" in tasks
                assert "Manager save plan" in tasks
                assert await page.locator("ol.timeline li").count() >= 2
                assert await page.locator('ol.timeline li[data-kind="escalated"]').count() >= 1
                await page.screenshot(path=artifacts / "account-page.png", full_page=True)

                # The search box: a prefix lists accounts, an exact id opens the account.
                await page.fill('input[name="q"]', "gam")
                await page.click("nav button[type=submit]")
                await sees(page, "Accounts beginning 'gam'")
                await page.click('a[href="/accounts/gamma"]')
                await page.wait_for_url(f"{base}/accounts/gamma")
                await page.fill('input[name="q"]', "beta")
                await page.click("nav button[type=submit]")
                await page.wait_for_url(f"{base}/accounts/beta")

                run_link = await journey.locator("a.ui").get_attribute("href")
                assert run_link is not None and run_link.endswith("/history")
                await page.goto(run_link)
                await sees(page, "playbook/rescue/beta/1")
                await page.screenshot(path=artifacts / "account-run-in-temporal-ui.png")
            finally:
                await browser.close()
    finally:
        stop.set()
        await server
