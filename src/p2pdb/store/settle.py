"""UNIQUE settlement: which row shows a UNIQUE value that several rows hold (docs/crdt.md "UNIQUE").

Rows written concurrently on different peers can hold one value of a UNIQUE index (other than the
primary key, which is the row's identity). The merge state keeps every row's true values; what SQL shows
is a function of those values alone, so every replica shows the same, whatever order rows arrived in:

1. Rank the live rows by *claim*: the highest version (Lamport time, author key) among the row's cells of
   UNIQUE-indexed columns, then the row key. A lower claim means the row took its values earlier.
2. Go through the rows by rank. A row whose (non-NULL) values of an index equal those of a row already
   shown **loses** that index: its columns of that index show NULL; if one of them is NOT NULL, the row is
   hidden instead (it shows nothing and claims nothing). Otherwise the row is shown and claims its values.

So the first writer keeps a UNIQUE value (as in MySQL, where the second INSERT would fail), a hidden value
comes back as soon as the row holding it changes or goes, and every hide and reveal is a change event.
Rows that do not show all their values are listed in ``_p2pdb_settled`` with their true value keys, which
is how a freed value finds the rows waiting for it.

Values are equal as the index's columns compare them: a column under the case-insensitive collation
(``P2PDB_CI``) compares by :func:`p2pdb.store.collation.fold_key`, so 'a' and 'A ' are one value, and
the value key holds the folded text (a ``_p2pdb_settled`` value key is then that folded text).

Settlement runs on a *component*: the rows linked to the changed row by equal values of some UNIQUE index,
transitively; rows outside it cannot influence it, so settling it alone gives the same result as settling
the whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import apsw

from p2pdb.crdt import SqlValue
from p2pdb.log import Clock, codec
from p2pdb.schema import IndexSpec, TableSpec, quote
from p2pdb.store.collation import fold_key, index_folds
from p2pdb.store.rows import RowStates, SqlRows, pk_from_key, pk_key

SETTLED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_settled (tbl TEXT NOT NULL, pk BLOB NOT NULL, idx TEXT NOT NULL,"
    " vkey BLOB NOT NULL, lost INTEGER NOT NULL, hidden INTEGER NOT NULL, PRIMARY KEY (tbl, pk, idx))"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS _p2pdb_settled_value ON _p2pdb_settled (tbl, idx, vkey)",
)
NO_CLAIM = Clock(0, b"")
_INT64 = (-(2**63), 2**63 - 1)

Row = dict[str, SqlValue]
#: Given a row key: (its key values, true row by column name, claim) or None when the row is not alive.
Project = Callable[[tuple[SqlValue, ...]], "tuple[Row, Clock] | None"]
#: Change feed: (op, key values, row after, changed columns)
Record = Callable[[str, tuple[SqlValue, ...], Row, list[str]], None]


def _norm(value: SqlValue) -> SqlValue:
    # SQLite's UNIQUE treats 1 and 1.0 (and 0.0 and -0.0) as equal.
    if type(value) is float and value.is_integer() and _INT64[0] <= value <= _INT64[1]:
        return int(value)
    return value


def value_key(values: Sequence[SqlValue], folds: Sequence[bool] = ()) -> bytes:
    """The identity of a UNIQUE value; ``folds[i]``: column i compares under ``P2PDB_CI``."""
    out = [_norm(v) for v in values]
    for i, fold in enumerate(folds):
        if fold and type(out[i]) is str:
            out[i] = fold_key(out[i])  # type: ignore[arg-type]
    return codec.encode(out)


def index_key(spec: TableSpec, index: IndexSpec, values: Sequence[SqlValue]) -> bytes:
    """:func:`value_key` of ``values`` of ``index`` of table ``spec``."""
    return value_key(values, index_folds(spec, index.columns))


def index_values(index: IndexSpec, row: Mapping[str, SqlValue]) -> tuple[SqlValue, ...] | None:
    values = tuple(row.get(c) for c in index.columns)
    return None if any(v is None for v in values) else values


@dataclass(slots=True)
class Candidate:
    key: bytes
    pk: tuple[SqlValue, ...]
    row: Row
    claim: Clock


@dataclass(slots=True)
class Display:
    """What SQL shows of a row: ``row`` (None: hidden) and the indexes it lost."""

    row: Row | None
    lost: tuple[str, ...]

    @property
    def full(self) -> bool:
        return self.row is not None and not self.lost


def greedy(
    candidates: Iterable[Candidate], indexes: Sequence[IndexSpec], spec: TableSpec
) -> dict[bytes, Display]:
    """The settlement of a set of rows (see the module docstring), by row key."""
    not_null = {c.name for c in spec.columns if c.not_null}
    folds = {index.ident: index_folds(spec, index.columns) for index in indexes}
    claimed: set[tuple[str, bytes]] = set()
    out: dict[bytes, Display] = {}
    for cand in sorted(candidates, key=lambda c: (c.claim, c.key)):
        lost = []
        for index in indexes:
            values = index_values(index, cand.row)
            if values is not None and (index.ident, value_key(values, folds[index.ident])) in claimed:
                lost.append(index)
        if any(c in not_null for index in lost for c in index.columns):
            out[cand.key] = Display(None, tuple(i.ident for i in lost))
            continue
        shown = dict(cand.row)
        for index in lost:
            for column in index.columns:
                shown[column] = None
        for index in indexes:
            values = index_values(index, shown)
            if values is not None:
                claimed.add((index.ident, value_key(values, folds[index.ident])))
        out[cand.key] = Display(shown, tuple(i.ident for i in lost))
    return out


def claim_of(versions: Mapping[str, Clock], indexes: Sequence[IndexSpec]) -> Clock:
    """A row's claim: the newest version among its cells of UNIQUE-indexed columns (by identity)."""
    claim = NO_CLAIM
    for index in indexes:
        for column in index.column_idents:
            version = versions.get(column)
            if version is not None and version > claim:
                claim = version
    return claim


