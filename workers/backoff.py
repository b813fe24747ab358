"""How long an action waits before its next try after a transient failure, from settings.

A journey's retry policy lives in workflow code, which cannot read the worker's environment;
so the workflow only says "retry without limit" (``engine.journeys._options``) and the activity
names the pause itself, through ``ApplicationError.next_retry_delay``, from these settings.
The pause doubles from ``PLAYBOOK_RETRY_INITIAL`` up to ``PLAYBOOK_RETRY_MAX_INTERVAL``: an SMTP
or chat outage of any length ends in delivery at most that long after the server is back.
A pause the server asked for (``Retry-After``) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

INITIAL_VAR = "PLAYBOOK_RETRY_INITIAL"
MAXIMUM_VAR = "PLAYBOOK_RETRY_MAX_INTERVAL"
# 2 ** 40 s is far past any cap; beyond it the doubling only risks an overflow.
_MAX_DOUBLINGS = 40


class RetrySettings(BaseModel):
    """The backoff of actions that failed for a reason that may pass (seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial: float = Field(1.0, gt=0, le=3600)
    """The pause after the first failed try."""
    maximum: float = Field(60.0, gt=0, le=86400)
    """The longest pause: how late at most an action goes out after the server is back."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetrySettings:
        """Settings from the environment; raises ``ValueError`` with one line naming the
        variable when a value is bad."""
        names = {"initial": INITIAL_VAR, "maximum": MAXIMUM_VAR}
        values = {key: env[var] for key, var in names.items() if env.get(var)}
        try:
            settings = cls.model_validate(values)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            var = names[str(first["loc"][0])]
            raise ValueError(f"{var}: {first['msg']}, got {env.get(var)!r}") from None
        if settings.initial > settings.maximum:
            raise ValueError(
                f"{INITIAL_VAR} ({settings.initial:g}) is longer than {MAXIMUM_VAR}"
                f" ({settings.maximum:g})"
            )
        return settings

    def delay(self, attempt: int) -> timedelta:
        """The pause after try number ``attempt`` (1 for the first) failed."""
        doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
        return timedelta(seconds=min(self.initial * 2**doublings, self.maximum))


def with_delay(error: BaseException, delay: timedelta) -> ApplicationError:
    """``error`` as a retryable ``ApplicationError`` that waits ``delay`` before the next try,
    unless it names its own pause (a server's ``Retry-After``).

    Benign: a transient failure is expected during an outage and the action logs it in one
    line; without this the SDK logs every try again with a traceback.
    """
    if isinstance(error, ApplicationError):
        return ApplicationError(
            error.message,
            *error.details,
            type=error.type,
            next_retry_delay=error.next_retry_delay or delay,
            category=ApplicationErrorCategory.BENIGN,
        )
    # Anything else (the store down, a lost connection) keeps its class name as its type,
    # as Temporal would have recorded it.
    return ApplicationError(
        str(error),
        type=type(error).__name__,
        next_retry_delay=delay,
        category=ApplicationErrorCategory.BENIGN,
    )
