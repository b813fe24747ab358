"""One event's parts in one signal (engine.client._start.send_event, a CombinedEvent): the
account takes them in order, as if each had come alone."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from engine.client._start import account_workflow_id, send_event
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent
from tests.engine.journeys.test_entries import Account, account  # noqa: F401 - the fixture


async def _signals(acct: Account) -> list[str]:
    handle = acct.env.client.get_workflow_handle(account_workflow_id(acct.id))
    return [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


async def test_attributes_and_their_event_in_one_signal_enroll(account: Account) -> None:  # noqa: F811
    """`signed` enters on contract.signed when kickoff is yes: the attribute, then the event,
    in one signal-with-start, enroll the account; the server saw one signal."""
    await send_event(
        account.env.client,
        account.id,
        [
            AttributeChange(event_id="e1/set", set={"attributes": {"kickoff": "yes"}}),
            AccountEvent(event_id="e1/event", name="contract.signed"),
        ],
        account.queue,
    )
    [enrolled] = await account.wait_for("signed", "enrolled")
    assert enrolled.rule == "signed.entry.event"
    outside = [s for s in await _signals(account) if s in ("event", "attributes", "lifecycle")]
    assert outside == ["event"]


async def test_the_parts_are_taken_in_their_order(account: Account) -> None:  # noqa: F811
    """The event before the attribute: when the event is taken kickoff is not yet yes, so
    the account does not enroll, as two signals in that order would not."""
    await send_event(
        account.env.client,
        account.id,
        [
            AccountEvent(event_id="e2/event", name="contract.signed"),
            HealthEvent(event_id="e2/health", score=61),
            AttributeChange(event_id="e2/set", set={"attributes": {"kickoff": "yes"}}),
        ],
        account.queue,
    )
    await account.scored(61)
    status = await account.status()
    assert status.attributes["attributes"] == {"kickoff": "yes"}
    assert "signed" not in status.enrollments


async def test_a_repeated_event_is_taken_once(account: Account) -> None:  # noqa: F811
    """Each part keeps its own id: the same event sent again changes nothing."""
    parts: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(event_id="e3/set", set={"attributes": {"kickoff": "yes"}}),
        AccountEvent(event_id="e3/event", name="contract.signed"),
    ]
    await send_event(account.env.client, account.id, parts, account.queue)
    await account.wait_for("signed", "enrolled")
    await send_event(account.env.client, account.id, parts, account.queue)
    await account.send(HealthEvent(event_id="e3/after", score=42))
    await account.scored(42)
    assert len(await account.decisions("signed", "enrolled")) == 1
    assert (await account.status()).enrollments["signed"].cycle == 1


async def test_one_part_goes_as_its_own_signal(account: Account) -> None:  # noqa: F811
    """A lone part needs no wrapping: it is the signal it always was."""
    await send_event(
        account.env.client, account.id, [HealthEvent(event_id="e4", score=55)], account.queue
    )
    await account.scored(55)
    assert [s for s in await _signals(account) if s != "run_ended"] == ["health"]
