"""The search attributes operators filter journeys by, in the Temporal UI and CLI.

The workflows upsert these keys; they must be registered on a namespace first (the test
server otherwise fails the workflow task forever), which ``engine.client._attributes`` does.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
HEALTH_SCORE = SearchAttributeKey.for_float("HealthScore")
HEALTH_TIER = SearchAttributeKey.for_keyword("HealthTier")
HEALTH_TREND = SearchAttributeKey.for_keyword("HealthTrend")
SEGMENT = SearchAttributeKey.for_keyword("Segment")
OWNER = SearchAttributeKey.for_keyword("Owner")
RENEWAL_DATE = SearchAttributeKey.for_datetime("RenewalDate")
PLAYBOOK = SearchAttributeKey.for_keyword("Playbook")
PLAYBOOK_VERSION = SearchAttributeKey.for_int("PlaybookVersion")
STEP = SearchAttributeKey.for_keyword("Step")
ESCALATION_TIER = SearchAttributeKey.for_keyword("EscalationTier")
EXPERIMENT_ARM = SearchAttributeKey.for_keyword("ExperimentArm")
"""``experiment:arm`` of a run whose playbook declares an experiment (engine.journeys._arms)."""

ALL: tuple[SearchAttributeKey[Any], ...] = (
    ACCOUNT_ID,
    HEALTH_SCORE,
    HEALTH_TIER,
    HEALTH_TREND,
    SEGMENT,
    OWNER,
    RENEWAL_DATE,
    PLAYBOOK,
    PLAYBOOK_VERSION,
    STEP,
    ESCALATION_TIER,
    EXPERIMENT_ARM,
)


def run_attributes(account_id: str, playbook: str, version: int) -> list[SearchAttributePair[Any]]:
    """What a run is found by for its whole life: its account, playbook and version."""
    return [
        SearchAttributePair(ACCOUNT_ID, account_id),
        SearchAttributePair(PLAYBOOK, playbook),
        SearchAttributePair(PLAYBOOK_VERSION, version),
    ]


def not_yet_set(
    pairs: list[SearchAttributePair[Any]], present: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """The upserts ``pairs`` still need when ``present`` are a workflow's attributes: none for
    a run its account started with them, all of them for one started before it did."""
    return [pair.key.value_set(pair.value) for pair in pairs if present.get(pair.key) != pair.value]
