"""The worker's /metrics, /healthz and /readyz on the dev server, after a real journey.

One journey with the real action activities (aiosmtpd that defers the first email, a webhook
server that refuses, a SQLite store) files a task, sends an email on its second try, has its
webhook refused for good, engages a ladder tier and reaches its goal. The worker's endpoint then
shows exactly those counts, beside the Temporal SDK's own metrics for the same task queue.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._converter import DATA_CONVERTER
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent
from tests.support import Recorder, ServedApi, eventually, fresh_namespace, serving_api
from tests.workers.test_email import Mailbox, smtp_server
from tests.workers.test_outbound import serve
from workers import history
from workers.activities import Actions
from workers.backoff import RetrySettings
from workers.directory import Directory
from workers.metrics import EngineMetrics, free_port
from workers.outbound import OutboundSettings
from workers.probe import bind, probe_app, readiness, serve_probe
from workers.settings import ApiSettings
from workers.store import open_store
from workers.worker import build_worker

TOKEN = "t0k3n-" + "m" * 20
FIXTURES = Path(__file__).parents[1] / "fixtures"
PLAYBOOK = """
kind: Playbook
name: metered
version: 1
description: One of each action, a ladder tier, and a goal the test confirms.
owner: cs-ops@example.com
stage: retain
entry:
  when: {{field: health.tier, in: [critical]}}
goal:
  event: save.confirmed
steps:
  - {{id: call, type: task, title: Call them, assignee: csm, due: 2d}}
  - {{id: hello, type: email, template: welcome, to: [customer]}}
  - {{id: crm, type: webhook, url: "{webhook}"}}
  - {{id: hold, type: wait, for: 60d}}
escalation:
  when: {{field: health.tier, in: [critical]}}
  tiers:
    - {{id: csm, notify: [csm], via: [task], title: Action plan}}
