"""The data converter of every client and worker: pydantic models as JSON, built once.

It encodes exactly what the SDK's ``pydantic_data_converter`` encodes (histories written by
either read the same), but temporalio builds a fresh payload converter from its class for
each workflow activation it decodes and encodes and for each workflow it starts, and the
stock one starts every time with an empty cache of pydantic ``TypeAdapter``\\ s: a busy
worker kept rebuilding the validators of the same few models (with the account's models
moved out of the sandbox, a fifth of a 100-account backtest's time). This class hands every
instance the same converters, so their cache lives as long as the process;
``functools.lru_cache`` behind it is safe across the worker's threads.
"""

from __future__ import annotations

from typing import ClassVar

from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, EncodingPayloadConverter


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """A ``PydanticPayloadConverter`` whose component converters are shared by all."""

    _shared: ClassVar[tuple[EncodingPayloadConverter, ...]] = ()

    def __init__(self) -> None:
        cls = SharedPydanticPayloadConverter
        if not cls._shared:
            super().__init__()
            cls._shared = tuple(self.converters.values())
        else:
            self._set_converters(*cls._shared)


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)
"""Pass as ``data_converter`` to every client, test environment and worker of the engine."""
