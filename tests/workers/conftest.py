"""A real PostgreSQL server on loopback, and a ``store`` fixture for each database we support.

The store must behave the same on SQLite and PostgreSQL, so its tests take ``store`` and run
once per database. The PostgreSQL server is Debian's (``.ci/run`` installs it where it is
missing), started by this fixture in a temporary directory and stopped at the end. It is
never skipped: a machine without it fails here, saying what to install.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from workers.store import Store, open_store


def _server_bin() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    # Debian keeps the server's programs off PATH, one directory per major version.
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        pytest.fail(
            "PostgreSQL server programs (initdb, pg_ctl) not found: install Debian's"
            " `postgresql` package, as .ci/run does",
            pytrace=False,
        )
    return versions[-1].parent


def _as_server_user() -> tuple[list[str], str | None]:
    """A command prefix that runs as an unprivileged user, and its name (initdb refuses root)."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"], user
    pytest.fail("running as root with neither a postgres nor a nobody user", pytrace=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL cluster on 127.0.0.1 (trust auth), for the session."""
    bin_dir = _server_bin()
    prefix, user = _as_server_user()
    # Not pytest's tmp_path: it lives under a root-only directory the server user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="playbook-pg-"))
    if user is not None:
        shutil.chown(root, user=user)
    data, log = root / "data", root / "server.log"
    port = _free_port()

    def run(*command: str) -> None:
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{server_log}",
                pytrace=False,
            )

    run(
        str(bin_dir / "initdb"),
        *("-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"),
        "--no-sync",
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a new SQLite file, or a new database on the server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A freshly migrated store, once on SQLite and once on PostgreSQL."""
    with open_store(store_url) as opened:
        yield opened
