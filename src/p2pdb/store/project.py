"""What SQL shows of a row state under the table's current definition (docs/crdt.md "Projection").

The merge state keeps the values authors wrote, keyed by column identity. The SQL row is a function of
that state and of the resolved table definition only, so every replica shows the same row:

- a column without a cell (added after the row was written, or defined by a concurrent CREATE) shows its
  default; a default SQLite evaluates when writing (``CURRENT_TIMESTAMP``) cannot be reproduced later and
  shows NULL, and a NOT NULL column without a usable default shows its type's zero (0, '', x'');
- a value that does not fit the column's current type (the column's definition was contested and another
  one won) is converted as SQLite's type affinity converts it (``'12'`` into an INTEGER column is 12, 12
  into a TEXT column is ``'12'``), truncated (text longer than VARCHAR(n)), or else cleared (text that is
  no number in a numeric column: NULL, or the type's zero when NOT NULL). Every such change is reported so
  the store can record the stored value next to the shown one.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from p2pdb.crdt import SqlValue
from p2pdb.schema import Column
from p2pdb.store.collation import connect
from p2pdb.store.validate import is_u64_blob

_ZERO: dict[str, SqlValue] = {"INTEGER": 0, "REAL": 0.0, "NUMERIC": 0, "TEXT": "", "BLOB": b""}


@lru_cache(maxsize=4096)
def literal_value(text: str | None) -> SqlValue:
    """The value of a default literal as SQLite stores it (CURRENT_* and NULL give None)."""
    if text is None:
        return None
    upper = text.upper()
    if upper == "NULL" or upper.startswith("CURRENT_") or text.startswith("("):
        return None
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if upper.startswith("X'"):
        return bytes.fromhex(text[2:-1])
    try:
        return int(text)
    except ValueError:
        return float(text)


def zero(column: Column) -> SqlValue:
    return _ZERO.get(column.affinity, b"")


def default_value(column: Column) -> SqlValue:
    """What a column shows for a row that has no value for it."""
    value = fit(literal_value(column.default), column)
    if value is None and column.not_null:
        return zero(column)
    return value


_SCRATCH = threading.local()
_SLOT = {"INTEGER": "i", "REAL": "r", "NUMERIC": "n", "TEXT": "t", "BLOB": "b"}


def _affinity_convert(value: SqlValue, kind: str) -> SqlValue:
    """``value`` as SQLite stores it in a column of affinity ``kind``: SQLite itself decides."""
    conn = getattr(_SCRATCH, "conn", None)
    if conn is None:
        conn = _SCRATCH.conn = connect(":memory:")
        conn.execute("CREATE TABLE fit (i INTEGER, r REAL, n NUMERIC, t TEXT, b BLOB)")
    column = _SLOT[kind]
    conn.execute(f"INSERT INTO fit ({column}) VALUES (?)", (value,))
    try:
        for (stored,) in conn.execute(f"SELECT {column} FROM fit"):
            return stored  # type: ignore[no-any-return]
        return None
    finally:
        conn.execute("DELETE FROM fit")


def _fits(value: SqlValue, kind: str) -> bool:
    kind_of = type(value)
    if kind == "INTEGER":
        return kind_of is int or (kind_of is float and not float(value).is_integer())  # type: ignore[arg-type]
    if kind == "REAL":
        return kind_of is float
    if kind == "NUMERIC":
        return kind_of is int or (kind_of is float and not float(value).is_integer())  # type: ignore[arg-type]
    if kind == "TEXT":
        return kind_of is str or kind_of is bytes
    return True


def fit(value: SqlValue, column: Column) -> SqlValue:
    """``value`` as the column can hold it (see the module docstring); None when it must be cleared."""
    if value is None:
        return None
    kind = column.affinity
    if not _fits(value, kind) and not is_u64_blob(value, column):
        value = _affinity_convert(value, kind)
        if kind in ("INTEGER", "REAL", "NUMERIC") and type(value) not in (int, float):
            return None  # text that is no number: cleared, as MySQL would refuse it
    limit = column.max_length
    if limit is not None and type(value) is str and len(value) > limit:
        return value[:limit]
    return value


def show(value: SqlValue, column: Column) -> tuple[SqlValue, bool]:
    """(what the column shows for ``value``, whether that differs from ``value``)."""
    shown = fit(value, column)
    if shown is None and column.not_null:
        shown = zero(column)
    if shown is value:
        return shown, False
    same = type(shown) is type(value) and shown == value
    if not same and type(shown) in (int, float) and type(value) in (int, float):
        # SQLite stores 1 in a REAL column as 1.0 and 1.0 in an INTEGER column as 1: not a conflict.
        same = shown == value
    return shown, not same
