"""workers.sandbox: the worker's sandbox without the per-payload context detour, and still a
sandbox."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Sequence
from importlib import _bootstrap_external  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import pytest
import temporalio.workflow
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowFailureError
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _fake_info

from engine.client._converter import DATA_CONVERTER
from tests.workers.sandboxed import Echo, ReadsTheClock
from workers.sandbox import context_free, workflow_runner
from workers.worker import WORKFLOWS


class _ContextCodec(PayloadCodec, WithSerializationContext):
    """A codec that wants to know which workflow a payload belongs to."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.context = context

    def with_context(self, context: SerializationContext) -> _ContextCodec:
        return _ContextCodec(context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_the_engine_converter_takes_no_context() -> None:
    """The engine's converter is context-free, so its worker gets the lighter sandbox."""
    assert context_free(DATA_CONVERTER)
    assert type(workflow_runner(DATA_CONVERTER)) is not SandboxedWorkflowRunner
    assert isinstance(workflow_runner(DATA_CONVERTER), SandboxedWorkflowRunner)


def test_a_converter_that_takes_context_gets_the_stock_sandbox() -> None:
    """A codec that reads the serialization context keeps the SDK's sandbox, context and all."""
    converter = DataConverter(payload_codec=_ContextCodec())
    assert not context_free(converter)
    assert type(workflow_runner(converter)) is not type(workflow_runner(DATA_CONVERTER))
    assert isinstance(workflow_runner(converter), SandboxedWorkflowRunner)


async def _run(env: WorkflowEnvironment, workflow: Any, *args: Any, **worker: Any) -> Any:
    queue = f"q-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[workflow],
        workflow_runner=workflow_runner(env.client.data_converter),
        **worker,
    ):
        return await env.client.execute_workflow(
            workflow.run, *args, id=f"wf-{uuid.uuid4()}", task_queue=queue
        )


async def test_payloads_still_convert(skipping_env: WorkflowEnvironment) -> None:
    """Arguments and results go through the converter as in the stock sandbox."""
    assert await _run(skipping_env, Echo, {"a": 1}) == {"a": 2}


async def test_the_sandbox_still_refuses_the_clock(skipping_env: WorkflowEnvironment) -> None:
    """Workflow code that reads the wall clock fails: the restrictions are the stock ones."""
    with pytest.raises(WorkflowFailureError) as failure:
        await _run(skipping_env, ReadsTheClock, workflow_failure_exception_types=[Exception])
    assert "RestrictedWorkflowAccessError" in str(failure.value.cause)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.__name__)
async def test_a_new_instance_executes_only_the_workflow_module(
    workflow: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new sandbox instance (a run's first task, a replay after a cache eviction) executes
    the workflow's own module and its packages again, and nothing else: every helper and
    library it imports is passed through, not executed once more per instance."""
    executed: list[str] = []
    real = _bootstrap_external._LoaderBasics.exec_module

    def exec_module(loader: Any, module: Any) -> None:
        executed.append(module.__name__)
        real(loader, module)

    runner = workflow_runner(DATA_CONVERTER)
    definition = temporalio.workflow._Definition.must_from_class(workflow)
    monkeypatch.setattr(_bootstrap_external._LoaderBasics, "exec_module", exec_module)
    runner.prepare_workflow(definition)
    module = workflow.__module__
    packages = {module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)}
    assert set(executed) == {module, *packages}


def _details(definition: Any) -> WorkflowInstanceDetails:
    """Instance details as the SDK's own validation of a definition makes them."""
    return WorkflowInstanceDetails(
        payload_converter_factory=DataConverter.default._new_payload_converter,
        failure_converter_class=DataConverter.default.failure_converter_class,
        interceptor_classes=[],
        defn=definition,
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


_WORKFLOW_SOURCE = (
    "from temporalio import workflow\n\n"
    "@workflow.defn(name='Edited')\n"
    "class Edited:\n"
    "    VERSION = {version!r}\n\n"
    "    @workflow.run\n"
    "    async def run(self) -> str:\n"
    "        return self.VERSION\n"
)


@pytest.fixture
def workflow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workflow module of its own on the import path, with no bytecode cache written, as
    under PYTHONDONTWRITEBYTECODE."""
    source = tmp_path / f"edited_{uuid.uuid4().hex}.py"
    source.write_text(_WORKFLOW_SOURCE.format(version="one"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return source


def _definition(source: Path) -> Any:
    module = importlib.import_module(source.stem)
    return temporalio.workflow._Definition.must_from_class(module.Edited)


@pytest.mark.parametrize(
    "converter",
    [DATA_CONVERTER, DataConverter(payload_codec=_ContextCodec())],
    ids=["context-free", "stock"],
)
async def test_a_new_instance_does_not_compile_its_module_again(
    converter: DataConverter, workflow_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox executes the workflow module afresh for every instance, but compiles its
    source once: with no bytecode cache every instance compiled it again (about 5 ms of a
    run's first task for engine.journeys._run)."""
    definition = _definition(workflow_file)
    compiled: list[str] = []
    real = _bootstrap_external.SourceLoader.source_to_code

    def source_to_code(loader: Any, data: Any, path: Any, **kwargs: Any) -> Any:
        compiled.append(str(path))
        return real(loader, data, path, **kwargs)

    monkeypatch.setattr(_bootstrap_external.SourceLoader, "source_to_code", source_to_code)
    runner = workflow_runner(converter)
    for _ in range(3):
        runner.create_instance(_details(definition))
    assert compiled.count(str(workflow_file)) == 1


async def test_a_changed_module_is_compiled_again(workflow_file: Path) -> None:
    """Code is shared per version of the file: a workflow module edited on disk runs its new
    code in the next instance, as with the stock sandbox."""
    definition = _definition(workflow_file)
    runner = workflow_runner(DATA_CONVERTER)
    seen = []
    for version in ("one", "version two"):  # sizes differ: a version is (mtime, size)
        workflow_file.write_text(_WORKFLOW_SOURCE.format(version=version))
        instance = runner.create_instance(_details(definition))
        seen.append(instance.globals_and_locals["__temporal_workflow_class"].VERSION)
    assert seen == ["one", "version two"]
