"""The error-code list is a contract: the engine and docs/errors.md must agree."""

from __future__ import annotations

import re
from pathlib import Path

from engine import Code

DOC = Path(__file__).parents[3] / "docs" / "errors.md"


def test_every_code_is_documented_and_every_documented_code_exists() -> None:
    """docs/errors.md lists exactly the codes of engine.Code, each once."""
    documented = re.findall(r"^\| `([A-Z_]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(documented) == len(set(documented)), "a code is documented twice"
    assert sorted(documented) == sorted(code.value for code in Code)
