"""DECIMAL values as exact text in the change feed (and BIGINT UNSIGNED values as numbers).

SQLite stores a DECIMAL(p,s) value as a number (an INTEGER when whole, else the nearest double, which
for up to 15 significant digits is that decimal and no other). The change feed shows it the way MySQL
prints it: a string with exactly ``s`` decimals (``"12.30"``), so a consumer never sees 12.3 or
12.300000000000001. Which columns are DECIMAL comes from the MySQL type the SQL layer recorded for the
column (``extra["mt"]``). A BIGINT UNSIGNED value above 2^63-1, which SQLite holds as 8 big-endian bytes,
shows as its number (JSON integers have no 64-bit limit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from p2pdb.crdt import SqlValue
from p2pdb.schema import TableSpec

_DECIMAL_TYPE = re.compile(r"^\s*(?:decimal|dec|numeric|fixed)\b\s*(?:\(\s*\d+\s*(?:,\s*(\d+)\s*)?\))?", re.I)
_U64_TYPE = re.compile(r"^\s*(?:bigint|int8)\b.*\bunsigned\b|^\s*serial\b", re.I)
#: The "scale" of a BIGINT UNSIGNED column: values above 2^63-1, stored as 8 bytes, show as numbers.
U64 = -1
_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)


_SCALES: dict[int, tuple[TableSpec, dict[str, int]]] = {}


def decimal_scales(spec: TableSpec) -> dict[str, int]:
    """Column name -> scale of the table's DECIMAL columns (cached per spec object)."""
    cached = _SCALES.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    if len(_SCALES) > 4096:
        _SCALES.clear()
    out: dict[str, int] = {}
    _SCALES[id(spec)] = (spec, out)
    for col in spec.columns:
        mt = col.extra.get("mt") if col.extra else None
        match = _DECIMAL_TYPE.match(mt) if isinstance(mt, str) else None
        if match is not None:
            out[col.name] = int(match.group(1) or 0)
        elif isinstance(mt, str) and _U64_TYPE.match(mt):
            out[col.name] = U64
    return out


def exact_text(value: SqlValue, scale: int) -> SqlValue:
    """A stored DECIMAL value as text with ``scale`` decimals (other values unchanged); with scale
    :data:`U64`, a BIGINT UNSIGNED value stored as 8 bytes as its integer."""
    if scale == U64:
        return int.from_bytes(value, "big") if type(value) is bytes and len(value) == 8 else value
    if type(value) is int:
        number = Decimal(value)
    elif type(value) is float:
        number = Decimal(repr(value))
    elif type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
    else:
        return value
    if not number.is_finite():
        return value
    rounded = number.quantize(Decimal(1).scaleb(-scale), context=_CONTEXT)
    return format(rounded if rounded else rounded.copy_abs(), "f")


def exact_row(row: Mapping[str, SqlValue], scales: Mapping[str, int]) -> dict[str, SqlValue]:
    return {name: exact_text(v, scales[name]) if name in scales else v for name, v in row.items()}


def exact_key(spec: TableSpec, pk: tuple[SqlValue, ...], scales: Mapping[str, int]) -> tuple[SqlValue, ...]:
    if not any(name in scales for name in spec.pk):
        return pk
    return tuple(exact_text(v, scales[n]) if n in scales else v for v, n in zip(pk, spec.pk, strict=False))
