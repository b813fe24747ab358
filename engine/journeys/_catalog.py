"""The published catalog: which playbook versions new enrollments get.

``playbook publish`` compiles a directory and hands the result to one long-lived workflow,
``catalog/default``, so Temporal keeps the published versions (and the history of every
publish, visible in the UI) like any other journey state. Account workflows read a slim
index of it (entry rules only) through a local activity, and fetch the full plan of a
playbook only when they enroll, so running journeys keep the plan they started with and new
ones get the latest.

A publish is announced: the catalog workflow has an activity signal every running account
the new hash, and an account reads the index again only then (and once when each of its
runs starts). Before, every account asked on its events whether a newer set was out, at
most every five minutes: with a daily reading per account, that was a query to this one
workflow and a local activity for every reading.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from engine.language._calendar import CalendarPlan
    from engine.language._plan import (
        ContactPolicyPlan,
        EntryPlan,
        HealthModelPlan,
        Plan,
        ReentryPlan,
        TriggerPlan,
        content_hash,
        omit_absent,
    )
    from engine.language._plan_reads import health_reads, health_wakes, history_windows

CATALOG_WORKFLOW_ID = "catalog/default"
# Each publish carries every plan; a fresh run every so often keeps the history small.
_PUBLISHES_PER_RUN = 20
ANNOUNCE = "announce-publishes"
"""workflow.patched id: each publish is announced to the running accounts (announce_catalog);
catalogs that ran before announced nothing, their accounts asked on their events."""
HASH_MEMO = "catalog-hash-memo"
"""workflow.patched id: the catalog keeps the published hash in its memo (MEMO_HASH), which a
worker reads with a describe, from the server alone; before, every check was a query, a
round trip through a worker holding this workflow."""
MEMO_HASH = "hash"
"""The memo field with the published catalog's hash (absent before the first publish, and in
runs from before HASH_MEMO: a reader then queries ``hash``)."""
CATALOG_SIGNAL = "catalog_published"
"""The signal an announcement sends each running account (a CatalogNotice)."""
# Signalling a book of accounts takes minutes; the heartbeat says it is still going.
_ANNOUNCE_TIMEOUT = timedelta(hours=2)
_ANNOUNCE_HEARTBEAT = timedelta(minutes=2)
_ANNOUNCE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=20)


class EntrySummary(BaseModel):
    """What an account workflow needs to decide whether to enroll: no steps, no templates."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    hash: str
    segments: list[str]
    priority: int
    suppresses: list[str]
    entry: EntryPlan
    reentry: ReentryPlan
    goal: TriggerPlan | None = None
    windows: dict[str, int] | None = None
    """What a run of the plan reads of the account (``history_windows``, ``health_reads``),
    for the account to keep as it enrolls without the plan at hand when it replays
    (engine.journeys._plan_cache). None in an index read before they were listed: the
    account then enrolls through the ``resolve_plan`` local activity, as it did."""
    reads: list[str] | None = None
    wakes: list[str] | None = None
    """The health values its runs' decisions read (``health_wakes``): what wakes a run of an
    account that enrolls by them (DECISION_WAKES). None in an index read before they were
    listed: its enrollments are woken by all they read."""


class Catalog(BaseModel):
    """Every published plan and the health model, as one versioned unit."""

    model_config = ConfigDict(frozen=True)

    hash: str
    published_at: datetime | None = None
    health: HealthModelPlan
    plans: dict[str, Plan] = Field(default_factory=dict)
    contacts: ContactPolicyPlan | None = None
    """The set's caps on contacting customers (engine.language._contact), if it has them."""

    @model_serializer(mode="wrap")
    def _without_unset_contacts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A set without a contact policy keeps the catalog hash it had before policies.
        return omit_absent(handler(self), contacts=None)

    def index(self) -> CatalogIndex:
        entries = [
            EntrySummary(
                name=p.name,
                version=p.version,
                hash=p.hash,
                segments=p.segments,
                priority=p.priority,
                suppresses=p.suppresses,
                entry=p.entry,
                reentry=p.reentry,
                goal=p.goal,
                windows=history_windows(p),
                reads=health_reads(p),
                wakes=health_wakes(p),
            )
            for p in self.plans.values()
        ]
        # Higher priority first, then by name: the order enrollments are considered in.
        entries.sort(key=lambda e: (-e.priority, e.name))
        # Every plan carries the set's calendars; the index needs only whom each serves and
        # its zone (entry dates and day counts), not the holidays.
        first = next(iter(self.plans.values()), None)
        calendars = {
            name: calendar.model_copy(update={"holidays": []})
            for name, calendar in (first.calendars if first else {}).items()
        }
        return CatalogIndex(
            hash=self.hash,
            health=self.health,
            entries=entries,
            calendars=calendars,
            contacts=self.contacts,
        )


class CatalogIndex(BaseModel):
    """The slim catalog account workflows keep in their state."""

    model_config = ConfigDict(frozen=True)

    hash: str
    health: HealthModelPlan
    entries: list[EntrySummary]
    calendars: dict[str, CalendarPlan] = Field(default_factory=dict)
    """The set's calendars without their holidays: the account's zone."""
    simulation: bool = False
    """A simulation's fixed set: nothing newer is published while its accounts run, so they
    need not look for one, and there is no store to record the dashboard's history in."""
    contacts: ContactPolicyPlan | None = None
    """The contact policy the account applies to its journeys' customer messages."""

    @model_serializer(mode="wrap")
    def _without_unset_contacts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), contacts=None)


