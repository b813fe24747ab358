"""The task inbox and the action ledger: the one place the engine keeps state outside Temporal
(the dashboard's account history and the decision log share the database: ``workers.history``).

Temporal holds journey state, but two things cannot live there. Tasks are read and changed by
people (CSMs list their inbox by assignee across every account, acknowledge, complete), which
needs an indexed table, not thousands of workflow queries. And the action ledger records that
an email or webhook went out, right after the side effect, so an activity retried after a
worker crash finds the record and does not send again: Temporal retries an activity whose
completion it never heard of, so only a store outside it can remember that the send happened.

SQLite is the default (one file, nothing to run); PostgreSQL is used when
``PLAYBOOK_DATABASE_URL`` (or ``DATABASE_URL``) says so, for several workers on several
machines. Both get the same schema from the same ordered migrations, applied by whoever opens
the store first, under a lock so two workers starting together do not race. The API is
synchronous: activities call it through ``asyncio.to_thread``, the CLI directly. Workflow
code never touches it (it is I/O).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from workers._store_schema import MIGRATIONS
from workers._store_sql import (
    Backend,
    PostgresBackend,
    SqliteBackend,
    StoreError,
    StoreUnavailable,
    Transaction,
    redact,
)

__all__ = [
    "ACTIVE",
    "DATABASE_URL_ENV",
    "DATABASE_URL_FALLBACK_ENV",
    "DEFAULT_SQLITE_PATH",
    "MIGRATIONS",
    "NewTask",
    "Priority",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Task",
    "TaskKind",
    "TaskNotFound",
    "TaskScope",
    "TaskStateError",
    "TaskStatus",
    "database_url",
    "open_store",
    "redact",
]

DEFAULT_SQLITE_PATH = Path(".playbook") / "playbook.db"
"""Where the store lives when no ``DATABASE_URL`` is set, relative to the working directory."""

DATABASE_URL_ENV = "PLAYBOOK_DATABASE_URL"
# The name most hosting platforms and compose files already use; ours wins when both are set.
DATABASE_URL_FALLBACK_ENV = "DATABASE_URL"

TaskStatus = Literal["open", "acknowledged", "done", "closed"]
TaskScope = Literal["run", "ladder"]
TaskKind = Literal["task", "approval"]
Priority = Literal["low", "normal", "high", "urgent"]

ACTIVE: tuple[TaskStatus, ...] = ("open", "acknowledged")
"""Statuses that still ask something of someone: what an inbox lists by default."""


class TaskNotFound(StoreError):
    """No task has that id."""


class TaskStateError(StoreError):
    """The task is in a state that does not allow the change (e.g. acknowledging a done task)."""


class NewTask(BaseModel):
    """A task to open for a journey step or an escalation tier."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str = Field(min_length=1)
    """The action's key: creating twice with it returns the first task."""
    account_id: str
    workflow_id: str
    """The run that opened it (``playbook/{name}/{account}/{cycle}``): what closes it on exit."""
    playbook: str
    step: str
    scope: TaskScope = "run"
    """``ladder`` for escalation tasks, which close when the ladder stands down."""
    assignee_role: str
    """The role from the playbook: csm, manager, executive..."""
    assignee: str | None = None
    """The person, when the account names one for the role."""
    title: str
    description: str | None = None
    priority: Priority = "normal"
    due_at: AwareDatetime | None = None
    kind: TaskKind = "task"
    """``approval``: an approval step's request, answered by approving or rejecting it."""


class Task(NewTask):
    """A task as stored: what was asked, and what has happened to it since."""

    id: int
    status: TaskStatus
    created_at: AwareDatetime
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    completed_by: str | None = None
    completed_at: AwareDatetime | None = None
    closed_reason: str | None = None
    closed_at: AwareDatetime | None = None
    decision: Literal["approved", "rejected"] | None = None
    """An approval's answer, once its journey took it."""
    decision_note: str | None = None

    @field_validator(
        "due_at", "created_at", "acknowledged_at", "completed_at", "closed_at", mode="after"
    )
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # PostgreSQL answers in the session's time zone; everything we hand out is UTC.
        return value.astimezone(UTC) if value is not None else None


