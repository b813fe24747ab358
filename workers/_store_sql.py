"""The store's two SQL dialects: SQLite (one file, the default) and PostgreSQL (several
workers on several machines), behind one small interface.

``workers.store`` writes its SQL once, with ``?`` placeholders and ``{id}``/``{ts}`` column
types; a transaction here turns that into what its database speaks, and every database error
a person can meet (locked, unreachable, gone) into one :class:`StoreUnavailable` line.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.language._errors import PlaybookError
from workers.redaction import redact as redact_text
from workers.redaction import redact_url, secrets_of

if TYPE_CHECKING:
    import psycopg

# Any number: it only has to be the same in every process that migrates this database.
_MIGRATION_LOCK = 0x706C6179626F6F6B  # "playbook"


class StoreError(PlaybookError):
    """The store cannot do what was asked; the message is one line for a person."""


class StoreUnavailable(StoreError):
    """The database cannot be opened or reached, or its schema is newer than this engine."""


def redact(url: str) -> str:
    """``url`` without its password or secret parameters, for messages and logs."""
    return redact_url(url)


class Transaction(ABC):
    """One transaction; SQL is written with ``?`` placeholders and ``{id}``/``{ts}`` types."""

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Execute ``sql``; the rows it returns, as dicts (none for statements without)."""

    @abstractmethod
    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute ``sql``; how many rows it changed."""


class Backend(ABC):
    name: Literal["sqlite", "postgresql"]
    where: str

    @abstractmethod
    def transaction(
        self, write: bool = False, migrating: bool = False
    ) -> contextlib.AbstractContextManager[Transaction]:
        """A transaction; ``write`` takes SQLite's write lock up front, ``migrating`` the
        migration lock."""

    @abstractmethod
    def close(self) -> None: ...


class _SqliteTransaction(Transaction):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        sql = sql.replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT").replace("{ts}", "TEXT")
        # Timestamps are ISO 8601 text in UTC: sortable, readable in the sqlite3 shell, and
        # parsed back by the models (the sqlite3 module's own datetime adapter is deprecated).
        values = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in params]
        return self._connection.execute(sql, values)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, params)
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path | Literal[":memory:"]) -> None:
        self.where = str(path)
        try:
            if isinstance(path, Path):
                path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are ours (BEGIN ... COMMIT), not the module's.
            # One connection shared by the activity threads, behind a lock.
            self._connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._connection.execute("PRAGMA foreign_keys = ON")
            if isinstance(path, Path):
                # Readers (the CLI) do not block the worker's writes, nor it theirs.
                _set_wal(self._connection)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the SQLite store {path}: {exc}") from None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self, write: bool = False, migrating: bool = False) -> Iterator[Transaction]:
        with self._lock:
            try:
                # IMMEDIATE takes the write lock now: two processes migrating, or acknowledging
                # the same task, go one after the other instead of failing on upgrade.
                self._connection.execute("BEGIN IMMEDIATE" if write or migrating else "BEGIN")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"the SQLite store {self.where}: {exc}") from None
            try:
                yield _SqliteTransaction(self._connection)
                self._connection.execute("COMMIT")
            except BaseException as exc:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    # Locked past the busy timeout, disk full, file gone: one line, not a trace.
                    raise StoreUnavailable(f"the SQLite store {self.where}: {exc}") from None
                raise

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _PostgresTransaction(Transaction):
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        sql = sql.replace("{id}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        sql = sql.replace("{ts}", "TIMESTAMPTZ").replace("?", "%s")
        return self._connection.execute(sql, list(params))

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, params)
        if cursor.description is None:
            return []
        return list(cursor.fetchall())

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self._url = url
        self.where = redact(url)
        # The driver's own messages may quote the URL's parts ("invalid percent-encoded token").
        self._secrets = secrets_of(url)
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg.rows import dict_row

        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            # Autocommit: each call opens its own explicit transaction (conn.transaction()).
            self._connection = psycopg.connect(
                self._url, autocommit=True, row_factory=dict_row, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot reach PostgreSQL at {self.where}: {self._said(exc)}"
            ) from None
        return self._connection

    @contextlib.contextmanager
    def transaction(self, write: bool = False, migrating: bool = False) -> Iterator[Transaction]:
        import psycopg

        with self._lock:
            connection = self._connect()
            try:
                with connection.transaction():
                    if migrating:
                        # Held to the end of the transaction: concurrent migrators queue here.
                        connection.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                    yield _PostgresTransaction(connection)
            except psycopg.OperationalError as exc:
                # The server went away: drop the connection so the next call reconnects.
                connection.close()
                raise StoreUnavailable(
                    f"lost PostgreSQL at {self.where}: {self._said(exc)}"
                ) from None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()

    def _said(self, exc: Exception) -> str:
        return redact_text(_first_line(exc), self._secrets)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _set_wal(connection: sqlite3.Connection) -> None:
    # Switching to WAL needs the database to itself, and SQLite answers "locked" at once,
    # without its busy timeout, while another process opening the new file holds it; WAL is
    # persistent, so only the first openers of a new file can meet this. Wait it out.
    for _ in range(300):
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.1)
    connection.execute("PRAGMA journal_mode = WAL")
