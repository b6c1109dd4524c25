"""MySQL built-in functions that SQLite lacks or answers differently, as SQLite functions.

Some are registered under two names: the MySQL one and the one sqlglot writes when it translates a
statement to SQLite (``DAYOFWEEK`` becomes ``DAY_OF_WEEK``, ``INSERT()`` becomes ``STUFF``,
``BIT_COUNT`` becomes ``BITWISE_COUNT``). SQLite's own ``length``, ``upper``, ``lower`` and ``hex`` are
replaced: MySQL's LENGTH counts bytes, UPPER/LOWER fold every letter (not only ASCII), HEX of NULL is
NULL and HEX of a number is that number in base 16.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

import apsw

from p2pdb.sql.temporal import parse_datetime
from p2pdb.sql.time_functions import time_parts


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value)) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return 0


def length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return len(value)
    return len((_text(value) or "").encode("utf-8"))


def upper(value: Any) -> Any:
    """MySQL's UPPER: each character by its simple case mapping (``'ß'`` stays, where Python's
    full mapping makes ``'SS'``)."""
    if not isinstance(value, str):
        return value
    if value.isascii():
        return value.upper()
    return "".join(u if len(u := c.upper()) == 1 else c for c in value)


def lower(value: Any) -> Any:
    """MySQL's LOWER: one character for one (``'İ'`` is ``'i'``, not ``'i̇'``)."""
    if not isinstance(value, str):
        return value
    if value.isascii():
        return value.lower()
    return "".join(c.lower()[:1] for c in value)


def hex_(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return format(value % 2**64, "X")
    if isinstance(value, float):
        return format(round(value) % 2**64, "X")
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return data.hex().upper()


def mid(value: Any, start: Any, count: Any = None) -> str | None:
    text, first = _text(value), _int(start)
    if text is None or first is None:
        return None
    if first == 0:
        return ""
    begin = first - 1 if first > 0 else len(text) + first
    if begin < 0:
        return ""
    if count is None:
        return text[begin:]
    size = _int(count)
    return None if size is None else text[begin : begin + max(0, size)]


def insert(value: Any, position: Any, count: Any, new: Any) -> str | None:
    text, pos, size, repl = _text(value), _int(position), _int(count), _text(new)
    if text is None or pos is None or size is None or repl is None:
        return None
    if pos < 1 or pos > len(text):
        return text
    begin = pos - 1
    end = len(text) if size < 0 else begin + size
    return text[:begin] + repl + text[end:]


def conv(value: Any, from_base: Any, to_base: Any) -> str | None:
    text, source, target = _text(value), _int(from_base), _int(to_base)
    if (
        text is None
        or source is None
        or target is None
        or not (2 <= abs(source) <= 36 and 2 <= abs(target) <= 36)
    ):
        return None
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = text.strip().upper()
    negative = text.startswith("-")
    number = 0
    for char in text.lstrip("-+"):
        digit = digits.find(char)
        if digit < 0 or digit >= abs(source):
            break
        number = number * abs(source) + digit
    if negative:
        number = -number
    if target > 0:
        number %= 2**64
    sign = "-" if number < 0 else ""
    number = abs(number)
    out = ""
    while True:
        number, rest = divmod(number, abs(target))
        out = digits[rest] + out
        if number == 0:
            break
    return sign + out


def bin_(value: Any) -> str | None:
    return conv(_text(value), 10, 2)


def oct_(value: Any) -> str | None:
    return conv(_text(value), 10, 8)


def bit_count(value: Any) -> int | None:
    number = _int(value)
    return None if number is None else bin(number % 2**64).count("1")


def ascii_(value: Any) -> int | None:
    text = value if isinstance(value, bytes) else (_text(value) or "").encode("utf-8")
    if value is None:
        return None
    return text[0] if text else 0


def ord_(value: Any) -> int | None:
    """MySQL's ORD(): the code of the first character's bytes read as one big-endian number
    (``ORD('é')`` is 0xC3A9 = 50089 in utf8mb4); ASCII() of a one-byte character."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value[0] if value else 0
    text = _text(value) or ""
    return int.from_bytes(text[0].encode("utf-8"), "big") if text else 0


def char(*codes: Any) -> bytes:
    out = bytearray()
    for code in codes:
        number = _int(code)
        if number is None:
            continue
        number %= 2**32
        out.extend(number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big"))
    return bytes(out)


def _moment(value: Any) -> datetime | None:
    parsed = parse_datetime(value)
    return None if parsed is None else parsed[0]


def _date_part(fn: Any) -> Any:
    def part(value: Any, *args: Any) -> Any:
        moment = _moment(value)
        return None if moment is None else fn(moment, *args)

    return part


def microsecond(value: Any) -> int | None:
    """MICROSECOND() of a TIME (``'10:20:30.123456'``: 123456), a DATETIME or a date (0)."""
    parts = time_parts(value)
    return None if parts is None else parts[3]


def _week(moment: datetime, mode: Any = 0) -> int:
    """WEEK(date, mode) for modes 0 (Sunday first, 0-53) and 1 (Monday first, ISO-like 0-53)."""
    if _int(mode) in (1, 3):
        return int(moment.strftime("%W")) if _int(mode) == 1 else moment.isocalendar()[1]
    return int(moment.strftime("%U"))


FUNCTIONS: dict[str, Any] = {
    "length": length,
    "octet_length": length,
    "upper": upper,
    "ucase": upper,
    "lower": lower,
    "lcase": lower,
    "hex": hex_,
    "mid": mid,
    "insert": insert,
    "stuff": insert,
    "conv": conv,
    "bin": bin_,
    "oct": oct_,
    "bit_count": bit_count,
    "bitwise_count": bit_count,
    "ascii": ascii_,
    "ord": ord_,
    "char": char,
    "dayofweek": _date_part(lambda m: (m.weekday() + 1) % 7 + 1),
    "day_of_week": _date_part(lambda m: (m.weekday() + 1) % 7 + 1),
    "weekday": _date_part(lambda m: m.weekday()),
    "dayofyear": _date_part(lambda m: m.timetuple().tm_yday),
    "day_of_year": _date_part(lambda m: m.timetuple().tm_yday),
    "dayname": _date_part(lambda m: calendar.day_name[m.weekday()]),
    "monthname": _date_part(lambda m: calendar.month_name[m.month]),
    "quarter": _date_part(lambda m: (m.month - 1) // 3 + 1),
    "week": _date_part(_week),
    "weekofyear": _date_part(lambda m: m.isocalendar()[1]),
    "week_of_year": _date_part(lambda m: m.isocalendar()[1]),
    "last_day": _date_part(
        lambda m: m.replace(day=calendar.monthrange(m.year, m.month)[1]).strftime("%Y-%m-%d")
    ),
    "microsecond": microsecond,
    "to_days": _date_part(lambda m: m.toordinal() + 365),
    "to_seconds": _date_part(
        lambda m: (m.toordinal() + 365) * 86400 + m.hour * 3600 + m.minute * 60 + m.second
    ),
}


def register(conn: apsw.Connection) -> None:
    for name, fn in FUNCTIONS.items():
        conn.create_scalar_function(name, fn, -1, deterministic=True)
