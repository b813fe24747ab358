"""Client-side operations: publish a catalog, send an account its events.

Shared by the CLI, the HTTP API and the tests, so every door into the engine starts
workflows the same way: deterministic ids, signal-with-start for accounts.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from engine.journeys._account import AccountWorkflow
from engine.journeys._account_patches import ACCOUNT_PATCHES
from engine.journeys._account_state import AccountState
from engine.journeys._catalog import CATALOG_WORKFLOW_ID, Catalog, CatalogWorkflow
from engine.journeys._messages import AccountEvent, AttributeChange, CombinedEvent, HealthEvent
from engine.journeys._values import text_problem
from engine.language._errors import PlaybookError

ACCOUNT_SIGNALS = {
    HealthEvent: "health",
    AttributeChange: "attributes",
    AccountEvent: "lifecycle",
    CombinedEvent: "event",
}


MAX_ACCOUNT_ID = 200


class AccountIdRefused(PlaybookError):
    """An account id that cannot name an account: empty, too long, a slash, control
    characters or spaces around it. The message says which, in one line."""


def check_account_id(account_id: str) -> None:
    """Refuse an account id no account can have; every door that sends events calls it."""
    problem = text_problem("the account id", account_id, MAX_ACCOUNT_ID)
    if problem is None and (account_id != account_id.strip() or "/" in account_id):
        problem = f"the account id {account_id[:40]!r} has a slash or spaces around it"
    if problem is not None:
        raise AccountIdRefused(problem)


def account_workflow_id(account_id: str) -> str:
    return f"account/{account_id}"


async def publish(client: Client, catalog: Catalog, task_queue: str) -> str:
    """Make ``catalog`` the one new enrollments use; returns what changed."""
    handle = await client.start_workflow(
        CatalogWorkflow.run,
        None,
        id=CATALOG_WORKFLOW_ID,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    result: str = await handle.execute_update(CatalogWorkflow.publish, catalog)
    return result


async def send_event(
    client: Client,
    account_id: str,
    parts: list[HealthEvent | AttributeChange | AccountEvent],
    task_queue: str,
) -> None:
    """Deliver the parts of one event (its attributes, reading, lifecycle event, in that
    order) in one signal-with-start: the account takes them in order, as if sent one by one."""
    if len(parts) == 1:
        await send(client, account_id, parts[0], task_queue)
    elif parts:
        await send(client, account_id, CombinedEvent(parts=parts), task_queue)


async def send(
    client: Client,
    account_id: str,
    message: HealthEvent | AttributeChange | AccountEvent | CombinedEvent,
    task_queue: str,
    *,
    memo: dict[str, Any] | None = None,
) -> WorkflowHandle[Any, Any]:
    """Deliver ``message`` to the account, creating its workflow if it does not exist.

    Raises :class:`AccountIdRefused` for an id no account can have.

    ``memo`` is for a workflow this creates; a simulation's carries its clock offset
    (``engine.journeys._clock.memo_for``).
    """
    check_account_id(account_id)
    return await client.start_workflow(
        AccountWorkflow.run,
        # The code that creates the account vouches for its settled patches (no marker each).
        AccountState(account_id=account_id, patches=list(ACCOUNT_PATCHES)),
        id=account_workflow_id(account_id),
        task_queue=task_queue,
        start_signal=ACCOUNT_SIGNALS[type(message)],
        start_signal_args=[message],
        memo=memo,
        static_summary=f"account {account_id}: health, attributes and journeys",
    )
