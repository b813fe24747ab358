"""No command prints a database password, however the URL carries it.

``playbook settings``, ``playbook tasks`` and ``playbook worker`` each meet the store URL;
a password in the user info (with a raw ``/`` or ``@`` its writer did not encode) or in a
``?password=`` parameter must not reach the terminal.
"""

from __future__ import annotations

import pytest

from tests.playbook_cli.test_cli_worker import environment, playbook

SECRET = "s3cr3tpw"
URLS = [
    f"postgresql://app@127.0.0.1:1/cs?password={SECRET}",
    f"postgresql://app:{SECRET}@127.0.0.1:1/cs?sslmode=disable",
    f"postgresql://app:{SECRET[:4]}/{SECRET[4:]}@127.0.0.1:1/cs",
    f"postgresql://app:{SECRET[:4]}@{SECRET[4:]}@127.0.0.1:1/cs",
]


def _env(url: str) -> dict[str, str]:
    clean = {k: v for k, v in environment().items() if not k.startswith("PLAYBOOK_")}
    return {**clean, "DATABASE_URL": url}


def _leaks(text: str) -> bool:
    return SECRET[:4] in text or SECRET[4:] in text


@pytest.mark.parametrize("url", URLS)
def test_settings_masks_the_database_password(url: str) -> None:
    """`playbook settings` shows the host and database, not the password."""
    shown = playbook("settings", env=_env(url))
    assert shown.returncode == 0, shown.stderr
    assert not _leaks(shown.stdout + shown.stderr)
    assert "127.0.0.1:1/cs" in shown.stdout


@pytest.mark.parametrize("url", URLS)
def test_tasks_and_worker_errors_mask_the_database_password(url: str) -> None:
    """The one-line errors of `playbook tasks` and `playbook worker` name the server only."""
    for command in (["tasks"], ["worker", "--address", "127.0.0.1:1"]):
        failed = playbook(*command, env=_env(url))
        assert failed.returncode == 1, failed
        assert len(failed.stderr.splitlines()) == 1, failed.stderr
        assert not _leaks(failed.stderr + failed.stdout), failed.stderr
        assert "127.0.0.1:1" in failed.stderr
