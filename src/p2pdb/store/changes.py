"""The change feed of one database: every change applied, local or from a peer, with an id.

Changes are recorded in ``_p2pdb_changes`` in the same SQLite transaction as the data they describe,
so the feed never shows a change that was rolled back and never misses one that committed. Ids
are strictly increasing on this node and never reused, also after pruning; a rolled-back
transaction may leave a gap. The feed numbers its rows itself instead of asking SQLite for an
AUTOINCREMENT key, which rewrote a page of ``sqlite_sequence`` in every commit (one of about eight
pages a single-row commit wrote): the highest id ever given lives in ``_p2pdb_changes_high``,
written only when rows are deleted (files made before keep their AUTOINCREMENT table, and their
``sqlite_sequence`` counts too).

An event (``Change.to_json``) is ``{id, db, table, op, pk, row, changed, cid, author, clock, wall}``:
``op`` is ``insert``, ``update``, ``delete`` or ``ddl``; ``pk`` the primary-key values; ``row`` the
row's values after the change (``{}`` for a delete; the schema change for ``ddl``); ``changed`` the
columns the change set; ``cid`` the log entry; ``author`` its author's peer id; ``clock`` its Lamport
time; ``wall`` its author's wall clock when writing (ms since the epoch; null for entries from
before entries carried it). BLOB values appear as ``{"$base64": "..."}``.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import apsw
import msgspec

from p2pdb.log import CID, peer_id

log = logging.getLogger(__name__)

CHANGES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_changes (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
    " op TEXT NOT NULL, pk TEXT NOT NULL, row TEXT NOT NULL, changed TEXT NOT NULL, cid BLOB NOT NULL,"
    " author BLOB NOT NULL, time INTEGER NOT NULL, wall INTEGER)"
)
#: The highest id given before rows were deleted (one row), so that ids never go back.
HIGH_SCHEMA = "CREATE TABLE IF NOT EXISTS _p2pdb_changes_high (k INTEGER PRIMARY KEY, id INTEGER NOT NULL)"
DEFAULT_RETENTION = 1_000_000


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, CID):
        return str(value)
    return value


_ENCODER = msgspec.json.Encoder()


def wall_text(wall: int | None) -> str | None:
    """A wall time in ms since the epoch as MySQL's DATETIME(3) text, in UTC (None: unknown)."""
    if not wall:
        return None
    moment = datetime.datetime.fromtimestamp(wall / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{wall % 1000:03d}"


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _dumps(value: Any) -> str:
    """Compact JSON. BLOBs become ``{"$base64": ...}``; the common case (scalars only) skips the walk."""
    kind = type(value)
    values = (
        value if kind is list else value.values() if kind is dict or isinstance(value, Mapping) else value
    )
    scalars = _SCALARS
    if not all(type(v) in scalars for v in values):
        value = _jsonable(value)
    return _ENCODER.encode(value).decode("utf-8")


def json_text(value: Any) -> str:
    """Compact JSON of a value made of SQL values (BLOBs as ``{"$base64": ...}``)."""
    return _dumps(value)


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    db: str
    table: str
    op: str
    pk: list[Any]
    row: dict[str, Any]
    changed: list[str]
    cid: str
    author: str
    clock: int
    wall: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "db": self.db,
            "table": self.table,
            "op": self.op,
            "pk": self.pk,
            "row": self.row,
            "changed": self.changed,
            "cid": self.cid,
            "author": self.author,
            "clock": self.clock,
            "wall": self.wall,
        }


