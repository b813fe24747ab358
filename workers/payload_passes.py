"""The SDK's payload passes over workflow activations, skipped where they cannot change one.

temporalio 1.35 walks every workflow activation three times on its way in (storage
references decoded by the codec, external storage retrieved, codec decode) and every
completion three times on its way out, visiting each payload from async Python. With
neither a payload codec nor external storage on the data converter, every pass hands back
the payloads it was given (the SDK's own ``DataConverter._decode_payload_has_effect`` says
as much). In bench.reaction's worker profile those walks were 28% of the time spent
handling activations; they run for every workflow task of every account and journey.

:func:`install` wraps the two functions the workflow worker calls so that for such a
converter they return at once, and for any other (a codec, external storage) they run as
before. One thing is left out: with no external storage, the walk in would fail an
activation that carried a payload stored externally by a client that has storage; without
it, the engine's converter fails to decode that payload instead, as a workflow task failure
or, for the account's events, a refusal recorded in its why. Process-wide, like the
garbage collection settings: every worker in the process, a benchmark's baseline included,
skips alike. An SDK without these functions is left as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import temporalio.bridge.worker as _bridge
from temporalio.converter import DataConverter

try:
    from temporalio.converter._extstore import StorageOperationMetrics
except ImportError:  # an SDK from before external storage: nothing to skip
    StorageOperationMetrics = None  # type: ignore[assignment, misc]

_NAMES = ("decode_activation", "encode_completion")
_MARK = "_skips_no_op_passes"


def no_op(converter: DataConverter) -> bool:
    """Whether the SDK's payload passes leave every payload as it is for ``converter``."""
    return converter.payload_codec is None and converter.external_storage is None


def install() -> bool:
    """Skip the no-op payload passes from now on, in this process; True when installed (once
    or before), False when the SDK does not look as expected."""
    if StorageOperationMetrics is None:
        return False
    functions = [getattr(_bridge, name, None) for name in _NAMES]
    if not all(callable(f) for f in functions):
        return False
    for name, function in zip(_NAMES, functions, strict=True):
        if not getattr(function, _MARK, False):
            setattr(_bridge, name, _skipping(function))  # type: ignore[arg-type]
    return True


def _skipping(
    passes: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(passes)
    async def maybe(message: Any, data_converter: DataConverter, *args: Any, **kwargs: Any) -> Any:
        if no_op(data_converter):
            return StorageOperationMetrics()
        return await passes(message, data_converter, *args, **kwargs)

    setattr(maybe, _MARK, True)
    return maybe
