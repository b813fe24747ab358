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

Every sandbox here also reports each workflow it lets go to ``workers.evictions``, which
paces the worker's full garbage collections by them; :class:`CountingSandbox` is the stock
sandbox with that alone, for a baseline's worker.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import CodeType
from typing import Any, ClassVar

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.converter import (
    DataConverter,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import _runner as _sdk

from workers import evictions

_NO_STORE = StorageDriverStoreContext(target=None)
_ANSWERED = ("get_serialization_context", "get_external_store_context")


def context_free(converter: DataConverter) -> bool:
    """True when no serialization context can change what ``converter`` does."""
    probe = WorkflowSerializationContext(namespace="probe", workflow_id="probe")
    return converter.external_storage is None and converter.with_context(probe) is converter


def workflow_runner(converter: DataConverter) -> WorkflowRunner:
    """The sandbox for a worker whose client converts with ``converter``."""
    if _INSTANCE is None or not context_free(converter):
        return _CompiledSandbox()
    return _ContextFreeSandbox()


class _CachedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code objects outlive the module: one compilation per version of
    the file (path, modification time, size), however many sandboxes import it."""

    _code: ClassVar[dict[str, tuple[tuple[int, int], CodeType]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        stat = Path(path).stat()
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._code.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        code = super().get_code(fullname)
        assert code is not None  # a source file always compiles to code or raises
        with self._lock:
            self._code[path] = (version, code)
        return code


class _CompiledOnce(importlib.abc.MetaPathFinder):
    """Finds the registered workflow modules (and their packages) as the path finder does,
    with a loader that compiles each once; every other module is left to the finders after
    it. Installed once per process, at the front of ``sys.meta_path``."""

    def __init__(self) -> None:
        self.modules: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def register(self, module: str) -> None:
        parts = module.split(".")
        names = {".".join(parts[:depth]) for depth in range(1, len(parts) + 1)}
        if names <= self.modules:
            return
        with self._lock:
            self.modules = self.modules | names
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        assert spec.origin is not None  # a source file loader has its file
        spec.loader = _CachedCodeLoader(fullname, spec.origin)
        return spec


_COMPILED_ONCE = _CompiledOnce()


def _counting_instance() -> type[Any] | None:
    """The SDK's private sandboxed instance, reporting its eviction to workers.evictions;
    None when the installed SDK has no such class."""
    base: Any = getattr(_sdk, "_Instance", None)
    if base is None or not callable(getattr(base, "activate", None)):
        return None

    class CountingInstance(base):  # type: ignore[misc]
        def activate(self, act: WorkflowActivation) -> Any:
            completion = super().activate(act)
            # The SDK sends an eviction alone in its activation, and drops the instance
            # once this returns.
            if len(act.jobs) == 1 and act.jobs[0].HasField("remove_from_cache"):
                evictions.evicted()
            return completion

    return CountingInstance


_COUNTING = _counting_instance()


def counts_evictions() -> bool:
    """True when this module's sandboxes report evictions (workers.evictions)."""
    return _COUNTING is not None


def _context_free_instance() -> type[Any] | None:
    """The counting instance with the context questions answered outside it; None when the
    installed SDK has no such class (the stock sandbox runs then)."""
    base: Any = _COUNTING
    if base is None or not all(callable(getattr(base, name, None)) for name in _ANSWERED):
        return None

    class ContextFreeInstance(base):  # type: ignore[misc]
        def get_serialization_context(self, command_info: Any) -> None:
            return None

        def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
            return _NO_STORE

    return ContextFreeInstance


_INSTANCE = _context_free_instance()


class CountingSandbox(SandboxedWorkflowRunner):
    """The SDK's sandbox, unchanged but for reporting evictions: for a baseline's worker
    that collects garbage as the engine's does."""

    def create_instance(self, det: Any) -> Any:
        if _COUNTING is None:
            return super().create_instance(det)
        return _COUNTING(det, self.runner_class, self.restrictions)


class _CompiledSandbox(CountingSandbox):
    """The stock sandbox, its workflow modules compiled once (see :class:`_CompiledOnce`)."""

    def create_instance(self, det: Any) -> Any:
        _COMPILED_ONCE.register(det.defn.cls.__module__)
        return super().create_instance(det)


class _ContextFreeSandbox(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` whose instances answer the context question outside,
    its workflow modules compiled once."""

    def create_instance(self, det: Any) -> Any:
        assert _INSTANCE is not None
        _COMPILED_ONCE.register(det.defn.cls.__module__)
        return _INSTANCE(det, self.runner_class, self.restrictions)
