"""The task store and action ledger: the same tests, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workers.store import (
    MIGRATIONS,
    NewTask,
    Store,
    StoreUnavailable,
    TaskNotFound,
    TaskStateError,
    open_store,
)


def new_task(key: str = "playbook/rescue/acme/1/action-plan/1", **changes: object) -> NewTask:
    values: dict[str, object] = {
        "idempotency_key": key,
        "account_id": "acme",
        "workflow_id": "playbook/rescue/acme/1",
        "playbook": "rescue",
        "step": "action-plan",
        "assignee_role": "csm",
        "assignee": "jane@example.com",
        "title": "Build a CSM action plan",
        "priority": "high",
        "due_at": datetime(2026, 11, 3, 9, tzinfo=UTC),
    }
    return NewTask.model_validate({**values, **changes})


def test_migrations_run_once(store_url: str) -> None:
    """Opening again (another worker, the CLI) finds the schema current and keeps the data."""
    with open_store(store_url) as first:
        assert first.schema_version() == len(MIGRATIONS)
        first.create_task(new_task())
    with open_store(store_url) as second:
        assert second.schema_version() == len(MIGRATIONS)
        assert [t.idempotency_key for t in second.list_tasks()] == [new_task().idempotency_key]


def test_workers_opening_together_migrate_once(store_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            open_store(store_url).close()
        except Exception as exc:  # noqa: BLE001 (any failure in a thread must fail the test)
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_store(store_url) as store:
        assert store.schema_version() == len(MIGRATIONS)


def test_create_is_idempotent_on_the_key(store: Store) -> None:
    first = store.create_task(new_task())
    assert first.status == "open"
    assert first.created_at.tzinfo is not None
    assert first.due_at == datetime(2026, 11, 3, 9, tzinfo=UTC)
    again = store.create_task(new_task(title="A retry carries the same key"))
    assert again == first
    assert len(store.list_tasks(status="all")) == 1
    other = store.create_task(new_task("playbook/rescue/acme/1/action-plan/2"))
    assert other.id != first.id
    assert store.get(first.id) == first


def test_times_come_back_in_utc(store: Store) -> None:
    due = datetime(2026, 11, 3, 11, tzinfo=UTC) + timedelta(hours=0)
    local = due.astimezone(datetime.now().astimezone().tzinfo)
    task = store.create_task(new_task(due_at=local))
    assert task.due_at == due
    assert task.due_at is not None and task.due_at.utcoffset() == timedelta(0)


def test_list_filters_by_assignee_role_and_account(store: Store) -> None:
    jane = store.create_task(new_task("k1"))
    manager = store.create_task(
        new_task("k2", assignee_role="manager", assignee=None, scope="ladder", due_at=None)
    )
    globex = store.create_task(
        new_task("k3", account_id="globex", due_at=datetime(2026, 11, 1, tzinfo=UTC))
    )
    assert [t.id for t in store.list_tasks()] == [globex.id, jane.id, manager.id]
    assert [t.id for t in store.list_tasks(assignee="jane@example.com")] == [globex.id, jane.id]
    assert [t.id for t in store.list_tasks(assignee="manager")] == [manager.id]
    assert [t.id for t in store.list_tasks(account="acme")] == [jane.id, manager.id]
    assert [t.id for t in store.list_tasks(assignee="csm", account="globex")] == [globex.id]
    assert store.list_tasks(assignee="nobody") == []


def test_list_hides_finished_tasks_unless_asked(store: Store) -> None:
    done = store.create_task(new_task("k1"))
    acked = store.create_task(new_task("k2"))
    store.complete(done.id, "jane")
    store.acknowledge(acked.id, "jane")
    assert [t.id for t in store.list_tasks()] == [acked.id]
    assert {t.id for t in store.list_tasks(status="all")} == {done.id, acked.id}
    assert [t.id for t in store.list_tasks(status="done")] == [done.id]


def test_acknowledge_then_complete(store: Store) -> None:
    task = store.create_task(new_task())
    acked = store.acknowledge(task.id, "jane")
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "jane")
    assert acked.acknowledged_at is not None
    # A second acknowledgement (a retried command) keeps the first.
    assert store.acknowledge(task.id, "bob") == acked
    done = store.complete(task.id, "bob")
    assert (done.status, done.completed_by, done.acknowledged_by) == ("done", "bob", "jane")
    assert done.completed_at is not None
    assert store.complete(task.id, "carol") == done


def test_complete_without_acknowledging_counts_as_acknowledged(store: Store) -> None:
    task = store.create_task(new_task())
    done = store.complete(task.id, "jane")
    assert (done.status, done.acknowledged_by, done.completed_by) == ("done", "jane", "jane")
    assert done.acknowledged_at == done.completed_at


def test_wrong_state_and_unknown_id_are_clear(store: Store) -> None:
    task = store.create_task(new_task())
    store.complete(task.id, "jane")
    with pytest.raises(TaskStateError, match=rf"^task {task.id} is already done \(by jane\)"):
        store.acknowledge(task.id, "bob")
    with pytest.raises(TaskNotFound, match=r"^no task 999$"):
        store.acknowledge(999, "bob")
    with pytest.raises(TaskNotFound, match=r"^no task 999$"):
        store.complete(999, "bob")
    with pytest.raises(TaskNotFound, match=r"^no task 999$"):
        store.get(999)


def test_close_open_by_scope_with_reason(store: Store) -> None:
    run = "playbook/rescue/acme/1"
    step = store.create_task(new_task("k1"))
    tier = store.create_task(new_task("k2", scope="ladder", step="escalation.manager"))
    finished = store.create_task(new_task("k3"))
    store.complete(finished.id, "jane")
    elsewhere = store.create_task(new_task("k4", workflow_id="playbook/rescue/acme/2"))

    assert store.close_open(run, "ladder", "health recovered") == 1
    closed = store.get(tier.id)
    assert (closed.status, closed.closed_reason) == ("closed", "health recovered")
    assert closed.closed_at is not None
    assert store.get(step.id).status == "open"

    assert store.close_open(run, "run", "goal reached: health.score >= 70") == 1
    assert store.get(step.id).closed_reason == "goal reached: health.score >= 70"
    assert store.get(tier.id).closed_reason == "health recovered"
    assert store.get(finished.id).status == "done"
    assert store.get(elsewhere.id).status == "open"
    assert store.close_open(run, "run", "again") == 0
    with pytest.raises(TaskStateError, match=r"is closed \(goal reached"):
        store.complete(step.id, "jane")


def test_close_open_without_scope_closes_everything(store: Store) -> None:
    store.create_task(new_task("k1"))
    acked = store.create_task(new_task("k2", scope="ladder"))
    store.acknowledge(acked.id, "jane")
    assert store.close_open("playbook/rescue/acme/1", None, "stopped by operator") == 2
    assert store.list_tasks() == []


def test_ledger_records_once(store: Store) -> None:
    assert store.ledger_get("k") is None
    store.ledger_put("k", "email", "sent to jane@example.com")
    store.ledger_put("k", "email", "a retry must not overwrite")
    assert store.ledger_get("k") == "sent to jane@example.com"
    assert store.ledger_get("other") is None


def test_threads_share_a_store(store: Store) -> None:
    """Activities call the store from worker threads at once; each create lands once."""
    keys = [f"k{i % 10}" for i in range(40)]
    threads = [threading.Thread(target=store.create_task, args=(new_task(k),)) for k in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list_tasks(status="all")) == 10


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "is not a database URL this engine knows"),
        ("sqlite://db.sqlite", "a SQLite URL is sqlite:///relative/path.db"),
        ("postgresql://me:secret@127.0.0.1:1/db", "cannot reach PostgreSQL at"),
    ],
)
def test_bad_urls_are_one_line(url: str, message: str) -> None:
    with pytest.raises(StoreUnavailable, match=message) as raised:
        open_store(url)
    assert "\n" not in str(raised.value)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://me@127.0.0.1:1/db?password=s3cr3tpw", "cannot reach PostgreSQL at"),
        ("postgresql://me:s3cr3tpw@127.0.0.1:1/db?sslpassword=s3cr3tpw", "cannot reach"),
        ("postgresql://me:s3cr/3tpw@127.0.0.1:1/db", "percent-encode it"),
        ("postgresql://me:s3cr@3tpw@127.0.0.1:1/db", "percent-encode it"),
        ("postgresql://me:s3cr%zz3tpw@127.0.0.1:1/db", "cannot reach PostgreSQL at"),
        ("sqlite://me:s3cr3tpw@db.sqlite", "a SQLite URL"),
        ("mysql://me:s3cr3tpw@db/x?password=s3cr3tpw", "not a database URL"),
    ],
)
def test_no_store_error_shows_a_password(url: str, message: str) -> None:
    """A password in the user info (raw '/' or '@' included, or one the driver quotes back as
    an invalid token) or in the query never reaches the message."""
    with pytest.raises(StoreUnavailable, match=message) as raised:
        open_store(url)
    assert "s3cr" not in str(raised.value) and "3tpw" not in str(raised.value)
    assert "127.0.0.1:1" in str(raised.value) or "db" in str(raised.value)


def test_sqlite_by_default_in_dot_playbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store(None) as store:
        assert store.dialect == "sqlite"
        store.create_task(new_task())
    database = tmp_path / ".playbook" / "playbook.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT COUNT(*) FROM tasks").fetchone() == (1,)
    with open_store("sqlite:///:memory:") as memory:
        assert memory.list_tasks() == []


def test_a_newer_schema_is_refused(store_url: str) -> None:
    """An older engine must not write to a database a newer one has migrated."""
    with open_store(store_url) as store:
        assert store.schema_version() == len(MIGRATIONS)
        with store._backend.transaction() as tx:
            tx.run(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (99, datetime.now(UTC)),
            )
    with pytest.raises(StoreUnavailable, match="has schema version 99, newer than this engine"):
        open_store(store_url)