def build_catalog(
    plans: list[Plan], health: HealthModelPlan, contacts: ContactPolicyPlan | None = None
) -> Catalog:
    """A catalog of ``plans`` (and the set's contact policy); its hash changes when any plan,
    the health model or the policy does.

    Like a plan's hash, it leaves out where the files were read from (each plan's and the
    health model's ``source``): the same set published from another directory, or by a
    relative path instead of an absolute one, is the same catalog.
    """
    draft = Catalog(hash="", health=health, plans={p.name: p for p in plans}, contacts=contacts)
    where = {"health": {"source"}, "plans": {"__all__": {"source"}}}
    return draft.model_copy(update={"hash": content_hash(draft, exclude=where)})


class IndexRequest(BaseModel):
    """Ask for the catalog index unless ``known_hash`` is still current."""

    model_config = ConfigDict(frozen=True)

    known_hash: str | None = None
    announced_hash: str | None = None
    """The hash a publish announced: a worker that already read that catalog answers from
    memory, so an announcement to every account does not query the catalog once per account."""

    @model_serializer(mode="wrap")
    def _without_unset_announcement(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Requests from before announcements read as they were recorded.
        return omit_absent(handler(self), announced_hash=None)


class CatalogNotice(BaseModel):
    """A publish, as announced to each running account: the hash now current."""

    model_config = ConfigDict(frozen=True)

    hash: str


class PlanRequest(BaseModel):
    """Ask for the plan of one playbook in the catalog the account decided from."""

    model_config = ConfigDict(frozen=True)

    name: str
    catalog_hash: str | None = None
    """The hash of the account's catalog index: a worker that read that catalog answers
    from memory (no query per enrollment); None, or a catalog it has not read, asks for the
    current one."""

    @model_serializer(mode="wrap")
    def _without_unset_catalog(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Requests from before read as they were recorded.
        return omit_absent(handler(self), catalog_hash=None)


@workflow.defn(name="Catalog")
class CatalogWorkflow:
    """Holds the published catalog; ``publish`` replaces it, queries read it."""

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._publishes = 0
        self._unannounced: str | None = None
        """The hash of a publish not yet announced to the accounts."""

    @workflow.run
    async def run(self, catalog: Catalog | None = None) -> None:
        if catalog is not None and self._catalog is None:
            self._catalog = catalog
        if self._catalog is not None:
            self._keep_hash()
        while True:
            await workflow.wait_condition(
                lambda: self._unannounced is not None or self._time_to_continue()
            )
            if self._unannounced is not None:
                await self._announce(self._unannounced)
                continue
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._unannounced is None:
                workflow.continue_as_new(self._catalog)

    def _time_to_continue(self) -> bool:
        return (
            self._publishes >= _PUBLISHES_PER_RUN or workflow.info().is_continue_as_new_suggested()
        )

    async def _announce(self, published: str) -> None:
        """Tell every running account of the publish; a newer one meanwhile goes next."""
        if workflow.patched(ANNOUNCE):
            try:
                await workflow.execute_activity(
                    "announce_catalog",
                    CatalogNotice(hash=published),
                    summary=f"announce {published[:19]}... to the running accounts",
                    start_to_close_timeout=_ANNOUNCE_TIMEOUT,
                    heartbeat_timeout=_ANNOUNCE_HEARTBEAT,
                    retry_policy=_ANNOUNCE_RETRY,
                )
            except ActivityError as error:
                # The set is published all the same: each account reads it when its next run
                # starts. Said in the worker's log and in this workflow's history.
                workflow.logger.warning(
                    "catalog %s not announced: %s", published, error.cause or error
                )
        if self._unannounced == published:
            self._unannounced = None

    @workflow.update(name="publish")
    def publish(self, catalog: Catalog) -> str:
        """Make ``catalog`` current for new enrollments; returns what changed."""
        before: dict[str, Any] = (
            {n: p.version for n, p in self._catalog.plans.items()} if self._catalog else {}
        )
        self._catalog = catalog.model_copy(update={"published_at": workflow.now()})
        self._keep_hash()
        self._publishes += 1
        self._unannounced = catalog.hash
        changed = [
            f"{n} v{p.version}" for n, p in catalog.plans.items() if before.get(n) != p.version
        ]
        return ", ".join(changed) or "no version changes"

    def _keep_hash(self) -> None:
        """The published hash into the memo, written by the task that publishes it (and by
        a continued run's first: continue-as-new copies the memo the first run started with).

        Exact, not a cache: only code that knows HASH_MEMO writes the memo, and once it has in
        a run, a worker without it cannot replay that run to publish there (the memo's event
        has no command in its code), so no publish in a run leaves the memo behind."""
        assert self._catalog is not None
        if workflow.patched(HASH_MEMO):
            workflow.upsert_memo({MEMO_HASH: self._catalog.hash})

    @workflow.query(name="current")
    def current(self) -> Catalog | None:
        """The published catalog, or None before the first publish."""
        return self._catalog

    @workflow.query(name="hash")
    def published_hash(self) -> str | None:
        """The published catalog's hash, or None before the first publish: what a worker
        asks when an account reads the catalog, a few bytes where ``current`` is every plan."""
        return self._catalog.hash if self._catalog else None
