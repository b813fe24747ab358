"""The store's schema, as the ordered migrations every database runs (``workers.store``).

Kept apart from the store's queries so the schema's history reads in one place: each entry
is one version, applied once per database, in order, by ``Store.migrate``.
"""

from __future__ import annotations

# The schema, as an ordered list of migrations. Append; never edit one that has shipped, since
# databases out there already ran it. `{id}` and `{ts}` are the only dialect differences.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE tasks (
            id {id},
            idempotency_key TEXT NOT NULL UNIQUE,
            account_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            playbook TEXT NOT NULL,
            step TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('run', 'ladder')),
            assignee_role TEXT NOT NULL,
            assignee TEXT,
            title TEXT NOT NULL,
            description TEXT,
            priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
            due_at {ts},
            status TEXT NOT NULL
                CHECK (status IN ('open', 'acknowledged', 'done', 'closed')),
            created_at {ts} NOT NULL,
            acknowledged_by TEXT,
            acknowledged_at {ts},
            completed_by TEXT,
            completed_at {ts},
            closed_reason TEXT,
            closed_at {ts}
        )""",
        "CREATE INDEX tasks_by_assignee ON tasks (assignee, status)",
        "CREATE INDEX tasks_by_role ON tasks (assignee_role, status)",
        "CREATE INDEX tasks_by_account ON tasks (account_id, status)",
        "CREATE INDEX tasks_by_workflow ON tasks (workflow_id, status)",
        """CREATE TABLE action_ledger (
            idempotency_key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            recorded_at {ts} NOT NULL
        )""",
    ],
    # 2: what the dashboard needs and Temporal does not keep (workers/history.py).
    [
        """CREATE TABLE account_changes (
            id {id},
            idempotency_key TEXT NOT NULL UNIQUE,
            account_id TEXT NOT NULL,
            at {ts} NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('arr', 'segment', 'tier', 'lifecycle')),
            old_value TEXT,
            new_value TEXT
        )""",
        "CREATE INDEX account_changes_by_time ON account_changes (kind, at)",
        "CREATE INDEX account_changes_by_account ON account_changes (account_id, kind, at)",
        """CREATE TABLE journey_outcomes (
            workflow_id TEXT PRIMARY KEY,
            account_id TEXT NOT NULL,
            playbook TEXT NOT NULL,
            version INTEGER NOT NULL,
            stage TEXT NOT NULL,
            cycle INTEGER NOT NULL,
            enrolled_at {ts} NOT NULL,
            ended_at {ts} NOT NULL,
            outcome TEXT NOT NULL,
            ended_by TEXT NOT NULL,
            highest_tier TEXT,
            ack_seconds TEXT NOT NULL
        )""",
        "CREATE INDEX journey_outcomes_by_end ON journey_outcomes (ended_at)",
    ],
    # 3: the decision log, which outlives Temporal's retention (workers/history.py).
    [
        """CREATE TABLE decisions (
            id {id},
            idempotency_key TEXT NOT NULL UNIQUE,
            account_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            seq INTEGER,
            at {ts} NOT NULL,
            kind TEXT NOT NULL,
            rule TEXT NOT NULL,
            playbook TEXT NOT NULL,
            version INTEGER NOT NULL,
            hash TEXT NOT NULL,
            seen TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX decisions_by_account ON decisions (account_id, at)",
        "CREATE INDEX decisions_by_kind ON decisions (kind, at)",
    ],
    # 4: NPS and CSAT component readings join the changes. SQLite cannot alter a CHECK, so the
    # table is rebuilt (same rows in the same order; ids are generated anew, nothing refers
    # to them).
    [
        """CREATE TABLE account_changes_4 (
            id {id},
            idempotency_key TEXT NOT NULL UNIQUE,
            account_id TEXT NOT NULL,
            at {ts} NOT NULL,
            kind TEXT NOT NULL
                CHECK (kind IN ('arr', 'segment', 'tier', 'lifecycle', 'nps', 'csat')),
            old_value TEXT,
            new_value TEXT
        )""",
        """INSERT INTO account_changes_4
            (idempotency_key, account_id, at, kind, old_value, new_value)
            SELECT idempotency_key, account_id, at, kind, old_value, new_value
            FROM account_changes ORDER BY id""",
        "DROP TABLE account_changes",
        "ALTER TABLE account_changes_4 RENAME TO account_changes",
        "CREATE INDEX account_changes_by_time ON account_changes (kind, at)",
        "CREATE INDEX account_changes_by_account ON account_changes (account_id, kind, at)",
    ],
    # 5: people in the loop. Approval steps ask through the inbox (a task's kind, and the
    # answer it got); reviewed emails wait in the outbox (workers/outbox.py).
    [
        "ALTER TABLE tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'task'"
        " CHECK (kind IN ('task', 'approval'))",
        "ALTER TABLE tasks ADD COLUMN decision TEXT CHECK (decision IN ('approved', 'rejected'))",
        "ALTER TABLE tasks ADD COLUMN decision_note TEXT",
        """CREATE TABLE outbox (
            id {id},
            idempotency_key TEXT NOT NULL UNIQUE,
            account_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            playbook TEXT NOT NULL,
            step TEXT NOT NULL,
            template TEXT NOT NULL,
            reviewer_role TEXT NOT NULL,
            reviewer TEXT,
            recipients TEXT NOT NULL,
            cc TEXT NOT NULL,
            subject TEXT NOT NULL,
            text TEXT NOT NULL,
            html TEXT,
            status TEXT NOT NULL CHECK (status IN ('waiting', 'sent', 'discarded', 'closed')),
            created_at {ts} NOT NULL,
            due_at {ts},
            original_subject TEXT,
            original_text TEXT,
            edited_by TEXT,
            edited_at {ts},
            answered_by TEXT,
            answered_at {ts},
            note TEXT,
            sent_at {ts}
        )""",
        "CREATE INDEX outbox_by_reviewer ON outbox (reviewer, status)",
        "CREATE INDEX outbox_by_role ON outbox (reviewer_role, status)",
        "CREATE INDEX outbox_by_account ON outbox (account_id, status)",
    ],
]
