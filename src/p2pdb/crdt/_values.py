"""SQL values as the merge rules see them, and the two comparisons the rules need on them."""

from __future__ import annotations

import math
from typing import Final, TypeAlias, TypeGuard

import cbor2

#: A value of one SQL column: SQLite's storage classes NULL, INTEGER, REAL, TEXT and BLOB.
SqlValue: TypeAlias = int | float | str | bytes | None
#: An increment of a counter column.
Number: TypeAlias = int | float

# Exact types, so that ``bool`` (an ``int`` subclass that CBOR would encode differently) is refused.
SQL_TYPES: Final = frozenset({type(None), int, float, str, bytes})
NUMBER_TYPES: Final = frozenset({int, float})


def is_number(value: object) -> TypeGuard[Number]:
    """True for an ``int`` or ``float`` (not a ``bool``)."""
    return type(value) in NUMBER_TYPES


def same_value(a: SqlValue, b: SqlValue) -> bool:
    """True when ``a`` and ``b`` are the same SQL value: same type (``1`` and ``1.0`` differ), and for
    floats the same sign of zero (``0.0`` and ``-0.0`` differ) with any NaN equal to any NaN."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        if a != a:  # NaN
            return b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def value_key(value: SqlValue) -> bytes:
    """A total order on SQL values: their canonical CBOR bytes.

    Used only to break a tie between two *different* values written under one version (an author that
    signed two different entries with the same clock). Any fixed total order would do; CBOR bytes are
    already canonical and order NaN, ``-0.0``, ``1`` vs ``1.0`` and mixed types without special cases.
    """
    return cbor2.dumps(value, canonical=True)
