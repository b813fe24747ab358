"""Structured logs for the worker: readable on a terminal, one JSON object per line otherwise.

Actions log through :func:`action_log`, which binds the workflow id, step, account and attempt,
so a failed email or webhook can be traced to its journey from the log alone. Every line,
structlog's and the standard library's (uvicorn's access log included), passes through
``workers.redaction`` first, and httpx's per-request lines (full URLs) are off.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from temporalio import activity

from workers.redaction import RedactingFilter, redact


def configure(json: bool | None = None, level: int = logging.INFO) -> None:
    """Route structlog to stderr: JSON unless stderr is a terminal (or ``json`` says)."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redacted,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # The SDK logs every failed activity attempt with its traceback; action_log already says
    # each failure in one line with its journey, so only the SDK's errors get through.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    # httpx logs each request at INFO with its full URL: chat webhook paths, ?api_key=...
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # On the handlers, so records of every logger that propagates to the root are masked.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _redacted(logger: Any, method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: secrets out of every text value of the event."""
    return {key: redact(v) if isinstance(v, str) else v for key, v in event.items()}


def action_log(**bound: Any) -> Any:
    """A logger for the running activity, bound to its workflow, attempt and ``bound``."""
    log = structlog.get_logger("playbook.actions")
    if activity.in_activity():
        info = activity.info()
        log = log.bind(
            workflow_id=info.workflow_id, activity=info.activity_type, attempt=info.attempt
        )
    return log.bind(**bound)
