"""The pause between tries of a failed action: doubling, capped, from the settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from workers.backoff import RetrySettings, with_delay
from workers.settings import Settings


def test_the_pause_doubles_up_to_the_cap_and_never_overflows() -> None:
    """1, 2, 4... seconds, then the maximum for as many tries as an outage lasts."""
    retry = RetrySettings(initial=1, maximum=60)
    assert [retry.delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 8)] == [1, 2, 4, 32, 60, 60]
    assert retry.delay(10_000) == timedelta(seconds=60)


def test_settings_from_the_environment() -> None:
    """Defaults of 1 s and 60 s; each variable sets its value; a bad one is one line."""
    assert Settings.from_env({}).retry == RetrySettings(initial=1, maximum=60)
    env = {"PLAYBOOK_RETRY_INITIAL": "0.5", "PLAYBOOK_RETRY_MAX_INTERVAL": "30"}
    assert Settings.from_env(env).retry == RetrySettings(initial=0.5, maximum=30)
    with pytest.raises(ValueError, match=r"^PLAYBOOK_RETRY_MAX_INTERVAL: .*'soon'$"):
        RetrySettings.from_env({"PLAYBOOK_RETRY_MAX_INTERVAL": "soon"})
    with pytest.raises(ValueError, match=r"PLAYBOOK_RETRY_INITIAL: .*greater than 0"):
        RetrySettings.from_env({"PLAYBOOK_RETRY_INITIAL": "0"})
    with pytest.raises(ValueError, match="is longer than PLAYBOOK_RETRY_MAX_INTERVAL"):
        RetrySettings.from_env({"PLAYBOOK_RETRY_INITIAL": "90"})


def test_a_server_asked_pause_is_kept_and_other_errors_take_the_settings() -> None:
    """Retry-After wins over the backoff; any other error gets it, keeps its type, and is
    benign (the SDK does not log a traceback for each try of an outage)."""
    asked = ApplicationError("busy", type="WebhookUnavailable", next_retry_delay=timedelta(30))
    kept = with_delay(asked, timedelta(seconds=2))
    assert kept.next_retry_delay == timedelta(30) and kept.type == "WebhookUnavailable"
    plain = with_delay(ApplicationError("down", type="SmtpUnavailable"), timedelta(seconds=2))
    assert plain.next_retry_delay == timedelta(seconds=2) and plain.message == "down"
    other = with_delay(ConnectionResetError("reset"), timedelta(seconds=4))
    assert other.type == "ConnectionResetError" and other.next_retry_delay == timedelta(seconds=4)
    assert not other.non_retryable
    assert {e.category for e in (kept, plain, other)} == {ApplicationErrorCategory.BENIGN}