class Settler:
    """Settles UNIQUE values on one connection, inside the caller's transaction."""

    def __init__(self, conn: apsw.Connection, states: RowStates, rows: SqlRows) -> None:
        self._conn = conn
        self._states = states
        self._rows = rows
        for statement in SETTLED_SCHEMA:
            conn.execute(statement)
        #: Tables with rows in ``_p2pdb_settled``; only their changes look for waiting rows.
        self.active: set[str] = set()
        self.reload()

    def reload(self) -> None:
        self.active = {t for (t,) in self._conn.execute("SELECT DISTINCT tbl FROM _p2pdb_settled")}

    def is_settled(self, table: str, key: bytes) -> bool:
        """True if the row does not show all its values (it is listed in ``_p2pdb_settled``)."""
        if table not in self.active:
            return False
        rows = self._conn.execute(
            "SELECT 1 FROM _p2pdb_settled WHERE tbl = ? AND pk = ? LIMIT 1", (table, key)
        )
        return next(iter(rows), None) is not None

    def forget(self, table: str, key: bytes) -> None:
        """A row that is gone waits for nothing."""
        if table in self.active:
            self._conn.execute("DELETE FROM _p2pdb_settled WHERE tbl = ? AND pk = ?", (table, key))

    def clear_table(self, table: str) -> None:
        self._conn.execute("DELETE FROM _p2pdb_settled WHERE tbl = ?", (table,))
        self.active.discard(table)

    def records(self) -> list[tuple[str, bytes, str, bytes, int, int]]:
        rows = self._conn.execute(
            "SELECT tbl, pk, idx, vkey, lost, hidden FROM _p2pdb_settled ORDER BY 1, 2, 3"
        )
        return [
            (str(t), bytes(k), str(i), bytes(v), int(lost), int(hidden)) for t, k, i, v, lost, hidden in rows
        ]

    # -- one component --------------------------------------------------------------------------

    def settle(
        self,
        spec: TableSpec,
        indexes: Sequence[IndexSpec],
        project: Project,
        seeds: Iterable[tuple[SqlValue, ...]],
        freed: Iterable[tuple[str, bytes]],
        record: Record,
    ) -> None:
        """Settle the component of ``seeds`` (rows whose values changed; their SQL rows are as before
        the change, or already deleted when the row is gone) and of ``freed`` (index values a changed row
        held before). Writes the SQL rows, ``_p2pdb_settled`` and change events of every row whose
        display changes."""
        uniques = [i for i in indexes if i.unique]
        members: dict[bytes, Candidate] = {}
        queue: list[tuple[str, bytes, tuple[SqlValue, ...] | None]] = [(i, v, None) for i, v in freed]
        seen: set[tuple[str, bytes]] = set()

        def add(pk: tuple[SqlValue, ...]) -> None:
            key = pk_key(pk)
            if key in members:
                return
            projected = project(pk)
            if projected is None:
                return
            row, claim = projected
            members[key] = Candidate(key, pk, row, claim)
            for index in uniques:
                values = index_values(index, row)
                if values is not None:
                    queue.append((index.ident, index_key(spec, index, values), values))

        for pk in seeds:
            add(pk)
        by_ident = {i.ident: i for i in uniques}
        while queue:
            index_ident, vkey, values = queue.pop()
            if (index_ident, vkey) in seen or index_ident not in by_ident:
                continue
            seen.add((index_ident, vkey))
            for pk in self._holders(spec, by_ident[index_ident], vkey, values):
                add(pk)
        displays = greedy(members.values(), uniques, spec)
        self.write(spec, uniques, members, displays, record)

    def _holders(
        self, spec: TableSpec, index: IndexSpec, vkey: bytes, values: tuple[SqlValue, ...] | None
    ) -> list[tuple[SqlValue, ...]]:
        """Rows whose true values of ``index`` are ``values``: shown ones (SQL) and waiting ones."""
        found: list[tuple[SqlValue, ...]] = []
        if values is None:
            values = tuple(codec.decode(vkey))
        where = " AND ".join(f"{quote(c)} = ?" for c in index.columns)
        if spec.pk:
            select = ", ".join(quote(c) for c in spec.pk)
            found.extend(
                tuple(r)
                for r in self._conn.execute(f"SELECT {select} FROM {quote(spec.name)} WHERE {where}", values)
            )
        else:
            for (rowid,) in list(
                self._conn.execute(f"SELECT rowid FROM {quote(spec.name)} WHERE {where}", values)
            ):
                rid = self._states.rid_of(spec.ident, rowid)
                if rid is not None:
                    found.append((rid,))
        if spec.ident in self.active:
            for (key,) in self._conn.execute(
                "SELECT pk FROM _p2pdb_settled WHERE tbl = ? AND idx = ? AND vkey = ?",
                (spec.ident, index.ident, vkey),
            ):
                found.append(pk_from_key(bytes(key)))
        return found

    def write(
        self,
        spec: TableSpec,
        uniques: Sequence[IndexSpec],
        members: Mapping[bytes, Candidate],
        displays: Mapping[bytes, Display],
        record: Record,
    ) -> None:
        """Make SQL and ``_p2pdb_settled`` show ``displays`` for ``members``, with change events."""
        changed: list[tuple[Candidate, Row | None, Row | None]] = []
        for key, cand in members.items():
            before = self._rows.fetch(spec, cand.pk)
            after = displays[key].row
            if before != after:
                changed.append((cand, before, after))
        # Remove first, then write: no intermediate state breaks a UNIQUE index.
        for cand, before, _ in changed:
            if before is not None:
                self._rows.delete(spec, cand.pk)
        for cand, _, after in changed:
            if after is not None:
                self._rows.insert(spec, cand.pk, after)
        self.store(spec, uniques, members, displays)
        for cand, before, after in changed:
            if after is None:
                record("delete", cand.pk, {}, [])
            elif before is None:
                record("insert", cand.pk, after, list(after))
            else:
                record("update", cand.pk, after, [c for c in after if before.get(c) != after[c]])

    def store(
        self,
        spec: TableSpec,
        uniques: Sequence[IndexSpec],
        members: Mapping[bytes, Candidate],
        displays: Mapping[bytes, Display],
    ) -> None:
        """``_p2pdb_settled`` rows of ``members``: one per (row, UNIQUE index with non-NULL values) for
        each row that does not show all its values."""
        table = spec.ident
        if table in self.active:
            self._conn.executemany(
                "DELETE FROM _p2pdb_settled WHERE tbl = ? AND pk = ?", [(table, key) for key in members]
            )
        rows = []
        for key, display in displays.items():
            if display.full:
                continue
            cand = members[key]
            for index in uniques:
                values = index_values(index, cand.row)
                if values is not None:
                    lost = int(index.ident in display.lost)
                    vkey = index_key(spec, index, values)
                    rows.append((table, key, index.ident, vkey, lost, int(display.row is None)))
        if rows:
            self._conn.executemany("INSERT INTO _p2pdb_settled VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.active.add(table)
