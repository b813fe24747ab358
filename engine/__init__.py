"""The playbook engine's library: load, validate and compile customer-success playbooks.

    from engine import load
    playbooks = load(["playbooks"])          # raises ValidationFailed with every problem
    plan = playbooks.plan("onboarding")      # the input of a playbook run workflow

Everything here is the public API; modules starting with ``_`` are internals. Names are
imported on first use: the workflow sandbox imports this package for every workflow run, and
must not pay for (or be refused by) the validator's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine._compile import compile_health_model, compile_playbook
    from engine._documents import EmailTemplate, HealthModel, Playbook
    from engine._errors import Code, Diagnostic, PlaybookError, ValidationFailed
    from engine._loader import PlaybookSet, check, load
    from engine._plan import HealthModelPlan, Plan

_EXPORTS = {
    "Code": "engine._errors",
    "Diagnostic": "engine._errors",
    "EmailTemplate": "engine._documents",
    "HealthModel": "engine._documents",
    "HealthModelPlan": "engine._plan",
    "Plan": "engine._plan",
    "Playbook": "engine._documents",
    "PlaybookError": "engine._errors",
    "PlaybookSet": "engine._loader",
    "ValidationFailed": "engine._errors",
    "check": "engine._loader",
    "compile_health_model": "engine._compile",
    "compile_playbook": "engine._compile",
    "load": "engine._loader",
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
