"""Durable CDC state: webhook registrations and the cursor of every consumer, in one small SQLite file.

A *cursor* is the id of the last change a consumer has handed over (a webhook got a 2xx, a broker
acknowledged), per database: ``(owner, db) -> id``. Owners are ``webhook:<id>`` and ``sink:<name>``.
Cursors only move forward after an acknowledgement, which makes delivery at-least-once: after a
crash, a consumer resumes after its cursor and may resend what was acknowledged but not yet recorded.

The file (``<data-dir>/cdc.sqlite``) is created 0600 because it holds webhook secrets. WAL with
``synchronous=NORMAL`` keeps every recorded cursor across a killed process. Several objects (the
webhook manager and the sink runner) may open the same file. Writes are tiny and run on the event
loop.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, url TEXT NOT NULL, db TEXT NOT NULL,"
    " tbl TEXT, secret TEXT NOT NULL, created_at TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, last_success_at TEXT)",
    "CREATE TABLE IF NOT EXISTS cursors (owner TEXT NOT NULL, db TEXT NOT NULL, cursor INTEGER NOT NULL,"
    " PRIMARY KEY (owner, db))",
    "CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
)


@dataclass(slots=True)
class WebhookRecord:
    """A registered webhook and its delivery status."""

    id: str
    url: str
    db: str
    table: str | None
    secret: str
    created_at: str
    failures: int = 0
    last_error: str | None = None
    last_success_at: str | None = None


class CursorStore:
    """Registrations and cursors in SQLite. Not thread-safe: use it from the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        # Used from the event loop only, but it may be built on another thread than the loop's.
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    # -- cursors --------------------------------------------------------------------------------

    def cursors(self, owner: str) -> dict[str, int]:
        rows = self._conn.execute("SELECT db, cursor FROM cursors WHERE owner = ?", (owner,))
        return {db: int(cursor) for db, cursor in rows}

    def set_cursor(self, owner: str, db: str, cursor: int) -> None:
        self._conn.execute(
            "INSERT INTO cursors (owner, db, cursor) VALUES (?, ?, ?)"
            " ON CONFLICT (owner, db) DO UPDATE SET cursor = excluded.cursor",
            (owner, db, cursor),
        )

    def known(self, owner: str) -> bool:
        """Whether ``owner`` was recorded before (see :meth:`remember`)."""
        row = self._conn.execute("SELECT 1 FROM owners WHERE owner = ?", (owner,)).fetchone()
        return row is not None

    def remember(self, owner: str, created_at: str) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO owners (owner, created_at) VALUES (?, ?)", (owner, created_at)
        )

    # -- webhooks -------------------------------------------------------------------------------

    def webhooks(self) -> list[WebhookRecord]:
        rows = self._conn.execute(
            "SELECT id, url, db, tbl, secret, created_at, failures, last_error, last_success_at"
            " FROM webhooks ORDER BY created_at, id"
        )
        return [WebhookRecord(*row) for row in rows]

    def add_webhook(self, record: WebhookRecord, cursor: int) -> None:
        """Record a webhook and its starting cursor together."""
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute(
                "INSERT INTO webhooks (id, url, db, tbl, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (record.id, record.url, record.db, record.table, record.secret, record.created_at),
            )
            self.set_cursor(f"webhook:{record.id}", record.db, cursor)

    def update_webhook(self, record: WebhookRecord) -> None:
        """Record a webhook's delivery status (failures, last error, last success)."""
        self._conn.execute(
            "UPDATE webhooks SET failures = ?, last_error = ?, last_success_at = ? WHERE id = ?",
            (record.failures, record.last_error, record.last_success_at, record.id),
        )

    def delete_webhook(self, webhook_id: str) -> bool:
        with self._conn:
            self._conn.execute("BEGIN")
            deleted = self._conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount
            self._conn.execute("DELETE FROM cursors WHERE owner = ?", (f"webhook:{webhook_id}",))
        return deleted > 0
