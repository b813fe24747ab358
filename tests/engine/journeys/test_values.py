"""An account takes every value it can use and refuses, on the record, what it cannot.

Values the edge now refuses could still reach an account (sent before the limits, or by a
client of our own): a renewal date in the year 1 made every workflow task fail on date
arithmetic, and large values grew the history until Temporal refused it. On the real
time-skipping server, such an event must leave the account answering queries and taking
the next event, with the refusal in ``why``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys import _values
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[3] / "playbooks"


async def status(client: Client, account: str) -> AccountStatus:
    result: AccountStatus = await client.get_workflow_handle(account_workflow_id(account)).query(
        AccountWorkflow.status
    )
    return result


@pytest.mark.parametrize("renewal", ["0001-01-05", "9999-12-31", "not a date", 20270331])
async def test_an_unusable_renewal_date_is_refused_and_the_account_goes_on(
    skipping_env: WorkflowEnvironment, renewal: object
) -> None:
    """The date is not applied and why says so; the segment beside it is; the next reading
    is scored (the account neither froze nor lost the event)."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    shipped = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
        change = AttributeChange(
            event_id="e1", set={"segment": "enterprise", "renewal_date": renewal}
        )
        await send(client, account, change, queue)
        await send(client, account, HealthEvent(event_id="e2", score=30), queue)

        async def scored() -> AccountStatus | None:
            found = await status(client, account)
            return found if found.health.score == 30 else None

        found = await eventually(scored, "the reading after the bad date is applied")
        assert found.attributes == {"segment": "enterprise"}
        refusal = next(d for d in found.why if d.rule == "account.attributes.renewal_date")
        assert refusal.kind == "skipped" and refusal.detail.startswith("not applied: ")
        assert refusal.seen == {"event_id": "e1"}


@pytest.mark.parametrize("segment", [{"tier": "gold"}, ["smb"], 7])
async def test_a_segment_that_is_not_a_name_is_refused_and_readings_are_scored(
    skipping_env: WorkflowEnvironment, segment: object
) -> None:
    """A mapping or list as the segment made every workflow task fail (the segment's
    weights are looked up by it): it is left out, why says so, and a reading of components
    alone is scored by the default weights."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    shipped = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AttributeChange(event_id="e1", set={"segment": segment}), queue)
        await send(client, account, HealthEvent(event_id="e2", components={"usage": 50}), queue)

        async def scored() -> AccountStatus | None:
            found = await status(client, account)
            return found if found.health.score is not None else None

        found = await eventually(scored, "the reading after the bad segment is scored")
        assert "segment" not in found.attributes
        refusal = next(d for d in found.why if d.rule == "account.attributes.segment")
        assert "is not text (a segment is a name)" in refusal.detail


async def test_an_unknown_time_zone_is_left_out_on_the_record_and_a_known_one_applies(
    skipping_env: WorkflowEnvironment,
) -> None:
    """A zone sent around the edge's checks (Mars/Olympus) is not applied and why says so;
    the calendar beside it is; a later known zone is applied."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    shipped = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
        bad = AttributeChange(event_id="e1", set={"timezone": "Mars/Olympus", "calendar": "jp"})
        await send(client, account, bad, queue)
        await send(client, account, AttributeChange(event_id="e2", set={"timezone": "UTC"}), queue)

        async def applied() -> AccountStatus | None:
            found = await status(client, account)
            return found if found.attributes.get("timezone") == "UTC" else None

        found = await eventually(applied, "the known zone after the unknown one is applied")
        assert found.attributes == {"calendar": "jp", "timezone": "UTC"}
        refusal = next(d for d in found.why if d.rule == "account.attributes.timezone")
        assert "unknown time zone 'Mars/Olympus'" in refusal.detail


