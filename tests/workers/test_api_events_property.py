"""Generated events through the served API to a real worker on the dev server: no answer is a
5xx, every accepted event reaches its account (its signals are in the account's history and
its values in the account), and every account takes the next event after them.

Hypothesis drives a synchronous client from a thread while the API, the worker and the
Temporal client run on the test's event loop; checks that need Temporal are handed back to
that loop. Each example is a fresh account, so examples cannot disturb each other.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from engine.client._converter import DATA_CONVERTER
from engine.client._start import account_workflow_id
from engine.journeys import _values
from tests.support import Recorder, ServedApi, serving_api
from workers.settings import ApiSettings
from workers.store import open_store

TOKEN = "t0k3n-" + "p" * 20
BEARER = {"Authorization": f"Bearer {TOKEN}"}
COMPONENTS = ["usage", "engagement", "support", "nps", "billing"]


def _mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Most draws from ``valid`` (shrinking towards it), some from ``hostile``."""
    return st.sampled_from([valid, valid, valid, hostile]).flatmap(lambda chosen: chosen)


# Keys the engine reads (segment, owner, arr, dates), and any others a CRM might send.
NAMED = ("segment", "owner", "renewal_date", "start_date")
GOOD_KEYS = st.sampled_from(["arr", "plan", "csm"]) | st.text(min_size=1, max_size=20).filter(
    lambda key: key.isprintable() and key not in NAMED
)
GOOD_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**15), max_value=10**15)
    | st.floats(min_value=-1e15, max_value=1e15)
    | st.text(max_size=40).filter(lambda text: "\x00" not in text)
    | st.text(min_size=1_000, max_size=4_000, alphabet="ab")
    | st.sampled_from(["enterprise", "mid-market", "smb"])
)
GOOD_DATES = st.dates(min_value=_values.DATE_MIN, max_value=_values.DATE_MAX).map(str)
GOOD_NAMES = st.sampled_from(["enterprise", "mid-market", "smb"]) | st.text(
    min_size=1, max_size=_values.MAX_NAME
).filter(str.isprintable)
HOSTILE_LEAVES = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and the infinities, as Python's encoder writes them
    | st.text(min_size=4_090, max_size=4_200, alphabet="ab")
    | st.dates().map(str)
    | st.sampled_from(["a\x00b", "0001-01-05", "9999-12-31T23:59:59"])
)


