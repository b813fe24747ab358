"""`playbook dev`'s stack sets its namespace's retention explicitly, at every start."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from workers.dev import RETENTION, running


async def test_the_dev_namespace_keeps_closed_journeys_for_the_set_retention(
    tmp_path: Path,
) -> None:
    """The dev server's own default (a day) is replaced by RETENTION (30 days)."""
    async with running(tmp_path, ui_port=0) as stack:
        described = await stack.client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=stack.client.namespace)
        )
    assert described.config.workflow_execution_retention_ttl.seconds == RETENTION.total_seconds()
    assert RETENTION.days == 30