class ChangeFeed:
    """Records changes inside the store's transactions and reads them back."""

    def __init__(self, conn: apsw.Connection, db_name: str, retention: int = DEFAULT_RETENTION) -> None:
        self._conn = conn
        self.db_name = db_name
        self.retention = retention
        conn.execute(CHANGES_SCHEMA)
        conn.execute(HIGH_SCHEMA)
        columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(_p2pdb_changes)")}
        if "wall" not in columns:  # a file from before entries carried a wall time
            conn.execute("ALTER TABLE _p2pdb_changes ADD COLUMN wall INTEGER")
        self._next_id = self._highest_given() + 1
        self._pending: list[tuple[str, str, str, str, str]] = []
        self._changed: dict[tuple[str, ...], str] = {}  # JSON of changed-column lists met
        self._since_prune = 0
        self.listeners: list[Callable[[int], None]] = []

    def record(
        self, table: str, op: str, pk: Sequence[Any], row: Mapping[str, Any], changed: Iterable[str]
    ) -> None:
        names = tuple(changed)
        listed = self._changed.get(names)
        if listed is None:  # the same few column lists, row after row
            if len(self._changed) >= 1024:
                self._changed.clear()
            listed = self._changed[names] = _dumps(sorted(names))
        self._pending.append((table, op, _dumps(list(pk)), _dumps(row), listed))

    def mark(self) -> int:
        return len(self._pending)

    def discard_since(self, mark: int) -> None:
        del self._pending[mark:]

    def reset(self) -> None:
        self._pending.clear()

    def flush(self, cid: CID, author: bytes, time: int, wall: int = 0) -> None:
        """Write the pending changes, attributed to one log entry (inside the caller's transaction);
        ``wall`` is the entry's wall time (0: unknown)."""
        if not self._pending:
            return
        at = wall or None
        first = self._next_id
        rows = [(first + i, *event, bytes(cid), author, time, at) for i, event in enumerate(self._pending)]
        self._conn.executemany(
            "INSERT INTO _p2pdb_changes (id, tbl, op, pk, row, changed, cid, author, time, wall)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._next_id = first + len(rows)  # not given back on a rollback: a gap, never a reuse
        self._since_prune += len(rows)
        self._pending.clear()
        if self._since_prune >= 1000:
            self._since_prune = 0
            self.forget("id <= ?", (self._next_id - 1 - self.retention,))

    def forget(self, where: str, params: Sequence[Any] = ()) -> None:
        """Delete the events matching ``where`` (a constant condition of the store's own; values go
        in ``params``) inside the caller's transaction, first recording the highest id given, so
        that a table emptied of its newest rows never gives them again."""
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_changes_high (k, id) VALUES (0, ?)", (self._next_id - 1,)
        )
        self._conn.execute(f"DELETE FROM _p2pdb_changes WHERE {where}", params)

    def _highest_given(self) -> int:
        """The highest id this feed ever gave: its rows, the record :meth:`forget` keeps, and the
        ``sqlite_sequence`` of a file whose table still has an AUTOINCREMENT key."""
        highest = self.last_id()
        for (value,) in self._conn.execute("SELECT id FROM _p2pdb_changes_high WHERE k = 0"):
            highest = max(highest, int(value))
        has_sequence = next(
            iter(self._conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'"))
        )[0]
        if has_sequence:
            for (value,) in self._conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = '_p2pdb_changes'"
            ):
                highest = max(highest, int(value or 0))
        return highest

    def notify(self) -> None:
        """Tell listeners (feeds, webhooks) the newest id, after a commit: the last one given,
        without a query (an entry rejected after its events were numbered may leave it unused)."""
        if self.listeners:
            last = self._next_id - 1
            for listener in list(self.listeners):
                try:
                    listener(last)
                except Exception:  # the changes are committed: a consumer's failure is its own
                    log.exception("change feed listener failed")

    def last_id(self) -> int:
        for (value,) in self._conn.execute("SELECT max(id) FROM _p2pdb_changes"):
            return int(value or 0)
        return 0

    def first_id(self) -> int:
        for (value,) in self._conn.execute("SELECT min(id) FROM _p2pdb_changes"):
            return int(value or 0)
        return 0

    def count(self, after: int, *, table: str | None = None) -> int:
        """How many retained changes have ``id > after`` (of one table, if given)."""
        sql = "SELECT count(*) FROM _p2pdb_changes WHERE id > ?" + (
            " AND tbl = ?" if table is not None else ""
        )
        params: tuple[Any, ...] = (after, table) if table is not None else (after,)
        for (value,) in self._conn.execute(sql, params):
            return int(value)
        return 0

    def history(self, table: str | None = None, key: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Every retained change (of ``table``, compared without case; of the row whose primary-key
        values are ``key``) as the columns of ``information_schema.P2PDB_HISTORY`` after its
        schema: ID, TABLE_NAME, ROW_KEY, OP, ROW_DATA, CHANGED_COLUMNS, AUTHOR (peer id), CLOCK,
        ENTRY_CID, WALL_TIME (UTC, or NULL)."""
        sql = "SELECT id, tbl, pk, op, row, changed, author, time, cid, wall FROM _p2pdb_changes"
        where: list[str] = []
        params: list[Any] = []
        if table is not None:
            where.append("tbl = ? COLLATE NOCASE")
            params.append(table)
        if key is not None:
            where.append("pk = ?")
            params.append(_dumps(list(key)))
        if where:
            sql += " WHERE " + " AND ".join(where)
        names: dict[bytes, str] = {}
        out = []
        for id_, tbl, pk, op, row, changed, author, time, cid, wall in self._conn.execute(
            sql + " ORDER BY id", params
        ):
            author_text = names.get(author)
            if author_text is None:
                author_text = names[author] = peer_id(bytes(author))
            cid_text = names.get(cid)
            if cid_text is None:
                cid_text = names[cid] = str(CID(bytes(cid)))
            out.append((id_, tbl, pk, op, row, changed, author_text, time, cid_text, wall_text(wall)))
        return out

    def read(self, after: int, *, table: str | None = None, limit: int = 1000) -> list[Change]:
        """Changes with ``id > after`` in id order (optionally of one table), at most ``limit``."""
        sql = "SELECT id, tbl, op, pk, row, changed, cid, author, time, wall FROM _p2pdb_changes WHERE id > ?"
        params: list[Any] = [after]
        if table is not None:
            sql += " AND tbl = ?"
            params.append(table)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        out = []
        names: dict[bytes, str] = {}  # rows of one entry share its CID and author: convert once
        for id_, tbl, op, pk, row, changed, cid, author, time, wall in self._conn.execute(sql, params):
            cid_text = names.get(cid)
            if cid_text is None:
                cid_text = names[cid] = str(CID(bytes(cid)))
            author_text = names.get(author)
            if author_text is None:
                author_text = names[author] = peer_id(bytes(author))
            out.append(
                Change(
                    id_,
                    self.db_name,
                    tbl,
                    op,
                    json.loads(pk),
                    json.loads(row),
                    json.loads(changed),
                    cid_text,
                    author_text,
                    time,
                    wall,
                )
            )
        return out
