"""The playbook engine's library: load, validate and compile customer-success playbooks.

    from engine import load
    playbooks = load(["playbooks"])          # raises ValidationFailed with every problem
    plan = playbooks.plan("onboarding")      # the input of a playbook run workflow

Everything here is the public API; modules starting with ``_`` are internals. The code lives
in subpackages by role, each importing only those below it: ``engine.client`` and
``engine.dashboard`` (talking to Temporal from outside; the dashboard's numbers), then
``engine.journeys`` (the deterministic workflow code), then ``engine.language`` (YAML to
plans). The engine never imports ``workers`` or the command line (``playbook_cli``).

Names are imported on first use: the workflow sandbox imports this package for every
workflow run, and must not pay for (or be refused by) the validator's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.language._compile import compile_health_model, compile_playbook
    from engine.language._documents import EmailTemplate, HealthModel, Playbook
    from engine.language._errors import Code, Diagnostic, PlaybookError, ValidationFailed
    from engine.language._loader import PlaybookSet, check, load
    from engine.language._plan import HealthModelPlan, Plan

_EXPORTS = {
    "Code": "engine.language._errors",
    "Diagnostic": "engine.language._errors",
    "EmailTemplate": "engine.language._documents",
    "HealthModel": "engine.language._documents",
    "HealthModelPlan": "engine.language._plan",
    "Plan": "engine.language._plan",
    "Playbook": "engine.language._documents",
    "PlaybookError": "engine.language._errors",
    "PlaybookSet": "engine.language._loader",
    "ValidationFailed": "engine.language._errors",
    "check": "engine.language._loader",
    "compile_health_model": "engine.language._compile",
    "compile_playbook": "engine.language._compile",
    "load": "engine.language._loader",
}

__all__ = [
    "Code",
    "Diagnostic",
    "EmailTemplate",
    "HealthModel",
    "HealthModelPlan",
    "Plan",
    "Playbook",
    "PlaybookError",
    "PlaybookSet",
    "ValidationFailed",
    "check",
    "compile_health_model",
    "compile_playbook",
    "load",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
