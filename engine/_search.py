"""The search attributes operators filter journeys by, in the Temporal UI and CLI.

They must be registered on a namespace before any workflow upserts them (the test server
otherwise fails the workflow task forever): :func:`register` does it through the operator
service, and :data:`DEV_SERVER_ARGS` does it for the embedded dev server at start-up.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

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
)

_INDEXED = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DOUBLE": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}
_CLI_TYPE = {"KEYWORD": "Keyword", "DOUBLE": "Double", "INT": "Int", "DATETIME": "Datetime"}

DEV_SERVER_ARGS: list[str] = [
    arg
    for key in ALL
    for arg in ("--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type.name]}")
]
"""Arguments for ``temporal server start-dev`` that register every attribute."""


async def register(client: Client, namespace: str = "default") -> None:
    """Register every search attribute on ``namespace`` (already registered ones are kept)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={key.name: _INDEXED[key.indexed_value_type.name] for key in ALL},
        )
    )
