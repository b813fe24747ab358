"""Recorded journeys replay against the current workflow code (issue 4).

A worker that picks up a running journey replays its history through the code it has now; if
that code issues different commands, the journey fails with a nondeterminism error. Replaying
the histories in tests/histories/ (recorded by ``python -m tests.histories.record``) makes
such a change fail the build instead. The last test shows the check can fail at all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker import Replayer, WorkflowReplayResult

from engine.client._converter import DATA_CONVERTER
from engine.journeys import _plan_cache
from engine.journeys._catalog import CatalogWorkflow
from engine.journeys._messages import RunInput, RunResult
from engine.journeys._run import PlaybookRunWorkflow
from tests.engine.journeys.old_catalog import MemolessCatalog
from workers.sandbox import workflow_runner
from workers.worker import WORKFLOWS

# The sandbox re-imports this module to run the changed workflow below; the history helpers
# read files at import and stay outside it.
with workflow.unsafe.imports_passed_through():
    from tests.histories import HERE, load_history, recorded


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per recorded history, so a failure names the journey.

    Listed at collection rather than at import: the sandbox imports this module too.
    """
    if "history" in metafunc.fixturenames:
        paths = recorded()
        metafunc.parametrize("history", paths, ids=[p.stem for p in paths])


async def replay(path: Path, workflows: list[type]) -> WorkflowReplayResult:
    """Replay one recorded history as a worker would resume it: in the worker's sandbox,
    pydantic payloads, and as a worker that just started, holding no plan in memory
    (a replay must not need one: engine.journeys._plan_cache)."""
    _plan_cache.forget()
    replayer = Replayer(
        workflows=workflows,
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(DATA_CONVERTER),
    )
    return await replayer.replay_workflow(load_history(path))


def test_histories_are_recorded() -> None:
    """An empty directory must fail: the parametrized test below would silently skip."""
    assert recorded(), f"no recorded histories in {HERE}; run `python -m tests.histories.record`"


async def test_recorded_journey_replays(history: Path) -> None:
    """The current code makes the same decisions the recorded journey made."""
    await replay(history, WORKFLOWS)


@workflow.defn(name="PlaybookRun")
class TimerFirstPlaybookRun(PlaybookRunWorkflow):
    """PlaybookRun with one change a developer might make: a pause before the run starts.

    Harmless for new runs, fatal for running ones: their histories begin with a search
    attribute upsert where this code now starts a timer.
    """

    @workflow.run
    async def run(self, input: RunInput) -> RunResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


async def test_a_changed_workflow_fails_replay() -> None:
    """The guard can fail: a reordered command is reported as nondeterminism."""
    with pytest.raises(workflow.NondeterminismError):
        await replay(HERE / "onboarding_run.json", [TimerFirstPlaybookRun])


async def test_a_worker_without_the_memo_cannot_publish_where_it_was_kept() -> None:
    """The memo is exact: a worker that does not write it fails to replay a catalog run that
    did, so it never publishes there and leaves an older hash in the memo."""
    with pytest.raises(workflow.NondeterminismError):
        await replay(HERE / "catalog_hash_memo.json", [MemolessCatalog])
    with pytest.raises(workflow.NondeterminismError):
        await replay(HERE / "catalog_hash_memo_continued.json", [MemolessCatalog])
    # Runs it never wrote replay on either worker.
    await replay(HERE / "catalog_announces.json", [MemolessCatalog])
    await replay(HERE / "catalog_announces.json", [CatalogWorkflow])
