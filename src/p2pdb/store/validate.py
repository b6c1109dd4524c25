"""Checks that a row change fits the table it names, the same for local capture and remote apply.

A change is refused when it names an unknown column, has a primary key of the wrong arity, puts
non-numeric text into an INTEGER/REAL column, exceeds a CHAR(n)/VARCHAR(n) length (MySQL strict
mode), or carries a value larger than the configured limit. Local commits that fail these checks
are rolled back; remote entries that fail them are rejected whole.
"""

from __future__ import annotations

from p2pdb.crdt import RowChange, SqlValue
from p2pdb.store.errors import InvalidOps
from p2pdb.store.schema import Column, TableSpec

DEFAULT_MAX_VALUE_SIZE = 2 * 1024 * 1024


def _check_value(table: str, col: Column, value: SqlValue, max_size: int) -> None:
    if isinstance(value, (str, bytes)):
        if len(value) > max_size:
            raise InvalidOps(f"value of {table}.{col.name} is {len(value)} bytes, over the {max_size} limit")
        if col.affinity in ("INTEGER", "REAL") and not _numeric_text(value):
            raise InvalidOps(f"{table}.{col.name} is {col.type}; {type(value).__name__} value refused")
        limit = col.max_length
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise InvalidOps(f"value too long for {table}.{col.name} ({col.type}): {len(value)} characters")


def _numeric_text(value: str | bytes) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_change(spec: TableSpec, change: RowChange, max_value_size: int = DEFAULT_MAX_VALUE_SIZE) -> None:
    if len(change.pk) != len(spec.pk):
        raise InvalidOps(
            f"primary key of {spec.name} has {len(spec.pk)} columns, the change {len(change.pk)}"
        )
    for name, value in change.values.items():
        col = spec.column(name)
        if col is None:
            raise InvalidOps(f"unknown column {spec.name}.{name}")
        _check_value(spec.name, col, value, max_value_size)
    for name in change.deltas:
        if spec.column(name) is None:
            raise InvalidOps(f"unknown column {spec.name}.{name}")
    for name, value in zip(spec.pk, change.pk, strict=True):
        col = spec.column(name)
        assert col is not None
        _check_value(spec.name, col, value, max_value_size)
