"""Per-row bookkeeping (causal length, per-column versions) and the SQL that writes merged rows.

``_p2pdb_rows(tbl, pk, state)`` keeps one :class:`~p2pdb.crdt.RowState` per row ever seen, keyed
by the table name and the canonical dag-cbor encoding of the primary-key values. Statements are
built from quoted identifiers only and cached per (table, columns); values are always bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import apsw

from p2pdb.crdt import MergeOutcome, RowState, SqlValue, decode_state, encode_state
from p2pdb.log import codec
from p2pdb.store.schema import TableSpec, quote

ROWS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_rows ("
    " tbl TEXT NOT NULL, pk BLOB NOT NULL, state BLOB NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID"
)


def pk_key(pk: Sequence[SqlValue]) -> bytes:
    return codec.encode(list(pk))


class RowStates:
    """Reads and writes row states on one connection, inside the caller's transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        conn.execute(ROWS_SCHEMA)

    def get(self, table: str, pk: Sequence[SqlValue]) -> RowState | None:
        for (blob,) in self._conn.execute(
            "SELECT state FROM _p2pdb_rows WHERE tbl = ? AND pk = ?", (table, pk_key(pk))
        ):
            return decode_state(blob)
        return None

    def put(self, table: str, pk: Sequence[SqlValue], state: RowState) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_rows (tbl, pk, state) VALUES (?, ?, ?)",
            (table, pk_key(pk), encode_state(state)),
        )

    def drop_table(self, table: str) -> None:
        self._conn.execute("DELETE FROM _p2pdb_rows WHERE tbl = ?", (table,))


@lru_cache(maxsize=1024)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    # Plain INSERT (the row's older life is deleted first): a clash on a secondary UNIQUE index must
    # raise, not silently delete the other row as OR REPLACE would (see Database._apply_row).
    return f"INSERT INTO {quote(table)} ({cols}) VALUES ({marks})"


@lru_cache(maxsize=1024)
def _update_sql(table: str, columns: tuple[str, ...], pk: tuple[str, ...]) -> str:
    sets = ", ".join(f"{quote(c)} = ?" for c in columns)
    where = " AND ".join(f"{quote(c)} = ?" for c in pk)
    return f"UPDATE {quote(table)} SET {sets} WHERE {where}"


@lru_cache(maxsize=1024)
def _delete_sql(table: str, pk: tuple[str, ...]) -> str:
    where = " AND ".join(f"{quote(c)} = ?" for c in pk)
    return f"DELETE FROM {quote(table)} WHERE {where}"


def write_outcome(
    conn: apsw.Connection,
    spec: TableSpec,
    pk: Sequence[SqlValue],
    outcome: MergeOutcome,
    *,
    existed: bool = True,
) -> None:
    """Make the SQL row match a merge outcome (remote apply). ``existed``: the row had an SQL row
    before (an older life) that an insert must replace."""
    if outcome.action == "insert":
        row: Mapping[str, SqlValue] = {**outcome.row, **dict(zip(spec.pk, pk, strict=True))}
        known = tuple(c for c in spec.column_names if c in row)
        if existed:
            conn.execute(_delete_sql(spec.name, spec.pk), tuple(pk))
        conn.execute(_insert_sql(spec.name, known), tuple(row[c] for c in known))
    elif outcome.action == "update":
        cols = tuple(c for c in spec.column_names if c in outcome.changed and c not in spec.pk)
        if cols:
            conn.execute(_update_sql(spec.name, cols, spec.pk), (*(outcome.changed[c] for c in cols), *pk))
    elif outcome.action == "delete":
        conn.execute(_delete_sql(spec.name, spec.pk), tuple(pk))
