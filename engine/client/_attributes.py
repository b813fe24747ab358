"""Registering the journeys' search attributes on a namespace, before any workflow upserts them.

:func:`register` does it through the operator service (self-hosted clusters, the test
server); :data:`DEV_SERVER_ARGS` does it for the embedded dev server at start-up. The keys
themselves live with the workflows that upsert them (``engine.journeys._search``).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from engine.journeys._search import ALL

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

CACHED_ATTRIBUTES_ARGS: list[str] = [
    *("--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=false")
]
"""Arguments for a dev server whose namespace and attributes are all there at start-up (the
``playbook dev`` stack, the benchmarks): read the attributes' definitions from a cache, as a
cluster does. By default the dev server reads them from its database whenever it checks or
writes one (a start, an upsert, a visibility write), so that attributes and namespaces added
while it runs work at once: in bench.scale about 10 database reads per bare enrollment and
40 per engine enrollment, on its one SQLite file. A server that gets namespaces while it runs
(the tests' shared one) keeps that default."""


async def register(client: Client, namespace: str = "default") -> None:
    """Register every search attribute on ``namespace`` (already registered ones are kept)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={key.name: _INDEXED[key.indexed_value_type.name] for key in ALL},
        )
    )
