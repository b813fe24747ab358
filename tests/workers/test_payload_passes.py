"""workers.payload_passes: the SDK's walks over an activation's payloads are skipped only
where they cannot change a payload."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
import temporalio.bridge.worker as bridge
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.client._converter import DATA_CONVERTER
from tests.workers.sandboxed import Echo
from workers import payload_passes
from workers.sandbox import workflow_runner

REFERENCE_MARKER = "__temporal_external_storage_reference"
"""The metadata key of a payload stored externally (temporalio.converter._extstore)."""


class _Marking(PayloadCodec):
    """A codec that changes every payload, so a pass that ran shows in the payload."""

    def __init__(self) -> None:
        self.encoded = 0
        self.decoded = 0

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.encoded += len(payloads)
        return [
            Payload(metadata={**p.metadata, "marked": b"1"}, data=b"~" + p.data) for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.decoded += len(payloads)
        out = []
        for p in payloads:
            metadata = {k: v for k, v in p.metadata.items() if k != "marked"}
            out.append(Payload(metadata=metadata, data=p.data.removeprefix(b"~")))
        return out


def _signal_activation(payload: Payload) -> WorkflowActivation:
    activation = WorkflowActivation(run_id="run")
    job = activation.jobs.add()
    job.signal_workflow.signal_name = "go"
    job.signal_workflow.input.append(payload)
    return activation


def _completion(payload: Payload) -> WorkflowActivationCompletion:
    completion = WorkflowActivationCompletion(run_id="run")
    command = completion.successful.commands.add()
    command.complete_workflow_execution.result.CopyFrom(payload)
    return completion


def test_the_engine_converter_changes_no_payload() -> None:
    """Neither a codec nor external storage: the passes have nothing to do."""
    assert payload_passes.no_op(DATA_CONVERTER)
    assert not payload_passes.no_op(DataConverter(payload_codec=_Marking()))


def test_install_wraps_once() -> None:
    """Installing twice (a worker per test) does not wrap the wrapper."""
    assert payload_passes.install()
    decode, encode = bridge.decode_activation, bridge.encode_completion
    assert payload_passes.install()
    assert (bridge.decode_activation, bridge.encode_completion) == (decode, encode)


async def test_no_op_passes_are_skipped() -> None:
    """For the engine's converter the activation and completion come back untouched, with no
    storage metrics."""
    payload_passes.install()
    payload = DATA_CONVERTER.payload_converter.to_payload({"a": 1})
    activation = _signal_activation(payload)
    metrics = await bridge.decode_activation(activation, DATA_CONVERTER, True, 1)
    assert metrics.payload_count == 0
    assert activation.jobs[0].signal_workflow.input[0] == payload
    completion = _completion(payload)
    metrics = await bridge.encode_completion(completion, DATA_CONVERTER, True, 1)
    assert metrics.payload_count == 0
    assert completion.successful.commands[0].complete_workflow_execution.result == payload


async def test_the_skipped_walk_is_the_one_that_refuses_a_stored_reference() -> None:
    """What is left out: the SDK's walk in refuses a payload stored externally when the
    converter has no storage; skipped, the payload reaches the converter as it came."""
    payload_passes.install()
    stored = Payload(metadata={REFERENCE_MARKER: b"true"}, data=b"{}")
    stock = bridge.decode_activation.__wrapped__  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="TMPRL1105"):
        await stock(_signal_activation(stored), DATA_CONVERTER, True, 1)
    activation = _signal_activation(stored)
    await bridge.decode_activation(activation, DATA_CONVERTER, True, 1)
    assert activation.jobs[0].signal_workflow.input[0] == stored


async def test_a_codec_still_runs_over_every_payload() -> None:
    """A converter with a codec gets every pass, as without the module."""
    payload_passes.install()
    codec = _Marking()
    converter = DataConverter(payload_codec=codec)
    plain = DATA_CONVERTER.payload_converter.to_payload({"a": 1})
    completion = _completion(plain)
    await bridge.encode_completion(completion, converter, True, 1)
    encoded = completion.successful.commands[0].complete_workflow_execution.result
    assert encoded.data == b"~" + plain.data
    activation = _signal_activation(encoded)
    await bridge.decode_activation(activation, converter, True, 1)
    assert activation.jobs[0].signal_workflow.input[0] == plain
    assert (codec.encoded, codec.decoded) == (1, 1)


async def test_a_worker_with_a_codec_still_encodes(skipping_env: WorkflowEnvironment) -> None:
    """On a real server, a workflow's input and result go through a codec the passes serve,
    with the skipping installed in the same process."""
    payload_passes.install()
    codec = _Marking()
    converter = DataConverter(payload_codec=codec)
    config = skipping_env.client.config()
    config["data_converter"] = converter
    client = Client(**config)
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[Echo], workflow_runner=workflow_runner(converter)
    ):
        result = await client.execute_workflow(
            Echo.run, {"a": 1}, id=f"echo-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
    assert result == {"a": 2}
    # The client encodes the input and decodes the result; the worker decodes the input and
    # encodes the result: the worker's two happen only if its passes ran.
    assert codec.encoded >= 2 and codec.decoded >= 2
