"""An action asks the account for its current health only when its run may hold an older one
and it shows health; when the account cannot answer, the run's health stands.

The asking itself, against a running account, is in tests/engine/journeys/
test_decision_wakes.py (the email after a wait shows the score of its day).
"""

from __future__ import annotations

import logging
import uuid

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from engine.journeys._messages import ActionRequest
from engine.language._plan import TemplatePlan
from workers.action_parts import with_current_health

SHOWS = TemplatePlan(subject="{{ account.name }}", text="Score {{ health.score }}")
SILENT = TemplatePlan(subject="Welcome", text="Hi {{ recipient.name }}")


def _request(fetch_health: bool, template: TemplatePlan | None = SHOWS) -> ActionRequest:
    return ActionRequest(
        idempotency_key="k",
        workflow_id="playbook/p/nobody/1",
        account_id=f"nobody-{uuid.uuid4().hex[:8]}",
        playbook="p",
        version=1,
        step="s",
        health={"score": 50.0, "tier": "at-risk"},
        fetch_health=fetch_health,
        template=template,
    )


@pytest.mark.parametrize(
    ("fetch", "kind", "template"),
    [
        (False, "email", SHOWS),
        (True, "email", SILENT),
        (True, "review", None),
        (True, "task", SHOWS),
        (True, "webhook", SHOWS),
    ],
    ids=["run-current", "template-without-health", "no-template", "task", "webhook"],
)
async def test_an_action_asks_nothing_unless_its_run_may_be_behind_and_it_shows_health(
    skipping_env: WorkflowEnvironment, fetch: bool, kind: str, template: TemplatePlan | None
) -> None:
    """No query at all: the very request comes back (the account does not even exist)."""
    request = _request(fetch, template)
    env = ActivityEnvironment(client=skipping_env.client)
    assert await env.run(with_current_health, request, kind) is request


@pytest.mark.parametrize("kind", ["email", "review", "chat"])
async def test_an_account_that_cannot_answer_leaves_the_runs_health_and_says_so(
    skipping_env: WorkflowEnvironment, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The account workflow is not there: the action renders the run's 50, and the log says
    the current health was not read."""
    request = _request(True)
    env = ActivityEnvironment(client=skipping_env.client)
    with caplog.at_level(logging.WARNING):
        found = await env.run(with_current_health, request, kind)
    assert found.health == {"score": 50.0, "tier": "at-risk"}
    assert "the account's current one was not read" in caplog.text