def _values_of(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _attributes(
    keys: st.SearchStrategy[str], leaves: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    # The attributes the engine reads by name, with values of their kind.
    known = {"renewal_date": GOOD_DATES, "start_date": GOOD_DATES}
    dated = st.fixed_dictionaries(
        {}, optional={**known, "segment": GOOD_NAMES, "owner": GOOD_NAMES}
    )
    return st.builds(
        lambda a, b: {**a, **b}, st.dictionaries(keys, _values_of(leaves), max_size=4), dated
    )


def _events(hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Events a CRM would send or, ``hostile``, anything at all in each field."""
    if hostile:
        fields = {
            "id": st.text(max_size=210),
            "score": st.floats() | st.integers(),
            "components": st.dictionaries(st.text(max_size=8), st.floats(), max_size=3),
            "set": _attributes(st.text(max_size=70), HOSTILE_LEAVES | GOOD_LEAVES),
            "event": st.text(max_size=210),
        }
        return st.fixed_dictionaries({}, optional=fields)
    fields = {
        "id": st.sampled_from(["e1", "e2"]) | st.uuids().map(str),
        "score": st.integers(0, 100) | st.floats(0, 100),
        "components": st.dictionaries(st.sampled_from(COMPONENTS), st.floats(0, 100), max_size=3),
        "set": _attributes(GOOD_KEYS, GOOD_LEAVES),
        "event": st.sampled_from(["renewal.won", "meeting.executive", "contract.signed"]),
    }
    events = st.fixed_dictionaries({}, optional=fields)
    # One that says nothing is a 422: the hostile events try it.
    return events.filter(lambda event: any(v for k, v in event.items() if k != "id"))


EVENTS = _mostly(_events(hostile=False), _events(hostile=True))
ACCOUNT_SUFFIXES = _mostly(
    st.sampled_from(["", "-ü", "-日本", ".x"]),
    st.sampled_from(["/x", " x", "\x01", "-" + "a" * 200]),
)


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[ServedApi]:
    # The real history activity over a real store: what an account tells the store (an
    # ARR change of any shape) must not stall it either.
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        recorder = Recorder(store=store)
        settings = ApiSettings(tokens=(SecretStr(TOKEN),))
        async with serving_api(dev_env, settings, recorder.activities()) as served:
            yield served


def _parts(event: dict[str, Any]) -> list[str]:
    """The signals an accepted event becomes (engine.client._events.event_messages)."""
    parts = []
    if event.get("set"):
        parts.append("set")
    if event.get("score") is not None or event.get("components"):
        parts.append("health")
    if event.get("event"):
        parts.append("event")
    return parts


class Example:
    """One generated exchange with the API, checked from a worker thread."""

    def __init__(self, api: ServedApi, loop: asyncio.AbstractEventLoop) -> None:
        self.api = api
        self.loop = loop
        self.http = httpx.Client(base_url=api.url, timeout=30, headers=BEARER)
        self.tally: Counter[str] = Counter()
        """Examples by events accepted of events sent: printed, so a run that accepts
        nothing (and so checks nothing) shows."""

    def on_loop(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)

    def post(self, path: str, body: Any) -> httpx.Response:
        # Python's encoder: what a careless client sends (big integers, long texts as is).
        response = self.http.post(
            path, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, (path, body, response.text)
        return response

    def run(self, account: str, events: list[dict[str, Any]], batched: bool) -> None:
        accepted: list[tuple[str, dict[str, Any]]] = []
        if batched:
            answer = self.post(
                "/v1/events", {"events": [{"account": account, **e} for e in events]}
            )
            if answer.status_code == 202:
                accepted = list(zip(answer.json()["event_ids"], events, strict=True))
        else:
            for event in events:
                answer = self.post(f"/v1/accounts/{quote(account, safe='')}/events", event)
                if answer.status_code == 202:
                    [event_id] = answer.json()["event_ids"]
                    accepted.append((event_id, event))
        self.tally[f"{len(accepted)} of {len(events)}"] += 1
        if not accepted:
            return
        self.takes_the_next_event(account)
        self.every_event_reached(account, accepted)

    def takes_the_next_event(self, account: str) -> None:
        probe = uuid.uuid4().hex
        path = f"/v1/accounts/{quote(account, safe='')}"
        assert (
            self.post(f"{path}/events", {"id": probe, "set": {"probe": probe}}).status_code == 202
        )

        async def applied() -> None:
            for _ in range(200):
                # On the loop: the async client (a blocking call would stall the API itself).
                shown = await self.api.http.get(path, headers=BEARER)
                attributes = shown.json()["account"]["attributes"] if shown.is_success else {}
                if attributes.get("probe") == probe:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"account {account!r} never took its next event: {shown.text}")

        self.on_loop(applied())

    def every_event_reached(self, account: str, accepted: list[tuple[str, dict[str, Any]]]) -> None:
        signalled = self.on_loop(self._signalled(account))
        shown = self.http.get(f"/v1/accounts/{quote(account, safe='')}").json()["account"]
        expected: dict[str, Any] = {}
        refused: set[str] = set()
        seen: set[str] = set()
        score = None
        for event_id, event in accepted:
            for part in _parts(event):
                message = f"{event_id}/{part}"
                assert message in signalled, (message, sorted(signalled))
                if message in seen:
                    continue  # the same id again: the account ignores the repeat
                seen.add(message)
                if part == "set":
                    kept, left_out = _values.usable(event["set"], expected)
                    expected.update(kept)
                    refused.update(key for key, _ in left_out)
                elif part == "health":
                    # A reading of components alone is scored by the model: not redone here.
                    score = event.get("score")
        attributes = {k: v for k, v in shown["attributes"].items() if k != "probe"}
        assert attributes == expected
        if score is not None:
            assert shown["health"]["score"] == score
        skipped = {
            d["rule"].removeprefix("account.attributes.")
            for d in shown["why"]
            if d["kind"] == "skipped" and d["rule"].startswith("account.attributes.")
        }
        assert skipped == refused

    async def _signalled(self, account: str) -> set[str]:
        """The event ids of every signal in the account's history, each part of a combined
        event's; no workflow task failed."""
        handle = self.api.client.get_workflow_handle(account_workflow_id(account))
        ids = set()
        async for event in handle.fetch_history_events():
            assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, event
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name in ("health", "attributes", "lifecycle", "event"):
                [payload] = signal.input.payloads  # (not run_ended)
                message = DATA_CONVERTER.payload_converter.from_payload(payload)
                # An event of several parts is one signal carrying them (CombinedEvent).
                ids.update(part["event_id"] for part in message.get("parts", [message]))
        return ids


@pytest.mark.timeout(300)
async def test_accepted_events_reach_their_accounts_and_none_is_frozen(api: ServedApi) -> None:
    """Generated events (hostile values, ids, names and account ids among them), one request
    each or in a batch: no 5xx; each accepted event's signals are in the account's history,
    its attribute changes in the account (or, past the account's size, recorded in why), the
    last score shown; the account then takes one more event."""
    exchanges = Example(api, asyncio.get_running_loop())

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        suffix=ACCOUNT_SUFFIXES,
        events=st.lists(EVENTS, min_size=1, max_size=6),
        batched=st.booleans(),
    )
    # Found by this test: the attributes the engine reads as names, given other shapes.
    @example(suffix="", events=[{"set": {"segment": {"a": 1}}}, {"score": 50}], batched=False)
    @example(
        suffix="", events=[{"set": {"segment": [1]}}, {"components": {"nps": 5}}], batched=True
    )
    @example(
        suffix="", events=[{"set": {"owner": "o" * 4_000, "segment": "s" * 4_000}}], batched=False
    )
    def exchange(suffix: str, events: list[dict[str, Any]], batched: bool) -> None:
        exchanges.run(f"prop-{uuid.uuid4().hex[:10]}{suffix}", events, batched)

    try:
        await asyncio.to_thread(exchange)
    finally:
        exchanges.http.close()
    print("examples by events accepted of sent:", dict(sorted(exchanges.tally.items())))
    accepted = sum(n for key, n in exchanges.tally.items() if not key.startswith("0 "))
    assert accepted >= 20, exchanges.tally
