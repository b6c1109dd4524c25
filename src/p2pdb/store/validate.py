"""Checks that a row change fits the table definition it was written against, the same for local
capture and remote apply.

A change is refused when it names an unknown column, has a key of the wrong arity (a table without a
primary key takes one hidden identity), puts text that is no number into an INTEGER/REAL column (a
BIGINT UNSIGNED value above 2^63-1 is 8 big-endian bytes, see :func:`is_u64_blob`), exceeds
a CHAR(n)/VARCHAR(n) length (MySQL strict mode), or carries a value larger than the configured limit.
Remote entries are checked against the schema of their causal past (what their author had), so whether an
entry is refused never depends on the order entries arrive in. Local commits that fail are rolled back;
remote entries that fail are rejected whole.
"""

from __future__ import annotations

from p2pdb.crdt import RowChange, SqlValue
from p2pdb.schema import Column, TableSpec
from p2pdb.store.errors import InvalidOps

DEFAULT_MAX_VALUE_SIZE = 2 * 1024 * 1024
MAX_RID = 96


def _check_value(table: str, col: Column, value: SqlValue, max_size: int) -> None:
    if isinstance(value, (str, bytes)):
        if len(value) > max_size:
            raise InvalidOps(f"value of {table}.{col.name} is {len(value)} bytes, over the {max_size} limit")
        if col.affinity in ("INTEGER", "REAL") and not _numeric_text(value) and not is_u64_blob(value, col):
            raise InvalidOps(f"{table}.{col.name} is {col.type}; {type(value).__name__} value refused")
        limit = col.max_length
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise InvalidOps(f"value too long for {table}.{col.name} ({col.type}): {len(value)} characters")
    elif value is None and col.not_null:
        raise InvalidOps(f"{table}.{col.name} cannot be NULL")


def is_u64_blob(value: SqlValue, col: Column) -> bool:
    """A BIGINT UNSIGNED value above 2^63-1: 8 big-endian bytes in an INTEGER column (SQLite's
    integers are signed 64-bit; docs/mysql-compatibility.md, "Exact numbers")."""
    return (
        type(value) is bytes
        and len(value) == 8
        and value[0] >= 0x80
        and col.affinity == "INTEGER"
        and bool(col.extra)
        and "unsigned" in str(col.extra.get("mt", "")).lower()
    )


def _numeric_text(value: str | bytes) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_change(spec: TableSpec, change: RowChange, max_value_size: int = DEFAULT_MAX_VALUE_SIZE) -> None:
    if spec.keyless:
        rid = change.pk[0] if len(change.pk) == 1 else None
        if not isinstance(rid, bytes) or not 1 <= len(rid) <= MAX_RID:
            raise InvalidOps(f"a row of {spec.name} (no primary key) is named by one hidden identity")
    elif len(change.pk) != len(spec.pk):
        raise InvalidOps(
            f"primary key of {spec.name} has {len(spec.pk)} columns, the change {len(change.pk)}"
        )
    for name, value in change.values.items():
        col = spec.column(name)
        if col is None:
            raise InvalidOps(f"unknown column {spec.name}.{name}")
        if type(value) is not int and type(value) is not float:  # a number passes every check below
            _check_value(spec.name, col, value, max_value_size)
    for name in change.deltas:
        if spec.column(name) is None:
            raise InvalidOps(f"unknown column {spec.name}.{name}")
    if change.insert and not (not change.deltas and spec.column_ident_set <= change.values.keys()):
        missing = [
            c.name for c in spec.columns if c.ident not in change.values and c.ident not in change.deltas
        ]
        if missing:
            raise InvalidOps(f"an insert into {spec.name} carries every column; {missing[0]} is missing")
    for name, value in zip(spec.pk, change.pk, strict=False):
        col = spec.column(name)
        assert col is not None
        if value is None:
            raise InvalidOps(f"primary key column {spec.name}.{name} cannot be NULL")
        _check_value(spec.name, col, value, max_value_size)
