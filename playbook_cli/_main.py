"""The ``playbook`` command line's entry point.

Every failure a user can cause ends in one line and a non-zero exit, never a traceback; set
``PLAYBOOK_DEBUG=1`` to see one for a bug in the engine itself.
"""

from __future__ import annotations

import logging
import os
import sys

# Each command group registers its commands on `app` when imported.
from playbook_cli import (  # noqa: F401
    _accounts,
    _outbox,
    _playbook_tests,
    _playbooks,
    _report,
    _serve,
    _simulate,
    _tasks,
    _worker,
)
from playbook_cli._base import _err, app


def main() -> None:
    """Console entry point: run the app, turning any stray exception into one line."""
    code: int | str | None = 0
    try:
        app()
    except SystemExit as done:
        code = done.code
    except KeyboardInterrupt:
        _err.print("playbook: interrupted")
        code = 130
    except Exception as exc:  # the promise is one line, never a traceback
        if os.environ.get("PLAYBOOK_DEBUG"):
            raise
        _err.print(
            f"playbook: internal error: {type(exc).__name__}: {exc}"
            " (set PLAYBOOK_DEBUG=1 for the traceback)",
            markup=False,
        )
        code = 70
    _exit(code)


def _exit(code: int | str | None) -> None:
    if isinstance(code, str):
        _err.print(code, markup=False)
        code = 1
    if "temporalio.client" not in sys.modules:
        sys.exit(code)
    # The Temporal SDK's Rust threads can outlive the event loop and abort the interpreter
    # as it finalizes ("PyGILState_Release", temporalio/sdk-python#300), turning a clean
    # exit into SIGABRT. Once the SDK was loaded, flush and leave without finalizing.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
