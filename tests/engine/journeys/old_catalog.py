"""The catalog workflow as a worker from before the hash memo (HASH_MEMO) runs it, for the
tests of what such a worker does: in a module of its own, so the sandbox that validates it
imports nothing else."""

from __future__ import annotations

from temporalio import workflow

from engine.journeys._catalog import Catalog, CatalogWorkflow


@workflow.defn(name="Catalog")
class MemolessCatalog(CatalogWorkflow):
    """Publishes as the catalog does, without keeping the hash in its memo."""

    @workflow.run
    async def run(self, catalog: Catalog | None = None) -> None:
        await super().run(catalog)

    def _keep_hash(self) -> None:
        pass