_COLUMNS = (
    "id, idempotency_key, account_id, workflow_id, playbook, step, scope, assignee_role,"
    " assignee, title, description, priority, due_at, status, created_at, acknowledged_by,"
    " acknowledged_at, completed_by, completed_at, closed_reason, closed_at, kind, decision,"
    " decision_note"
)


def database_url(environ: Mapping[str, str]) -> str | None:
    """The store URL from ``PLAYBOOK_DATABASE_URL``, else ``DATABASE_URL``; empty counts as
    unset, as compose files leave it."""
    return environ.get(DATABASE_URL_ENV) or environ.get(DATABASE_URL_FALLBACK_ENV) or None


def open_store(url: str | None = None) -> Store:
    """Open (and migrate) the store at ``url``.

    ``None`` or ``sqlite:///PATH`` is SQLite (``sqlite:///rel/path.db``,
    ``sqlite:////abs/path.db``, ``sqlite:///:memory:``); with no URL the file is
    ``.playbook/playbook.db``. ``postgresql://...`` (or ``postgres://``) is PostgreSQL.
    Raises :class:`StoreUnavailable` with a one-line message.
    """
    if url is None or url.startswith("sqlite:"):
        path = DEFAULT_SQLITE_PATH if url is None else _sqlite_path(url)
        backend: Backend = SqliteBackend(path)
    elif url.startswith(("postgresql://", "postgres://")):
        _check_password_encoded(url)
        backend = PostgresBackend(url)
    else:
        raise StoreUnavailable(
            f"{redact(url)!r} is not a database URL this engine knows:"
            " use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    store = Store(backend)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _check_password_encoded(url: str) -> None:
    """Refuse a password with a raw ``/`` or ``@``: the driver would end the password (or the
    host) there, try to connect somewhere else, and quote a piece of it in its error."""
    authority = url.partition("://")[2]
    authority = authority.split("?", 1)[0].split("#", 1)[0]
    userinfo = authority.rpartition("@")[0]
    _, colon, password = userinfo.partition(":")
    if colon and ("/" in password or "@" in password):
        raise StoreUnavailable(
            f"{redact(url)!r}: the password holds a raw '/' or '@'; percent-encode it"
            " in the URL (/ is %2F, @ is %40)"
        )


def _sqlite_path(url: str) -> Path | Literal[":memory:"]:
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise StoreUnavailable(
            f"{redact(url)!r}: a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    rest = url.removeprefix("sqlite:///")
    return ":memory:" if rest == ":memory:" else Path(rest)


class Store:
    """Tasks and the action ledger, on SQLite or PostgreSQL. Safe to share between threads."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return self._backend.name

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Schema -------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations this database has not seen; returns the schema version.

        Runs in one transaction holding the migration lock, so a second worker opening the
        store at the same moment waits and then finds nothing left to do.
        """
        with self._backend.transaction(migrating=True) as tx:
            tx.run(
                "CREATE TABLE IF NOT EXISTS schema_version"
                " (version INTEGER PRIMARY KEY, applied_at {ts} NOT NULL)"
            )
            rows = tx.run("SELECT MAX(version) AS version FROM schema_version")
            current = int(rows[0]["version"] or 0)
            if current > len(MIGRATIONS):
                raise StoreUnavailable(
                    f"the database {self._backend.where} has schema version {current}, newer"
                    f" than this engine knows ({len(MIGRATIONS)}): upgrade the engine"
                )
            for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements:
                    tx.run(statement)
                tx.run(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, _now()),
                )
            return len(MIGRATIONS)

    def schema_version(self) -> int:
        with self._backend.transaction() as tx:
            rows = tx.run("SELECT MAX(version) AS version FROM schema_version")
            return int(rows[0]["version"] or 0)

    def transaction(self, write: bool = False) -> contextlib.AbstractContextManager[Transaction]:
        """A transaction for modules that keep their own tables here (``workers.history``)."""
        return self._backend.transaction(write=write)

    # Tasks --------------------------------------------------------------------------------

    def create_task(self, new: NewTask) -> Task:
        """Open ``new``, or return the task already opened with its idempotency key.

        A retried activity (the worker died after the insert, before Temporal heard) gets
        the first task back, whatever it carries this time: one key, one task.
        """
        values = new.model_dump()
        names = list(values)
        with self._backend.transaction() as tx:
            tx.run(
                f"INSERT INTO tasks ({', '.join(names)}, status, created_at)"
                f" VALUES ({', '.join('?' for _ in names)}, 'open', ?)"
                " ON CONFLICT (idempotency_key) DO NOTHING",
                (*values.values(), _now()),
            )
            rows = tx.run(
                f"SELECT {_COLUMNS} FROM tasks WHERE idempotency_key = ?", (new.idempotency_key,)
            )
        return Task.model_validate(rows[0])

    def get(self, task_id: int) -> Task:
        """The task with ``task_id``; raises :class:`TaskNotFound`."""
        with self._backend.transaction() as tx:
            return self._get(tx, task_id)

    def list_tasks(
        self,
        assignee: str | None = None,
        account: str | None = None,
        status: TaskStatus | Literal["active", "all"] = "active",
        workflow_id: str | None = None,
    ) -> list[Task]:
        """Tasks, soonest due first (undated last), then oldest first.

        ``assignee`` matches the person or the role (``manager`` lists every manager task);
        ``status`` is one status, ``active`` (open or acknowledged) or ``all``.
        """
        where: list[str] = []
        params: list[Any] = []
        if assignee is not None:
            where.append("(assignee = ? OR assignee_role = ?)")
            params += [assignee, assignee]
        if account is not None:
            where.append("account_id = ?")
            params.append(account)
        if workflow_id is not None:
            where.append("workflow_id = ?")
            params.append(workflow_id)
        if status == "active":
            where.append("status IN (?, ?)")
            params += list(ACTIVE)
        elif status != "all":
            where.append("status = ?")
            params.append(status)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._backend.transaction() as tx:
            rows = tx.run(
                f"SELECT {_COLUMNS} FROM tasks{clause}"
                # `due_at IS NULL` first: SQLite sorts NULLs first and PostgreSQL last.
                " ORDER BY (due_at IS NULL), due_at, id",
                params,
            )
        return [Task.model_validate(row) for row in rows]

    def acknowledge(self, task_id: int, by: str) -> Task:
        """Mark the task acknowledged by ``by``.

        Acknowledging an acknowledged task changes nothing and returns it (so a command
        retried after Temporal was down can tell the journey again); a done or closed task
        raises :class:`TaskStateError`.
        """
        with self._backend.transaction(write=True) as tx:
            # The state check is in the WHERE clause, so two people acknowledging at once
            # cannot both win, on either database.
            tx.count(
                "UPDATE tasks SET status = 'acknowledged', acknowledged_by = ?,"
                " acknowledged_at = ? WHERE id = ? AND status = 'open'",
                (by, _now(), task_id),
            )
            task = self._get(tx, task_id)
        if task.status in ("done", "closed"):
            raise TaskStateError(f"task {task_id} is {_finished(task)}: nothing to acknowledge")
        return task

    def complete(self, task_id: int, by: str) -> Task:
        """Mark the task done by ``by`` (and acknowledged, if nobody had).

        Completing a done task changes nothing and returns it; a closed task raises
        :class:`TaskStateError`.
        """
        now = _now()
        with self._backend.transaction(write=True) as tx:
            tx.count(
                "UPDATE tasks SET status = 'done', completed_by = ?, completed_at = ?,"
                " acknowledged_by = COALESCE(acknowledged_by, ?),"
                " acknowledged_at = COALESCE(acknowledged_at, ?)"
                " WHERE id = ? AND status IN ('open', 'acknowledged') AND kind = 'task'",
                (by, now, by, now, task_id),
            )
            task = self._get(tx, task_id)
        if task.kind == "approval" and task.status != "done":
            raise TaskStateError(
                f"task {task_id} is an approval: answer it with `playbook tasks approve"
                f" {task_id}` or `playbook tasks reject {task_id}`"
            )
        if task.status == "closed":
            raise TaskStateError(f"task {task_id} is {_finished(task)}: it cannot be done")
        return task

    def close_open(self, workflow_id: str, scope: TaskScope | None, reason: str) -> int:
        """Close the run's open and acknowledged tasks with ``reason``; returns how many.

        Scope ``ladder`` closes only escalation tasks (the ladder stood down); ``run`` or
        ``None`` closes all of them (the journey ended). Done tasks stay done. Repeating
        it closes nothing more, so a retried activity is harmless.
        """
        where = "workflow_id = ? AND status IN (?, ?)"
        params: list[Any] = [workflow_id, *ACTIVE]
        if scope == "ladder":
            where += " AND scope = ?"
            params.append("ladder")
        with self._backend.transaction(write=True) as tx:
            return tx.count(
                f"UPDATE tasks SET status = 'closed', closed_reason = ?, closed_at = ?"
                f" WHERE {where}",
                (reason, _now(), *params),
            )

    def settle_approval(
        self,
        key: str,
        outcome: Literal["approved", "rejected", "timeout"],
        by: str | None,
        note: str | None,
    ) -> int:
        """Write how the approval request with ``key`` ended, as its journey decided: done
        with the answer, or closed for want of one; returns how many tasks changed (0 when
        it was already settled, so a retried activity is harmless)."""
        now = _now()
        where = " WHERE idempotency_key = ? AND kind = 'approval' AND status IN (?, ?)"
        with self._backend.transaction(write=True) as tx:
            if outcome == "timeout":
                return tx.count(
                    "UPDATE tasks SET status = 'closed', closed_reason = ?, closed_at = ?" + where,
                    ("no answer in time", now, key, *ACTIVE),
                )
            return tx.count(
                "UPDATE tasks SET status = 'done', decision = ?, decision_note = ?,"
                " completed_by = ?, completed_at = ?,"
                " acknowledged_by = COALESCE(acknowledged_by, ?),"
                " acknowledged_at = COALESCE(acknowledged_at, ?)" + where,
                (outcome, note, by, now, by, now, key, *ACTIVE),
            )

    @staticmethod
    def _get(tx: Transaction, task_id: int) -> Task:
        rows = tx.run(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        if not rows:
            raise TaskNotFound(f"no task {task_id}")
        return Task.model_validate(rows[0])

    # Action ledger ------------------------------------------------------------------------

    def ledger_get(self, key: str) -> str | None:
        """What was recorded for ``key`` (the side effect happened), or None."""
        with self._backend.transaction() as tx:
            rows = tx.run("SELECT detail FROM action_ledger WHERE idempotency_key = ?", (key,))
        return str(rows[0]["detail"]) if rows else None

    def ledger_put(self, key: str, kind: str, detail: str) -> None:
        """Record that the side effect for ``key`` happened; the first record for a key wins."""
        with self._backend.transaction() as tx:
            tx.run(
                "INSERT INTO action_ledger (idempotency_key, kind, detail, recorded_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                (key, kind, detail, _now()),
            )


def _now() -> datetime:
    return datetime.now(UTC)


def _finished(task: Task) -> str:
    if task.status == "done" and task.decision is not None:
        return f"already {task.decision} (by {task.completed_by})"
    if task.status == "done":
        return f"already done (by {task.completed_by})"
    return f"closed ({task.closed_reason})"