async def test_attributes_stop_at_the_account_limit_and_later_events_apply(
    skipping_env: WorkflowEnvironment,
) -> None:
    """Values of 3 kB, 120 of them: those that fit under the 192 kB left to large values are
    kept, the rest refused one by one; a small change and a reading still apply after."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"big-{queue[-6:]}"
    big = "x" * 3_000
    shipped = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
        for n in range(6):
            blob = {f"notes_{n}_{i}": big for i in range(20)}  # about 60 kB
            await send(client, account, AttributeChange(event_id=f"b{n}", set=blob), queue)
        await send(client, account, AttributeChange(event_id="small", set={"arr": 5}), queue)
        await send(client, account, HealthEvent(event_id="h", score=70), queue)

        async def settled() -> AccountStatus | None:
            found = await status(client, account)
            return found if found.health.score == 70 else None

        found = await eventually(settled, "the reading after the large values is applied")
        assert found.attributes["arr"] == 5
        assert _values.json_size(found.attributes) <= _values.MAX_ACCOUNT_BYTES
        refused = [d for d in found.why if d.rule.startswith("account.attributes.notes_")]
        assert refused and all("would pass 192,000 bytes" in d.detail for d in refused)
        kept = [k for k in found.attributes if k.startswith("notes_")]
        assert len(kept) + len(refused) == 120


async def test_a_signal_the_account_cannot_read_is_recorded_and_dropped(
    skipping_env: WorkflowEnvironment,
) -> None:
    """A NaN reading (JSON null on the wire) and an attribute change whose set is text, sent
    around the edge's checks: each refused in why; the account answers and takes the next."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"nan-{queue[-6:]}"
    shipped = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
        # model_construct skips validation, as a client of its own would: NaN goes out as null.
        reading = HealthEvent.model_construct(
            kind="health", event_id="c", score=None, components={"usage": float("nan")}
        )
        await send(client, account, reading, queue)  # starts the account with a bad signal
        handle = client.get_workflow_handle(account_workflow_id(account))
        await handle.signal("attributes", {"kind": "attributes", "set": "not a mapping"})
        await send(client, account, HealthEvent(event_id="d", score=55), queue)

        async def next_one() -> AccountStatus | None:
            found = await status(client, account)
            return found if found.health.score == 55 else None

        found = await eventually(next_one, "the next reading is applied")
        refused = {d.rule: d.detail for d in found.why if d.rule.startswith("account.signals.")}
        assert set(refused) == {"account.signals.health", "account.signals.attributes"}
        assert "could not be read" in refused["account.signals.health"]
        assert found.health.components == {}


def test_the_rules_for_values_refuse_what_froze_accounts() -> None:
    """Dates out of range, NaN, huge text, deep nesting, NUL, long keys: each has a reason."""
    assert _values.value_problem("renewal_date", "0001-01-05") is not None
    assert _values.value_problem("renewal_date", "2027-03-31") is None
    assert _values.value_problem("start_date", "2200-01-01") is not None
    assert _values.value_problem("arr", float("nan")) == "numbers must be finite"
    assert _values.value_problem("arr", 10**20) is not None
    assert _values.value_problem("notes", "x" * 5_000) is not None
    assert _values.value_problem("notes", "a\x00b") is not None
    assert _values.value_problem("deep", [[[[[["too deep"]]]]]]) is not None
    assert _values.value_problem("tags", ["a", {"b": 1}]) is None
    assert _values.key_problem("k" * 65) is not None
    assert _values.key_problem("bad\nkey") is not None
    assert _values.set_problem({"blob": "x" * 4_000}) is None
    assert (
        _values.value_problem("segment", {"a": 1}) == "{'a': 1} is not text (a segment is a name)"
    )
    assert _values.value_problem("owner", 1042) is not None
    assert _values.value_problem("owner", 1042, names=False) is None  # the rule before
    assert _values.value_problem("segment", "s" * 201) is not None
    assert _values.value_problem("segment", "") is not None
    assert _values.value_problem("segment", None) is None  # null clears it
    assert _values.value_problem("owner", "jane@example.com") is None
    assert _values.set_problem({f"k{i}": "x" * 4_000 for i in range(20)}) is not None
