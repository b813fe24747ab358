"""The published catalog: which playbook versions new enrollments get.

``playbook publish`` compiles a directory and hands the result to one long-lived workflow,
``catalog/default``, so Temporal keeps the published versions (and the history of every
publish, visible in the UI) like any other journey state. Account workflows read a slim
index of it (entry rules only) through a local activity, and fetch the full plan of a
playbook only when they enroll, so running journeys keep the plan they started with and new
ones get the latest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.language._plan import (
        EntryPlan,
        HealthModelPlan,
        Plan,
        ReentryPlan,
        TriggerPlan,
        content_hash,
    )

CATALOG_WORKFLOW_ID = "catalog/default"
# Each publish carries every plan; a fresh run every so often keeps the history small.
_PUBLISHES_PER_RUN = 20


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


class Catalog(BaseModel):
    """Every published plan and the health model, as one versioned unit."""

    model_config = ConfigDict(frozen=True)

    hash: str
    published_at: datetime | None = None
    health: HealthModelPlan
    plans: dict[str, Plan] = Field(default_factory=dict)

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
            )
            for p in self.plans.values()
        ]
        # Higher priority first, then by name: the order enrollments are considered in.
        entries.sort(key=lambda e: (-e.priority, e.name))
        return CatalogIndex(hash=self.hash, health=self.health, entries=entries)


class CatalogIndex(BaseModel):
    """The slim catalog account workflows keep in their state."""

    model_config = ConfigDict(frozen=True)

    hash: str
    health: HealthModelPlan
    entries: list[EntrySummary]
    simulation: bool = False
    """A simulation's fixed set: nothing newer is published while its accounts run, so they
    need not look for one, and there is no store to record the dashboard's history in."""


def build_catalog(plans: list[Plan], health: HealthModelPlan) -> Catalog:
    """A catalog of ``plans``; its hash changes when any plan or the health model does.

    Like a plan's hash, it leaves out where the files were read from (each plan's and the
    health model's ``source``): the same set published from another directory, or by a
    relative path instead of an absolute one, is the same catalog.
    """
    draft = Catalog(hash="", health=health, plans={p.name: p for p in plans})
    where = {"health": {"source"}, "plans": {"__all__": {"source"}}}
    return draft.model_copy(update={"hash": content_hash(draft, exclude=where)})


class IndexRequest(BaseModel):
    """Ask for the catalog index unless ``known_hash`` is still current."""

    model_config = ConfigDict(frozen=True)

    known_hash: str | None = None


class PlanRequest(BaseModel):
    """Ask for the current plan of one playbook."""

    model_config = ConfigDict(frozen=True)

    name: str


@workflow.defn(name="Catalog")
class CatalogWorkflow:
    """Holds the published catalog; ``publish`` replaces it, queries read it."""

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._publishes = 0

    @workflow.run
    async def run(self, catalog: Catalog | None = None) -> None:
        if catalog is not None and self._catalog is None:
            self._catalog = catalog
        await workflow.wait_condition(
            lambda: (
                self._publishes >= _PUBLISHES_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._catalog)

    @workflow.update(name="publish")
    def publish(self, catalog: Catalog) -> str:
        """Make ``catalog`` current for new enrollments; returns what changed."""
        before: dict[str, Any] = (
            {n: p.version for n, p in self._catalog.plans.items()} if self._catalog else {}
        )
        self._catalog = catalog.model_copy(update={"published_at": workflow.now()})
        self._publishes += 1
        changed = [
            f"{n} v{p.version}" for n, p in catalog.plans.items() if before.get(n) != p.version
        ]
        return ", ".join(changed) or "no version changes"

    @workflow.query(name="current")
    def current(self) -> Catalog | None:
        """The published catalog, or None before the first publish."""
        return self._catalog

    @workflow.query(name="hash")
    def published_hash(self) -> str | None:
        """The published catalog's hash, or None before the first publish: what an account
        checks every few minutes, a few bytes where ``current`` is every plan."""
        return self._catalog.hash if self._catalog else None
