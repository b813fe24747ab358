"""The names operators type (playbooks, health tiers, segments, escalation tiers), checked
against the published catalog.

A filter or command naming something that does not exist would otherwise match nothing and
look like a true "no accounts match" or "nothing to do"; a typo must be told apart from that.
"""

from __future__ import annotations

from typing import Literal

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine.journeys._catalog import CATALOG_WORKFLOW_ID, Catalog, CatalogWorkflow
from engine.language._diagnose import suggest
from engine.language._errors import PlaybookError

Kind = Literal["playbook", "tier", "segment", "escalation tier"]


class UnknownName(PlaybookError):
    """A name the published catalog does not have; the message lists the ones it has."""


async def published(client: Client) -> Catalog | None:
    """The published catalog, or None before the first ``playbook publish``."""
    try:
        catalog: Catalog | None = await client.get_workflow_handle(CATALOG_WORKFLOW_ID).query(
            CatalogWorkflow.current
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise PlaybookError(f"{CATALOG_WORKFLOW_ID}: {error.message}") from None
    return catalog


def known(catalog: Catalog, kind: Kind) -> list[str]:
    """Every name of ``kind`` the catalog defines."""
    if kind == "playbook":
        return sorted(catalog.plans)
    if kind == "tier":
        return [band.name for band in catalog.health.tiers]
    if kind == "segment":
        return list(catalog.health.segments)
    return sorted(
        {
            tier.id
            for plan in catalog.plans.values()
            if plan.escalation is not None
            for tier in plan.escalation.tiers
        }
    )


def unknown(kind: Kind, name: str, names: list[str]) -> UnknownName:
    """The one-line refusal of ``name``, with a close match and the names there are."""
    hint = suggest(name, names)
    have = f"the published catalog has {', '.join(names)}" if names else "none is published"
    return UnknownName(f"unknown {kind} {name!r}{f' ({hint})' if hint else ''}: {have}")


async def check(client: Client, given: dict[Kind, str | None]) -> None:
    """Refuse the first given name the published catalog does not define (nothing to check
    against before a catalog is published)."""
    if not any(given.values()):
        return
    catalog = await published(client)
    if catalog is None:
        return
    for kind, name in given.items():
        if name and name not in (names := known(catalog, kind)):
            raise unknown(kind, name, names)
