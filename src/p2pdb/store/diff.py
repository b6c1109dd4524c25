"""The difference between two versions of a database: rows added, changed and removed, per table.

Rows are matched by their primary key. A table without one is compared as a multiset of whole
rows: a changed row shows as one removed and one added. A table that exists in one version only
shows all its rows as added or removed. Values are compared as SQL shows them.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from p2pdb.schema import TableSpec, ident, quote
from p2pdb.store.database import Database


@dataclass(frozen=True, slots=True)
class RowDiff:
    table: str
    key: list[Any]
    change: str  # "added", "changed" or "removed"
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    #: the columns whose values differ (every column of an added or removed row)
    columns: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "key": self.key,
            "change": self.change,
            "old": self.old,
            "new": self.new,
            "columns": self.columns,
        }


def diff(old: Database, new: Database) -> list[RowDiff]:
    """What changed from ``old`` to ``new``, by table name, then key."""
    before = {ident(t.name): t for t in old.tables()}
    after = {ident(t.name): t for t in new.tables()}
    out: list[RowDiff] = []
    for name in sorted(set(before) | set(after)):
        spec_old, spec_new = before.get(name), after.get(name)
        table = (spec_new or spec_old).name  # type: ignore[union-attr]
        rows_old = _rows(old, spec_old) if spec_old is not None else []
        rows_new = _rows(new, spec_new) if spec_new is not None else []
        pk = spec_new.pk if spec_new is not None else ()
        if spec_old is not None and spec_new is not None and spec_old.pk != spec_new.pk:
            pk = ()  # the key itself changed: compare whole rows
        if pk:
            out.extend(_by_key(table, pk, rows_old, rows_new))
        else:
            out.extend(_by_value(table, rows_old, rows_new))
    return out


def _rows(db: Database, spec: TableSpec) -> list[dict[str, Any]]:
    cursor = db.conn.cursor()
    cursor.execute(f"SELECT * FROM {quote(spec.name)}")
    names = [d[0] for d in cursor.getdescription()] if cursor.description else []
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _by_key(
    table: str, pk: tuple[str, ...], rows_old: list[dict[str, Any]], rows_new: list[dict[str, Any]]
) -> list[RowDiff]:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(c) for c in pk)

    old = {key(r): r for r in rows_old}
    new = {key(r): r for r in rows_new}
    out = []
    for k in sorted(set(old) | set(new), key=_sortable):
        a, b = old.get(k), new.get(k)
        if a is None and b is not None:
            out.append(RowDiff(table, list(k), "added", None, b, list(b)))
        elif b is None and a is not None:
            out.append(RowDiff(table, list(k), "removed", a, None, list(a)))
        elif a is not None and b is not None and a != b:
            changed = [c for c in dict.fromkeys([*a, *b]) if a.get(c, _ABSENT) != b.get(c, _ABSENT)]
            out.append(RowDiff(table, list(k), "changed", a, b, changed))
    return out


def _by_value(table: str, rows_old: list[dict[str, Any]], rows_new: list[dict[str, Any]]) -> list[RowDiff]:
    def whole(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        return tuple(row.items())

    old = collections.Counter(whole(r) for r in rows_old)
    new = collections.Counter(whole(r) for r in rows_new)
    out = []
    for row in sorted((old - new).elements(), key=_sortable):
        out.append(RowDiff(table, [v for _, v in row], "removed", dict(row), None, [c for c, _ in row]))
    for row in sorted((new - old).elements(), key=_sortable):
        out.append(RowDiff(table, [v for _, v in row], "added", None, dict(row), [c for c, _ in row]))
    return out


_ABSENT = object()


def _sortable(value: Any) -> Any:
    """A sort key for mixed values (None, numbers, text, bytes) that never raises."""
    if isinstance(value, tuple):
        return tuple(_sortable(v) for v in value)
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes):
        return (3, value)
    return (4, repr(value))
