"""Conflict records: what the merge discarded or hid of what users wrote, readable from SQL.

Every record is a function of the log's entries (never of arrival order), so all replicas hold the
same set (their ``id`` may differ). Kinds:

==================  ======================================================================================
``duplicate_key``   two entries inserted one key concurrently; the row shows the later insert's values
                    (per column, last writer wins) and the record names the earlier insert by its clock
                    (:func:`clock_key`); its entry and values are read from the log when the record is
                    read, so a replica that pruned that entry (a light node) holds the same record.
                    Kept while that row life lasts.
``lost_write``      a row change that no longer applies: its table was dropped by a concurrent DROP
                    TABLE, or it was written against a table definition whose primary key lost.
``value``           a stored value the column's current (contested) type cannot show as it is: the
                    record holds the stored value and ``detail`` what SQL shows instead.
``schema``          a definition the schema merge did not keep (a primary key, a column or an index).
``unique``          (from the settlement, :mod:`p2pdb.store.settle`) a row that hides a UNIQUE value,
                    or is hidden, because an earlier row holds that value; it lasts while the clash does.
==================  ======================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from p2pdb.crdt import SqlValue
from p2pdb.log import CID, peer_id
from p2pdb.schema import SchemaConflict


def clock_key(time: int, author: bytes) -> bytes:
    """What a ``duplicate_key`` record keeps in its ``cid`` column: the losing insert's clock."""
    return b"\x00clock" + time.to_bytes(8, "big") + author


CONFLICTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_conflicts (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " tbl TEXT NOT NULL, pk BLOB NOT NULL DEFAULT x'', subject TEXT NOT NULL, detail TEXT NOT NULL,"
    " lost TEXT NOT NULL DEFAULT '{}', cid BLOB NOT NULL DEFAULT x'', time INTEGER NOT NULL DEFAULT 0,"
    " author BLOB NOT NULL DEFAULT x'', UNIQUE (kind, tbl, pk, subject, cid))",
    "CREATE INDEX IF NOT EXISTS _p2pdb_conflicts_row ON _p2pdb_conflicts (tbl, pk)",
)


def _json(values: Mapping[str, SqlValue]) -> str:
    def plain(value: SqlValue) -> Any:
        return {"$hex": value.hex()} if isinstance(value, bytes) else value

    return json.dumps({k: plain(v) for k, v in sorted(values.items())}, sort_keys=True)


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    kind: str
    table: str
    key: list[Any]
    subject: str
    detail: str
    lost: dict[str, Any]
    cid: str | None
    author: str | None
    time: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table": self.table,
            "key": self.key,
            "subject": self.subject,
            "detail": self.detail,
            "lost": self.lost,
            "cid": self.cid,
            "author": self.author,
            "clock": self.time,
        }


def record_json(value: Any) -> str:
    """JSON text of a conflict record's key or values (bytes as ``{"$hex": ...}``, as the store
    writes them): what ``P2PDB_CONFLICTS`` and ``/v1/conflicts`` show."""

    def plain(item: Any) -> Any:
        if isinstance(item, bytes):
            return {"$hex": item.hex()}
        return str(item)

    return json.dumps(value, default=plain, sort_keys=True)


class Conflicts:
    """Reads and writes conflict records inside the caller's transaction."""

    __slots__ = ("_conn", "value_tables")

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        for statement in CONFLICTS_SCHEMA:
            conn.execute(statement)
        # Records of an older version kept the earlier insert's entry id and values: name it by clock.
        for rowid, time, author in list(
            conn.execute(
                "SELECT id, time, author FROM _p2pdb_conflicts WHERE kind = 'duplicate_key' AND length(cid) = 36"
            )
        ):
            conn.execute(
                "UPDATE OR IGNORE _p2pdb_conflicts SET cid = ?, lost = '{}' WHERE id = ?",
                (clock_key(int(time), bytes(author)), rowid),
            )
        #: Tables that have ``value`` records: only their row writes look for stale ones.
        self.value_tables: set[str] = set()
        self.reload()

    def reload(self) -> None:
        self.value_tables = {
            t for (t,) in self._conn.execute("SELECT DISTINCT tbl FROM _p2pdb_conflicts WHERE kind = 'value'")
        }

    def record(
        self,
        kind: str,
        table: str,
        key: bytes,
        subject: str,
        detail: str,
        lost: Mapping[str, SqlValue],
        cid: bytes = b"",
        time: int = 0,
        author: bytes = b"",
    ) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO _p2pdb_conflicts (kind, tbl, pk, subject, detail, lost, cid, time, author)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, table, key, subject, detail, _json(lost), cid, time, author),
        )
        if kind == "value":
            self.value_tables.add(table)

    def clear_row(self, kind: str, table: str, key: bytes) -> None:
        self._conn.execute(
            "DELETE FROM _p2pdb_conflicts WHERE kind = ? AND tbl = ? AND pk = ?", (kind, table, key)
        )

    def clear_table(self, table: str, kinds: Sequence[str]) -> None:
        marks = ", ".join("?" for _ in kinds)
        self._conn.execute(
            f"DELETE FROM _p2pdb_conflicts WHERE tbl = ? AND kind IN ({marks})", (table, *kinds)
        )
        if "value" in kinds:
            self.value_tables.discard(table)

    def replace_schema(self, conflicts: Iterable[SchemaConflict]) -> None:
        self._conn.execute("DELETE FROM _p2pdb_conflicts WHERE kind = 'schema'")
        for c in conflicts:
            self.record("schema", c.table, b"", f"{c.kind}:{c.subject}", c.detail, {}, b"", c.time, c.author)

    def rows(self) -> list[tuple[Any, ...]]:
        """Raw records (without ``id``), sorted: what replicas must agree on."""
        return sorted(
            tuple(r)
            for r in self._conn.execute(
                "SELECT kind, tbl, pk, subject, detail, lost, cid, time, author FROM _p2pdb_conflicts"
            )
        )

    def read(self, decode_key: Any) -> list[ConflictRecord]:
        out = []
        for kind, tbl, key, subject, detail, lost, cid, time, author in self._conn.execute(
            "SELECT kind, tbl, pk, subject, detail, lost, cid, time, author FROM _p2pdb_conflicts ORDER BY id"
        ):
            out.append(
                ConflictRecord(
                    kind,
                    tbl,
                    decode_key(bytes(key)) if key else [],
                    subject,
                    detail,
                    json.loads(lost),
                    str(CID(bytes(cid))) if cid and kind != "duplicate_key" else None,
                    peer_id(bytes(author)) if author else None,
                    int(time),
                )
            )
        return out
