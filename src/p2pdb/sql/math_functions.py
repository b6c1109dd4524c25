"""MySQL math functions whose SQLite namesakes answer differently, and exact TRUNCATE.

- ``CEIL``/``CEILING``/``FLOOR`` return an integer (MySQL's BIGINT for an exact argument; SQLite's
  return a double, ``3.0``). A DOUBLE argument gets an integer too: the same digits on the wire, typed
  BIGINT where MySQL says DOUBLE.
- ``MOD(a, b)`` keeps the type of its operands (``MOD(7, 3)`` is 1, not SQLite's 1.0), takes the sign of
  the dividend as MySQL does (``MOD(-7, 3)`` is -1), and is NULL for a zero divisor.
- ``p2pdb_dtrunc(x, d)``: ``TRUNCATE`` of a DECIMAL, exactly (the plan's exact-number rewrite,
  :mod:`p2pdb.sql.exact`, calls it as it calls ``p2pdb_dround`` for ROUND).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

import apsw

from p2pdb.sql.decimals import MAX_SCALE, to_decimal

_INT64 = 2**63


def _number(value: Any) -> int | float | Decimal | None:
    if value is None or isinstance(value, (int, float)):
        return value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return 0


def _integral(rounding: str) -> Callable[[Any], int | float | None]:
    def fn(value: Any) -> int | float | None:
        number = _number(value)
        if number is None or isinstance(number, int):
            return number
        if isinstance(number, float):
            if not math.isfinite(number):
                return None
            result = math.ceil(number) if rounding == ROUND_CEILING else math.floor(number)
        else:
            result = int(number.to_integral_value(rounding=rounding))
        return result if -_INT64 <= result < _INT64 else float(result)

    return fn


def mod(a: Any, b: Any) -> int | float | str | None:
    left, right = _number(a), _number(b)
    if left is None or right is None or right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        rest = abs(left) % abs(right)
        return -rest if left < 0 else rest
    if isinstance(left, float) or isinstance(right, float):
        return math.fmod(float(left), float(right))
    result = Decimal(left) % Decimal(right)  # a Decimal remainder takes the dividend's sign
    return str(result)


def truncate_decimal(value: Any, places: Any) -> str | None:
    number = to_decimal(value)
    if number is None or places is None:
        return None
    scale = max(0, min(int(places), MAX_SCALE))
    return str(number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN))


def cot(value: Any) -> float | None:
    """COT(x): 1 / TAN(x); NULL for NULL. MySQL's error for COT(0) (1690) is NULL here."""
    number = to_decimal(value)
    if number is None:
        return None
    tangent = math.tan(float(number))
    return None if tangent == 0 else 1 / tangent


def atan2(y: Any, x: Any) -> float | None:
    """ATAN(y, x), as ATAN2(y, x)."""
    a, b = to_decimal(y), to_decimal(x)
    return None if a is None or b is None else math.atan2(float(a), float(b))


def interval(n: Any, *bounds: Any) -> int:
    """INTERVAL(N, N1, N2, ...): how many of the ascending N1, N2... are <= N (-1 for a NULL N)."""
    number = to_decimal(n)
    if number is None:
        return -1
    count = 0
    for bound in bounds:
        value = to_decimal(bound)
        if value is None or value > number:
            break
        count += 1
    return count


def register(conn: apsw.Connection) -> None:
    from p2pdb.sql.decimals import DIVISION_BY_ZERO
    from p2pdb.sql.guard import guard_of

    g = guard_of(conn)

    def mod_warning(a: Any, b: Any) -> int | float | str | None:
        """MOD / % : NULL with warning 1365 for a zero divisor, as MySQL's reads."""
        result = mod(a, b)
        if result is None and a is not None and b is not None and g.current is not None:
            g.current.warn(DIVISION_BY_ZERO, "Division by 0")
        return result

    def divide(a: Any, b: Any) -> float | None:
        """``a / b`` of floating or untyped operands: NULL with warning 1365 for a zero divisor."""
        if a is None or b is None:
            return None
        x, y = to_decimal(a), to_decimal(b)
        if x is None or y is None:
            return None
        if y == 0:
            if g.current is not None:
                g.current.warn(DIVISION_BY_ZERO, "Division by 0")
            return None
        return float(a if isinstance(a, float) else x) / float(b if isinstance(b, float) else y)

    conn.create_scalar_function("p2pdb_fdiv", divide, 2, deterministic=False)  # type: ignore[arg-type]
    for name, fn in (("ceil", _integral(ROUND_CEILING)), ("ceiling", _integral(ROUND_CEILING)),
                     ("floor", _integral(ROUND_FLOOR))):  # fmt: skip
        conn.create_scalar_function(name, fn, 1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("mod", mod_warning, 2, deterministic=False)  # type: ignore[arg-type]
    conn.create_scalar_function("cot", cot, 1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("atan", atan2, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("interval", interval, -1, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_dtrunc", truncate_decimal, 2, deterministic=True)  # type: ignore[arg-type]
