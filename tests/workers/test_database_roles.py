"""The compose stack's database roles (deploy/postgres/roles.sql), run for real on PostgreSQL:
Temporal and the engine each get a role that owns its own databases and nothing more, the job
is safe to repeat (it sets the passwords again, so a new one rotates it), and the engine's
store works as its role.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from workers.store import NewTask, open_store

SCRIPT = Path(__file__).parents[2] / "deploy" / "postgres" / "create-roles.sh"
DATABASES = ("temporal", "temporal_visibility", "playbook")


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    assert found, "psql not found: install Debian's postgresql package"
    return found[-1].parent


@pytest.fixture
def server(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL, with the roles and databases of the job removed afterwards."""
    yield postgres_url
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        for name in DATABASES:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        for role in ("temporal", "playbook"):
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def _run_job(server: str, temporal: str, playbook: str) -> subprocess.CompletedProcess[str]:
    where = urlsplit(server)
    env = {
        **os.environ,
        "PATH": f"{_bin()}{os.pathsep}{os.environ['PATH']}",
        "PGHOST": str(where.hostname),
        "PGPORT": str(where.port),
        "PGUSER": "postgres",
        "TEMPORAL_DB_PASSWORD": temporal,
        "PLAYBOOK_DB_PASSWORD": playbook,
    }
    return subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_each_role_owns_its_databases_and_nothing_more(server: str) -> None:
    first = _run_job(server, "t-secret-1", "p-secret-1")
    assert first.returncode == 0, first.stdout + first.stderr
    again = _run_job(server, "t-secret-2", "p-secret-1")  # every `up` runs it again
    assert again.returncode == 0, again.stdout + again.stderr

    with psycopg.connect(server, autocommit=True) as admin:
        roles = admin.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
            " rolbypassrls, rolcanlogin, rolpassword FROM pg_authid"
            " WHERE rolname IN ('temporal', 'playbook') ORDER BY rolname"
        ).fetchall()
        assert [r[:7] for r in roles] == [
            ("playbook", False, False, False, False, False, True),
            ("temporal", False, False, False, False, False, True),
        ]
        assert all(r[7].startswith("SCRAM-SHA-256$") for r in roles)  # passwords set, hashed
        owners = dict(
            admin.execute(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database"
                " WHERE datname IN ('temporal', 'temporal_visibility', 'playbook')"
            ).fetchall()
        )
        assert owners == {
            "temporal": "temporal",
            "temporal_visibility": "temporal",
            "playbook": "playbook",
        }
        for role, database, allowed in [
            ("temporal", "temporal", True),
            ("temporal", "temporal_visibility", True),
            ("temporal", "playbook", False),
            ("playbook", "playbook", True),
            ("playbook", "temporal", False),
            ("playbook", "temporal_visibility", False),
        ]:
            connect = admin.execute(
                "SELECT has_database_privilege(%s, %s, 'CONNECT')", (role, database)
            ).fetchone()
            assert connect == (allowed,), (role, database)

    # The server's trust authentication stands in for the password here; privileges apply.
    base = server.rsplit("@", 1)[1].rsplit("/", 1)[0]
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(f"postgresql://playbook@{base}/temporal").close()
    with open_store(f"postgresql://playbook@{base}/playbook") as store:  # migrates as its owner
        task = store.create_task(
            NewTask(
                idempotency_key="roles/1",
                account_id="acme",
                workflow_id="playbook/x/acme/1",
                playbook="x",
                step="call",
                scope="run",
                assignee_role="csm",
                assignee=None,
                title="Call",
                description=None,
                priority="normal",
                due_at=None,
            )
        )
        assert task.id == 1


def test_the_job_refuses_to_run_without_its_passwords(server: str) -> None:
    refused = _run_job(server, "", "p-secret-1")
    assert refused.returncode != 0
    assert "TEMPORAL_DB_PASSWORD environment variable is required" in refused.stderr
