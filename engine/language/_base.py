"""The base of every language model: strict, closed, immutable, documented.

``extra="forbid"`` turns a typo into an error instead of a silently ignored key; ``strict``
stops ``"yes"`` becoming ``True`` or ``"5"`` becoming ``5`` behind the author's back; attribute
docstrings become the field descriptions an editor shows from the JSON Schema.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
SLUG = re.compile(SLUG_PATTERN)

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64)]
EventName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=64)]
"""A lifecycle event's name, e.g. contract.signed."""
"""A lowercase name: letters, digits, ``-`` and ``_``, starting with a letter or digit."""

Scalar = str | bool | int | float
"""A constant in a condition: text, a number or true/false."""


class Model(BaseModel):
    """Base class of the playbook language: unknown keys and loose types are errors."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
        populate_by_name=False,
        hide_input_in_errors=True,
    )