"""


class DefersOnce(Mailbox):
    """Answers the first message with 451 (try again later), then accepts."""

    deferred = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.deferred:
            self.deferred = True
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
async def metered_client(dev_env: WorkflowEnvironment) -> AsyncIterator[tuple[Client, str]]:
    """A client in a fresh namespace whose own SDK runtime serves Prometheus metrics."""
    plain = await fresh_namespace(dev_env)
    await register(plain, plain.namespace)
    port = free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}", durations_as_seconds=True)
        )
    )
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=plain.namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )
    yield client, f"http://127.0.0.1:{port}/metrics"


def _samples(page: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_the_worker_endpoint_counts_a_journey_and_shows_the_sdk_metrics(
    metered_client: tuple[Client, str], tmp_path: Path
) -> None:
    client, sdk_page = metered_client
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    mailbox = DefersOnce()
    metrics = EngineMetrics(CollectorRegistry())  # this test's counts alone
    database = f"sqlite:///{tmp_path / 'playbook.db'}"
    with smtp_server(mailbox) as smtp, serve() as webhooks:
        playbooks = tmp_path / "playbooks"
        (playbooks / "templates").mkdir(parents=True)
        shutil.copy(FIXTURES / "ladder" / "health.yaml", playbooks / "health.yaml")
        shutil.copy(FIXTURES / "ladder" / "templates" / "welcome.yaml", playbooks / "templates")
        (playbooks / "metered.yaml").write_text(
            PLAYBOOK.format(webhook=webhooks.url("/status/400"))
        )
        shipped = load([playbooks])
        catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
        actions = Actions(
            store=open_store(database),
            directory=Directory.load(None),
            smtp=smtp,
            outbound=OutboundSettings.from_env(
                {"PLAYBOOK_OUTBOUND_ALLOW": "127.0.0.1", "PLAYBOOK_WEBHOOK_SECRET": "s" * 32}
            ),
            retry=RetrySettings(initial=0.1, maximum=0.1),
            metrics=metrics,
        )
        worker = build_worker(client, queue, actions.activities())
        assert await readiness(client, worker) == "the worker is not running"
        sock = bind("127.0.0.1", 0)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        stop = asyncio.Event()
        probe = asyncio.create_task(
            serve_probe(probe_app(client, worker, metrics, sdk_page), sock, stop)
        )
        store = open_store(database)
        try:  # the goal's event is sent only once every action is done, so the counts are exact
            async with worker, httpx.AsyncClient(base_url=base, timeout=10) as http:

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await eventually(ready, "the worker is seen polling its task queue")
                assert (await http.get("/healthz")).json() == {"status": "ok"}

                await publish(client, catalog, queue)
                attributes = {
                    "name": "Acme",
                    "segment": "enterprise",
                    "owner": "sam@cs.example",
                    "contact_email": "dana@acme.example",
                }
                await send(client, account, AttributeChange(set=attributes), queue)
                await send(client, account, HealthEvent(score=30), queue)

                async def acted() -> bool:
                    tasks = store.list_tasks(account=account)
                    return (
                        len(tasks) == 2
                        and len(mailbox.messages()) == 1
                        and webhooks.paths() == ["/status/400"]
                    )

                await eventually(acted, "the task, the ladder's task, the email and the webhook")
                await send(client, account, AccountEvent(name="save.confirmed"), queue)

                async def ended() -> bool:
                    return bool(
                        await asyncio.to_thread(
                            history.journeys,
                            store,
                            *_all_time(),
                        )
                    )

                await eventually(ended, "the journey's end is recorded")
                page = (await http.get("/metrics")).text
        finally:
            stop.set()
            await probe
            store.close()
            await actions.aclose()

    samples = _samples(page)
    actions_total = "playbook_actions_total"
    assert _value(samples, actions_total, kind="task", outcome="sent") == 2  # step and ladder
    assert _value(samples, actions_total, kind="email", outcome="deferred") == 1
    assert _value(samples, actions_total, kind="email", outcome="sent") == 1
    assert _value(samples, actions_total, kind="webhook", outcome="failed") == 1
    assert _value(samples, actions_total, kind="webhook", outcome="sent") == 0
    assert _value(samples, actions_total, kind="chat", outcome="sent") == 0
    assert _value(samples, "playbook_action_duration_seconds_count", kind="email") == 2
    assert _value(samples, "playbook_escalations_total", tier="csm") == 1
    assert (
        _value(samples, "playbook_journeys_ended_total", playbook="metered", outcome="success") == 1
    )
    assert _value(samples, "playbook_decisions_total", kind="escalated") == 1
    assert _value(samples, "playbook_decisions_total", kind="action_failed") == 1
    assert _value(samples, "playbook_decisions_total", kind="goal") == 1
    # The goal closes what the run opened, its ladder's task included.
    closed = _value(samples, "playbook_tasks_closed_total", scope="run") + _value(
        samples, "playbook_tasks_closed_total", scope="ladder"
    )
    assert closed == 2
    # The SDK's own series, for this worker's task queue, on the same page.
    sdk = {name for name, labels in samples if ("task_queue", queue) in labels}
    assert "temporal_worker_task_slots_available" in sdk
    assert "temporal_activity_execution_latency_count" in sdk


def _all_time() -> tuple[Any, Any]:
    from datetime import UTC, datetime

    return datetime(1970, 1, 1, tzinfo=UTC), datetime(2999, 1, 1, tzinfo=UTC)


@pytest.fixture
async def api(dev_env: WorkflowEnvironment) -> AsyncIterator[ServedApi]:
    settings = ApiSettings(tokens=(SecretStr(TOKEN),))
    async with serving_api(dev_env, settings, Recorder().activities()) as served:
        yield served


async def test_the_api_counts_events_accepted_and_requests_refused(api: ServedApi) -> None:
    """/metrics needs no credentials; a batch of two events accepted counts 2 events, and each
    request refused with a 422 counts once: a batch with a bad account id, an event for an
    account id the engine refuses, a body that is not an event."""

    async def counts() -> dict[str, float]:
        page = await api.http.get("/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain")
        samples = _samples(page.text)
        return {
            "accepted": _value(samples, "playbook_api_events_total", outcome="accepted"),
            "failed": _value(samples, "playbook_api_events_total", outcome="failed"),
            "refused": _value(samples, "playbook_api_refused_requests_total"),
        }

    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = await counts()
    batch = {"events": [{"account": api.account(), "score": 40} for _ in range(2)]}
    assert (await api.http.post("/v1/events", json=batch, headers=auth)).status_code == 202
    batch["events"][1]["account"] = "a\x01b"
    assert (await api.http.post("/v1/events", json=batch, headers=auth)).status_code == 422
    for path, body in [
        ("/v1/accounts/x%20y/events", b'{"score": 40}'),
        (f"/v1/accounts/{api.account()}/events", b"{"),
    ]:
        refused = await api.http.post(path, content=body, headers=auth)
        assert refused.status_code == 422, refused.text
    after = await counts()
    assert {k: after[k] - before[k] for k in after} == {"accepted": 2, "refused": 3, "failed": 0}
