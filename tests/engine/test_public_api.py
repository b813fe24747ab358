"""The public API is small and deliberate: this list changes only on purpose."""

from __future__ import annotations

import engine


def test_exports_are_frozen() -> None:
    """engine.__all__ names exactly the public API, and each name exists."""
    assert sorted(engine.__all__) == [
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
    for name in engine.__all__:
        assert hasattr(engine, name)


def test_lazy_exports_match_all() -> None:
    """Every name in __all__ resolves lazily, and nothing else does."""
    import pytest

    assert sorted(engine._EXPORTS) == sorted(engine.__all__)
    with pytest.raises(AttributeError):
        _ = engine.not_a_name
