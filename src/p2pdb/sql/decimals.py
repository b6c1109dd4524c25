"""Exact numbers at run time: DECIMAL arithmetic and aggregates, and the values written to numeric columns.

SQLite has no decimal type. P2PDB keeps DECIMAL values exact with Python's :mod:`decimal` where MySQL
computes exactly (see docs/mysql-compatibility.md, "Exact numbers"):

- ``p2pdb_dadd/dsub/dmul/ddiv(a, b, scale)`` and ``p2pdb_dneg(a)``: DECIMAL arithmetic, results as exact
  text rounded half up to ``scale`` (division by zero is NULL, as MySQL's SELECT gives);
- ``p2pdb_dsum(x, scale)`` / ``p2pdb_davg(x, scale, result scale)``: SUM and AVG of DECIMAL (and AVG of
  integer) values of a column of that scale; ``p2pdb_dunits``/``p2pdb_davg_units`` format SQLite's own
  integer SUM of a DECIMAL(p <= 15) column's values in units of its scale (the fast path);
- ``p2pdb_fit(value, type, column, row)``: a value written to a DECIMAL or integer column, rounded half up
  to the column's scale, or MySQL's error 1264 (out of range) / 1366 (not a number) in strict mode;
- ``p2pdb_u64(x)`` / ``p2pdb_uval(col)``: BIGINT UNSIGNED values above 2^63-1, which SQLite cannot hold
  as integers, are 8-byte big-endian blobs (they sort after every integer, and among themselves in
  numeric order); these put a compared value into that form and take a column value out of it.

The plan (:mod:`p2pdb.sql.exact`) decides where these are called. Operands arrive as SQLite values:
integers, exact text, or REAL (read back through ``repr``, the shortest text that gives the same double,
which is the decimal value that was stored for up to 15 significant digits).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation
from typing import Any

import apsw

from p2pdb.sql import value_fit
from p2pdb.sql.choices import choice_number, fit_choice, is_choice_type
from p2pdb.sql.protocol.errors import MySQLError

CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero])
MAX_PRECISION = 65
MAX_SCALE = 30
DIV_INCREMENT = 4  # MySQL's div_precision_increment
OUT_OF_RANGE = 1264
INCORRECT_VALUE = 1366
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_PREFIX = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

#: Integer types: (lowest, highest) signed and unsigned. SQLite stores 64-bit signed integers: BIGINT
#: UNSIGNED values above 2^63-1 are stored as 8-byte blobs (:func:`u64_blob`).
INT_RANGES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "tinyint": ((-(2**7), 2**7 - 1), (0, 2**8 - 1)),
    "smallint": ((-(2**15), 2**15 - 1), (0, 2**16 - 1)),
    "mediumint": ((-(2**23), 2**23 - 1), (0, 2**24 - 1)),
    "int": ((-(2**31), 2**31 - 1), (0, 2**32 - 1)),
    "bigint": ((-(2**63), 2**63 - 1), (0, 2**64 - 1)),
}
SQLITE_INT_MAX = 2**63 - 1


def to_decimal(value: Any) -> Decimal | None:
    """A SQLite value as a Decimal: None for NULL; text that is no number reads as its numeric prefix
    (MySQL's string-to-number conversion), or 0."""
    kind = type(value)
    if value is None:
        return None
    if kind is int:
        return Decimal(value)
    if kind is float:
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if kind is bytes:
        value = value.decode("utf-8", "replace")
    text = str(value)
    match = _PREFIX.match(text)
    return Decimal(match.group(0).strip()) if match else Decimal(0)


def text(number: Decimal, scale: int) -> str:
    """``number`` rounded half up to ``scale`` decimals, as MySQL prints a DECIMAL (no exponent, no -0)."""
    rounded = number.quantize(Decimal(1).scaleb(-scale), context=CONTEXT)
    return format(rounded if rounded else rounded.copy_abs(), "f")


def _binary(op: Callable[[Decimal, Decimal], Decimal]) -> Callable[[Any, Any, Any], str | None]:
    def call(a: Any, b: Any, scale: Any) -> str | None:
        x, y = to_decimal(a), to_decimal(b)
        if x is None or y is None:
            return None
        try:
            return text(op(x, y), int(scale))
        except (DivisionByZero, InvalidOperation):
            return None  # x / 0: NULL (MySQL's SELECT; warning 1365 is not raised)

    return call


def _divide(a: Any, b: Any, scale: Any) -> str | None:
    """``a / b`` as MySQL keeps it inside an expression: rounded to whole 9-digit words of fraction
    (``1/3`` is 0.333333333, so ``1/3*3`` shows 1.0000); the result's declared scale (``s + 4``) is
    applied where it is shown (the DECIMAL output converter), as MySQL rounds only its final result.
    Raises DivisionByZero for ``b = 0``."""
    x, y = to_decimal(a), to_decimal(b)
    if x is None or y is None:
        return None
    if not y:
        raise DivisionByZero
    try:
        return text(CONTEXT.divide(x, y), max(9, -(-int(scale) // 9) * 9))
    except InvalidOperation:
        return None


DIVISION_BY_ZERO = 1365


def _by_zero(fn: Callable[[Any, Any, Any], str | None], g: Any, *, strict: bool) -> Callable[..., str | None]:
    """``fn`` whose division by zero is NULL with warning 1365 (a read), or error 1365 (``strict``:
    a value written under MySQL's strict mode with ERROR_FOR_DIVISION_BY_ZERO, the default)."""

    def call(a: Any, b: Any, scale: Any) -> str | None:
        try:
            return fn(a, b, scale)
        except DivisionByZero:
            if strict:
                raise MySQLError(DIVISION_BY_ZERO, "Division by 0", "22012") from None
            running = g.current
            if running is not None:
                running.warn(DIVISION_BY_ZERO, "Division by 0")
            return None

    return call


def _modulo(a: Any, b: Any, scale: Any) -> str | None:
    x, y = to_decimal(a), to_decimal(b)
    if x is None or y is None:
        return None
    return text(_remainder(x, y), int(scale))


def _remainder(x: Decimal, y: Decimal) -> Decimal:
    """MySQL's ``x % y`` of exact values: the sign of the dividend (a Decimal remainder's)."""
    if not y:
        raise DivisionByZero
    return CONTEXT.remainder(x, y)


def as_number(value: Any) -> int | float | None:
    """A value compared with a number, as MySQL reads it: numbers as they are, a string as the number
    its prefix spells (``'1abc'`` is 1, ``'abc'`` 0), as a DOUBLE."""
    if value is None or type(value) is int or type(value) is float:
        return value
    number = to_decimal(value)
    return None if number is None else float(number)


def _neg(a: Any) -> str | None:
    x = to_decimal(a)
    return None if x is None else format(-x if x else x, "f")


def _round(a: Any, scale: Any) -> str | None:
    x = to_decimal(a)
    # a negative scale rounds to tens, hundreds... (ROUND(d, -2)): a whole number
    return None if x is None or scale is None else text(x, max(-MAX_PRECISION, min(int(scale), MAX_SCALE)))


_FAST_LIMIT = 2.0**52  # scaled doubles below this are integers a double holds exactly


class _Sum:
    """SUM of DECIMAL values of one scale, exact: whole units of ``10**-scale`` added as Python
    integers (a stored value is at the column's scale, so ``round(v * 10**scale)`` is it exactly while
    the product stays below 2^52), anything else as a Decimal. NULL over no (non-NULL) values."""

    def __init__(self) -> None:
        self.units = 0
        self.extra: Decimal | None = None
        self.count = 0
        self.scale = -1
        self.factor = 1
        self.ffactor = 1.0

    def step(self, value: Any, scale: Any) -> None:
        if self.scale < 0:
            self.scale = max(0, min(int(scale), MAX_SCALE))
            self.factor = 10**self.scale
            self.ffactor = float(self.factor)
        kind = type(value)
        if kind is int:
            self.units += value * self.factor
        elif kind is float and -_FAST_LIMIT < (scaled := value * self.ffactor) < _FAST_LIMIT:
            self.units += round(scaled)
        else:
            number = to_decimal(value)
            if number is None:
                return
            self.extra = number if self.extra is None else CONTEXT.add(self.extra, number)
        self.count += 1

    def total(self) -> Decimal:
        total = Decimal(self.units).scaleb(-self.scale)
        return total if self.extra is None else CONTEXT.add(total, self.extra)

    def final(self) -> str | None:
        return format(self.total(), "f") if self.count else None


class _Avg(_Sum):
    """AVG of DECIMAL or integer values (``p2pdb_davg(x, scale of x, scale of the result)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.result_scale = DIV_INCREMENT

    def step(self, value: Any, scale: Any, result_scale: Any = DIV_INCREMENT) -> None:
        self.result_scale = int(result_scale)
        super().step(value, scale)

    def final(self) -> str | None:
        if not self.count:
            return None
        return text(CONTEXT.divide(self.total(), Decimal(self.count)), self.result_scale)


def _units(total: Any, scale: Any) -> str | None:
    """``p2pdb_dunits(SUM(units), scale)``: an integer count of ``10**-scale`` as DECIMAL text."""
    if total is None:
        return None
    number = to_decimal(total)
    return None if number is None else format(number.scaleb(-int(scale)), "f")


def _avg_units(total: Any, count: Any, scale: Any, result_scale: Any) -> str | None:
    """``p2pdb_davg_units(SUM(units), COUNT(x), scale, result scale)``: the average, rounded half up."""
    number = to_decimal(total)
    if number is None or not count:
        return None
    return text(CONTEXT.divide(number.scaleb(-int(scale)), Decimal(int(count))), int(result_scale))


def _aggregate(cls: type[_Sum] | type[_Avg]) -> Callable[[], tuple[Any, Any, Any]]:
    def factory() -> tuple[Any, Any, Any]:
        state = cls()
        return state, lambda _ctx, *args: state.step(*args), lambda _ctx: state.final()

    return factory


@functools.lru_cache(maxsize=1024)
def column_kind(mysql_type: str) -> tuple[str, int, int, bool]:
    """(``"decimal"`` or an integer type name, precision, scale, unsigned) of a column type text."""
    from p2pdb.sql.mysqltypes import type_from_mysql_text

    info = type_from_mysql_text(mysql_type)
    unsigned = "unsigned" in info.column_type
    return info.data_type, info.numeric_precision or 0, info.numeric_scale or 0, unsigned


@functools.lru_cache(maxsize=1024)
def int_bounds(mysql_type: str) -> tuple[int, int]:
    """The integers a column of ``mysql_type`` stores as they are (within its range and int64)."""
    base, precision, scale, unsigned = column_kind(mysql_type)
    if base == "decimal":
        limit = 10 ** (precision - scale) - 1
        return (0 if unsigned else -limit), min(limit, SQLITE_INT_MAX)
    ranges = INT_RANGES.get(base)
    if ranges is None:
        return 0, -1
    low, high = ranges[1] if unsigned else ranges[0]
    return low, min(high, SQLITE_INT_MAX)


def _out_of_range(column: Any, row: Any) -> MySQLError:
    return MySQLError(OUT_OF_RANGE, f"Out of range value for column '{column}' at row {int(row)}", "22003")


def _lenient(g: Any) -> Callable[[Any, Any, Any, Any], Any]:
    """:func:`fit` of ``INSERT IGNORE``: what strict mode refuses is stored adjusted, with the warning
    MySQL gives: out of range clamped to the type's bounds (1264), text that is no number read as its
    numeric prefix (1366), an ENUM/SET value that is no member stored as '' (1265)."""

    def call(value: Any, mysql_type: Any, column: Any, row: Any) -> Any:
        try:
            return fit(value, mysql_type, column, row)
        except MySQLError as exc:
            codes = (OUT_OF_RANGE, INCORRECT_VALUE, 1265, value_fit.INCORRECT_DATETIME, value_fit.TOO_LONG)
            if exc.code not in codes:
                raise
            running = g.current
            if running is not None:
                running.warn(exc.code, exc.message)
            other = value_fit.family(str(mysql_type))
            if other is not None:  # dates, FLOAT/DOUBLE, BIT (p2pdb.sql.value_fit)
                return value_fit.lenient_value(value, other[0], other[1], exc.code)
            if exc.code == 1265:
                return ""
            return _clamped(to_decimal(value) or Decimal(0), str(mysql_type), column, row)

    return call


def _clamped(number: Decimal, mysql_type: str, column: Any, row: Any) -> Any:
    base, precision, scale, unsigned = column_kind(mysql_type)
    if base == "decimal":
        limit = Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)
        low = Decimal(0) if unsigned else -limit
    else:
        ranges = INT_RANGES.get(base)
        if ranges is None:
            return float(number)
        low_int, high_int = ranges[1] if unsigned else ranges[0]
        low, limit = Decimal(low_int), Decimal(min(high_int, SQLITE_INT_MAX))
    return fit(max(low, min(limit, number)), mysql_type, column, row)


def _truncating(g: Any) -> Callable[[Any, Any, Any, Any], Any]:
    """A text value of ``INSERT IGNORE`` longer than its CHAR(n)/VARCHAR(n) column: cut to ``n``
    characters, warning 1265 (strict mode refuses it with 1406)."""

    def call(value: Any, length: Any, column: Any, row: Any) -> Any:
        if type(value) is str and length is not None and len(value) > int(length):
            running = g.current
            if running is not None:
                running.warn(1265, f"Data truncated for column '{column}' at row {int(row)}")
            return value[: int(length)]
        return value

    return call


def _limited(g: Any) -> Callable[[Any, Any, Any, Any, Any], Any]:
    """A text value longer than its CHAR(n)/VARCHAR(n) column, in strict mode: error 1406 (``Data too
    long``), found by the statement, as MySQL does (the store's own check finds it only when the
    transaction commits). Spaces past ``n`` at the end are cut, as MySQL cuts them (a note 1265 for a
    VARCHAR). A CHAR keeps no trailing spaces at all: MySQL pads it and gives it back without them."""

    def call(value: Any, length: Any, column: Any, row: Any, char: Any) -> Any:
        if type(value) is not str:
            return value
        if char:
            value = value.rstrip(" ")
        if length is None or len(value) <= int(length):
            return value
        size = int(length)
        if value[size:].strip(" "):
            raise MySQLError(1406, f"Data too long for column '{column}' at row {int(row)}", "22001")
        running = g.current
        if running is not None:
            running.warn(1265, f"Data truncated for column '{column}' at row {int(row)}", "Note")
        return value[:size]

    return call


def fit(value: Any, mysql_type: Any, column: Any, row: Any) -> Any:
    """``value`` as a column of ``mysql_type`` stores it (MySQL strict mode). DECIMAL(p,s): rounded half
    up to ``s`` decimals, at most ``p - s`` integer digits; integers: rounded half up, within the type's
    range. Text that is no number is error 1366; a value out of range error 1264."""
    if is_choice_type(str(mysql_type)):
        return fit_choice(value, str(mysql_type), column, row)
    if value is None:
        if ROWID_MARK in str(mysql_type):  # SQLite would number a NULL INTEGER PRIMARY KEY itself
            raise MySQLError(1048, f"Column '{column}' cannot be null", "23000")
        return None
    if type(value) is int:  # the common case, without Decimal (bounds are empty for other types)
        low, high = int_bounds(str(mysql_type))
        if low <= value <= high:
            return value
    other = value_fit.family(str(mysql_type))
    if other is not None:  # DATE, DATETIME, TIME, JSON, FLOAT, DOUBLE, BIT (p2pdb.sql.value_fit)
        return value_fit.fit_value(value, other[0], other[1], column, row)
    base, precision, scale, unsigned = column_kind(str(mysql_type))
    if is_u64_blob(value):  # a BIGINT UNSIGNED value above 2^63-1, as stored
        value = int.from_bytes(value, "big")
    kind = type(value)
    if kind is str or kind is bytes:
        raw = value.decode("utf-8", "replace") if kind is bytes else value
        if not _NUMBER.match(raw):
            name = "decimal" if base == "decimal" else "integer"
            raise MySQLError(
                INCORRECT_VALUE,
                f"Incorrect {name} value: '{raw}' for column '{column}' at row {int(row)}",
                "HY000",
            )
    number = to_decimal(value)
    if number is None:  # NaN, infinity
        raise _out_of_range(column, row)
    if base == "decimal":
        try:
            rounded = number.quantize(Decimal(1).scaleb(-scale), context=CONTEXT)
        except InvalidOperation:
            raise _out_of_range(column, row) from None
        if abs(rounded) >= Decimal(10) ** (precision - scale) or (unsigned and rounded < 0):
            raise _out_of_range(column, row)
        if scale == 0 or rounded == rounded.to_integral_value():
            whole = int(rounded)
            return whole if abs(whole) <= SQLITE_INT_MAX else format(rounded, "f")
        return float(rounded) if precision <= 15 else format(rounded, "f")
    ranges = INT_RANGES.get(base)
    if ranges is None:
        return value
    low, high = ranges[1] if unsigned else ranges[0]
    try:
        whole = int(number.quantize(Decimal(1), context=CONTEXT))
    except InvalidOperation:
        raise _out_of_range(column, row) from None
    if not low <= whole <= high:
        raise _out_of_range(column, row)
    if whole > SQLITE_INT_MAX:
        if ROWID_MARK in str(mysql_type):
            raise MySQLError(
                OUT_OF_RANGE,
                f"Out of range value for column '{column}' at row {int(row)}"
                f" (a BIGINT UNSIGNED primary key holds values up to {SQLITE_INT_MAX} in P2PDB)",
                "22003",
            )
        return u64_blob(whole)
    return whole


#: Appended to the type text of a column that is SQLite's rowid (an INTEGER PRIMARY KEY).
ROWID_MARK = " p2pdb_rowid"


def u64_blob(value: int) -> bytes:
    """A BIGINT UNSIGNED value above 2^63-1 as SQLite stores it: 8 bytes, big-endian. SQLite sorts every
    BLOB after every number and BLOBs by their bytes, so the column still sorts and compares in
    numeric order (values up to 2^63-1 stay INTEGERs)."""
    return value.to_bytes(8, "big")


def is_u64_blob(value: Any) -> bool:
    return type(value) is bytes and len(value) == 8 and value[0] >= 0x80


def u64_value(value: Any) -> Any:
    """``p2pdb_uval(col)``: a BIGINT UNSIGNED column's value for arithmetic (blob -> its digits)."""
    return str(int.from_bytes(value, "big")) if is_u64_blob(value) else value


def u64_operand(value: Any) -> Any:
    """``p2pdb_u64(x)``: a value compared with a BIGINT UNSIGNED column, in the column's form."""
    if type(value) is str and value.isdigit():
        number = int(value)
        return number if number <= SQLITE_INT_MAX else u64_blob(number) if number < 2**64 else float(number)
    return value


_U64_MASK = 2**64 - 1


def shift_right(value: Any, places: Any) -> int | None:
    """``p2pdb_shr(x, n)``: MySQL's ``x >> n``, a logical shift of the 64-bit unsigned ``x``
    (SQLite's ``>>`` shifts the sign in: ``~0 >> 1`` was -1). A result above 2^63-1 (``n`` = 0) is
    returned as SQLite's signed integer of the same bits; the projection shows it unsigned."""
    number, count = as_number(value), as_number(places)
    if number is None or count is None:
        return None
    if not (math.isfinite(number) and math.isfinite(count)):
        return None
    bits = (number if type(number) is int else math.floor(number + 0.5)) & _U64_MASK
    count = count if type(count) is int else math.floor(count + 0.5)
    if count < 0 or count >= 64:
        return 0
    shifted = bits >> count
    return shifted - 2**64 if shifted > SQLITE_INT_MAX else shifted


def float_round(value: Any, places: Any) -> float | None:
    """``p2pdb_fround(x, d)``: ROUND of a DOUBLE as MySQL's (``rint``): halves to the nearest even
    (``ROUND(2.5e0)`` is 2, ``ROUND(-2.5e0)`` -2), where SQLite's round() goes away from zero."""
    number, digits = as_number(value), as_number(places)
    if number is None or digits is None:
        return None
    number, places_ = float(number), int(digits)
    if not math.isfinite(number):
        return number
    scale = 10.0 ** min(abs(places_), 308)  # MySQL's my_double_round: rint of the scaled double
    if places_ < 0:
        return 0.0 if math.isinf(scale) else float(round(number / scale)) * scale
    scaled = number * scale
    return number if math.isinf(scaled) else float(round(scaled)) / scale


def register(conn: apsw.Connection) -> None:
    """Register the exact-number functions on a connection."""
    ops: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
        "p2pdb_dadd": CONTEXT.add,
        "p2pdb_dsub": CONTEXT.subtract,
        "p2pdb_dmul": CONTEXT.multiply,
    }
    for name, op in ops.items():
        conn.create_scalar_function(name, _binary(op), 3, deterministic=True)  # type: ignore[arg-type]
    from p2pdb.sql.guard import guard_of

    g = guard_of(conn)
    for name, fn in (("p2pdb_ddiv", _divide), ("p2pdb_dmod", _modulo)):
        conn.create_scalar_function(name, _by_zero(fn, g, strict=False), 3, deterministic=False)
        conn.create_scalar_function(f"{name}_strict", _by_zero(fn, g, strict=True), 3, deterministic=True)
    conn.create_scalar_function("p2pdb_num", as_number, 1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_dneg", _neg, 1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_dround", _round, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_fit", fit, 4, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_fit_ignore", _lenient(g), 4, deterministic=False)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_fit_text", _truncating(g), 4, deterministic=False)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_fit_long", _limited(g), 5, deterministic=False)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_choice_number", choice_number, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_u64", u64_operand, 1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_uval", u64_value, 1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_shr", shift_right, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_fround", float_round, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_dunits", _units, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_davg_units", _avg_units, 4, deterministic=True)  # type: ignore[arg-type]
    conn.create_aggregate_function("p2pdb_dsum", _aggregate(_Sum), 2)
    conn.create_aggregate_function("p2pdb_davg", _aggregate(_Avg), 3)
