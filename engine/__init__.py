"""The playbook engine's library: load, validate and compile customer-success playbooks.

    from engine import load
    playbooks = load(["playbooks"])          # raises ValidationFailed with every problem
    plan = playbooks.plan("onboarding")      # the input of a playbook run workflow

Everything here is the public API; modules starting with ``_`` are internals.
"""

from engine._compile import compile_health_model, compile_playbook
from engine._documents import EmailTemplate, HealthModel, Playbook
from engine._errors import Code, Diagnostic, PlaybookError, ValidationFailed
from engine._loader import PlaybookSet, check, load
from engine._plan import HealthModelPlan, Plan

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
