"""Prometheus metrics: the engine's own counts beside the Temporal SDK's, on one page.

Operators need two kinds of numbers. The SDK's Rust core measures Temporal's side (workflow
task latency, activity failures, schedule-to-start backlog, poller and slot counts) and serves
them itself once its runtime is given a Prometheus address; :func:`serve_sdk_metrics` puts it
on a loopback port and :func:`exposition` appends its page to ours, so each process has one
``/metrics`` (the worker's endpoint, ``workers/probe.py``, and the API's route). The engine's
own counts (actions sent, failed and deferred, escalations by tier, journeys ended, events
accepted) are kept here with ``prometheus-client``.

Every count is made in an activity or the API, never in workflow code: a workflow replays its
history on every worker that picks it up, so a counter there would count again on each replay
(and workflow code must not touch the process). Decisions and journey endings are counted when
the store records them for the first time, so an activity retried after a crash counts once.
docs/metrics.md lists every metric.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import httpx
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.journeys._messages import DecisionRecord, JourneyRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
KINDS = ("email", "task", "chat", "webhook")
"""The action kinds ``perform_action`` carries out (a step's or an escalation tier's channel)."""
OUTCOMES = ("sent", "failed", "deferred")
"""sent: done (or found done by a retry); failed: refused for good, the step records why;
deferred: failed for now, Temporal tries again after the retry pause."""
# Actions wait on SMTP servers, webhooks and the store: from milliseconds to the timeout.
_ACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_ESCALATED = "escalated"
_TIER_RULE = "escalation.tiers."


class EngineMetrics:
    """The engine's counters and histograms, in ``registry`` (the process's by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        r = self.registry
        self.actions = Counter(
            "playbook_actions",
            "Actions carried out by the worker, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.action_seconds = Histogram(
            "playbook_action_duration_seconds",
            "Time one attempt of an action took, by kind.",
            ["kind"],
            buckets=_ACTION_BUCKETS,
            registry=r,
        )
        self.escalations = Counter(
            "playbook_escalations",
            "Escalation tiers engaged, by tier id.",
            ["tier"],
            registry=r,
        )
        self.decisions = Counter(
            "playbook_decisions",
            "Decisions recorded in the decision log for the first time, by kind.",
            ["kind"],
            registry=r,
        )
        self.journeys_ended = Counter(
            "playbook_journeys_ended",
            "Playbook runs that ended, by playbook and outcome.",
            ["playbook", "outcome"],
            registry=r,
        )
        self.tasks_closed = Counter(
            "playbook_tasks_closed",
            "Open tasks closed because a run or its ladder ended, by scope.",
            ["scope"],
            registry=r,
        )
        self.api_events = Counter(
            "playbook_api_events",
            "Events the HTTP API took, by outcome: accepted (202), failed (503, Temporal away).",
            ["outcome"],
            registry=r,
        )
        self.api_refused = Counter(
            "playbook_api_refused_requests",
            "Requests to the HTTP API's event routes refused with 422 (nothing of them sent).",
            registry=r,
        )
        # Known label values start at 0, so a rate() works from the first scrape.
        for kind in KINDS:
            self.action_seconds.labels(kind)
            for outcome in OUTCOMES:
                self.actions.labels(kind, outcome)
        for scope in ("run", "ladder"):
            self.tasks_closed.labels(scope)
        for outcome in ("accepted", "failed"):
            self.api_events.labels(outcome)

    def recorded(self, new: Iterable[DecisionRecord | JourneyRecord]) -> None:
        """Count what the store has just recorded for the first time."""
        for item in new:
            if isinstance(item, JourneyRecord):
                self.journeys_ended.labels(item.playbook, item.outcome).inc()
                continue
            decision = item.decision
            self.decisions.labels(decision.kind).inc()
            if decision.kind == _ESCALATED and decision.rule.startswith(_TIER_RULE):
                self.escalations.labels(decision.rule.removeprefix(_TIER_RULE)).inc()


METRICS = EngineMetrics()
"""The process's metrics, shown by ``playbook worker``'s and ``playbook api``'s /metrics."""

_sdk_url: str | None = None


def serve_sdk_metrics() -> str:
    """Have the Temporal SDK's runtime serve its metrics on a free loopback port; returns the
    page's URL. Call it first, before any Temporal client is made in the process."""
    from engine.client._connect import quiet_core_logs

    global _sdk_url
    port = free_port()
    quiet_core_logs(prometheus=f"127.0.0.1:{port}")
    _sdk_url = f"http://127.0.0.1:{port}/metrics"
    return _sdk_url


def sdk_url() -> str | None:
    """Where the SDK's metrics of this process are served, if :func:`serve_sdk_metrics` ran."""
    return _sdk_url


async def exposition(registry: CollectorRegistry, sdk: str | None) -> bytes:
    """The text exposition of ``registry``, followed by the SDK's page at ``sdk`` if given (the
    names do not clash: the SDK's start with ``temporal_``, ours with ``playbook_``)."""
    page = generate_latest(registry)
    if sdk is None:
        return page
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(sdk)
            answer.raise_for_status()
    except httpx.HTTPError as error:
        # The engine's numbers are still worth a scrape; the gap shows in the SDK's series.
        return page + f"# the Temporal SDK's metrics were not available: {error}\n".encode()
    return page + answer.content


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
