"""The workflow sandbox, minus a per-payload detour our data converter has no use for.

temporalio 1.35 passes every workflow activation and every completion through its payload
converter three times (references, external storage, codec), and for each payload container
it asks the workflow *inside the sandbox* which serialization context applies: an ``exec``
of a source string, compiled afresh each time, under the sandbox's import hooks, and once
more per container for the external store's context. In a profiled 250-account backtest
that was a quarter of the worker's Python CPU, more than running the workflows themselves.

The answer only matters to a payload converter, codec, failure converter or storage driver
that takes a context. The engine's (``engine.client._converter``) takes none, which
:func:`workflow_runner` checks on the converter it is given, so this runner answers "no
context" itself: the converter the SDK then picks is the same object it would have picked
for any answer. Everything else is the stock sandbox: the same restrictions, the same
per-workflow imports, the same activations. For any other converter, or an SDK whose
private runner no longer looks as expected, :func:`workflow_runner` returns the stock
sandbox unchanged.
"""

from __future__ import annotations

from typing import Any

from temporalio.converter import (
    DataConverter,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import _runner as _sdk

_NO_STORE = StorageDriverStoreContext(target=None)
_ANSWERED = ("get_serialization_context", "get_external_store_context")


def context_free(converter: DataConverter) -> bool:
    """True when no serialization context can change what ``converter`` does."""
    probe = WorkflowSerializationContext(namespace="probe", workflow_id="probe")
    return converter.external_storage is None and converter.with_context(probe) is converter


def workflow_runner(converter: DataConverter) -> WorkflowRunner:
    """The sandbox for a worker whose client converts with ``converter``."""
    if _INSTANCE is None or not context_free(converter):
        return SandboxedWorkflowRunner()
    return _ContextFreeSandbox()


def _context_free_instance() -> type[Any] | None:
    """The SDK's private sandboxed instance with the context questions answered outside it;
    None when the installed SDK has no such class (the stock sandbox runs then)."""
    base: Any = getattr(_sdk, "_Instance", None)
    if base is None or not all(callable(getattr(base, name, None)) for name in _ANSWERED):
        return None

    class ContextFreeInstance(base):  # type: ignore[misc]
        def get_serialization_context(self, command_info: Any) -> None:
            return None

        def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
            return _NO_STORE

    return ContextFreeInstance


_INSTANCE = _context_free_instance()


class _ContextFreeSandbox(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` whose instances answer the context question outside."""

    def create_instance(self, det: Any) -> Any:
        assert _INSTANCE is not None
        return _INSTANCE(det, self.runner_class, self.restrictions)
