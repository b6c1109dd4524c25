"""Values written to DATE, DATETIME, TIMESTAMP, TIME and JSON columns, as MySQL's strict mode stores
them (``p2pdb_fit`` dispatches here; numbers, ENUM and SET are in :mod:`p2pdb.sql.decimals` and
:mod:`p2pdb.sql.choices`).

- A date must exist: ``'2024-02-30'`` is error 1292 (``Incorrect datetime value``). The zero date
  (``'0000-00-00'``, with ``00:00:00``) is kept, as legacy applications write it (MySQL 8 refuses it
  unless ``NO_ZERO_DATE`` is off; P2PDB accepts it).
- A DATETIME/TIMESTAMP written as a date gets its time (``'2024-01-01'`` is ``'2024-01-01 00:00:00'``,
  so drivers read a datetime back), a fraction longer than the column's precision is rounded to it,
  and values not written in the canonical form (``'2024-1-2 3:4:5'``, ``20240102030405``) are stored in
  it, so that they compare and sort as text correctly. Canonical text is stored as it is.
- A TIME must be within ``-838:59:59`` .. ``838:59:59``.
- JSON must parse: anything else is error 3140 (``Invalid JSON text``), so that one row cannot make
  every later JSON function over the column fail.
- FLOAT and DOUBLE stay within their range (1264; an infinity could not even be encoded in the log),
  text written to them must be a number (1366), all of it (1265); BIT(n) takes at most n bits (1406).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from typing import Any

from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.temporal import parse_datetime
from p2pdb.sql.time_functions import format_time, parse_time

INCORRECT_DATETIME = 1292
INVALID_JSON = 3140
OUT_OF_RANGE = 1264
INCORRECT_VALUE = 1366
TRUNCATED = 1265
TOO_LONG = 1406
#: The largest magnitude of each floating type (MySQL refuses more with 1264).
_LIMITS = {"float": 3.4028234663852886e38, "double": 1.7976931348623157e308}
_FULL_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_NUMBER_PREFIX = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
MAX_TIME = (838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999

#: Text stored as written (group 1: the fraction's digits, at most the column's precision).
_CANONICAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}()$")
_CANONICAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?$")
_CANONICAL_TIME = re.compile(r"^-?\d{2,3}:\d{2}:\d{2}(?:\.(\d{1,6}))?$")
_LONG_FRACTION = re.compile(r"^(.*\.\d{6})(\d)\d*\s*$")
_ZERO_DATES = frozenset(("0000-00-00", "0000-00-00 00:00:00"))


@functools.lru_cache(maxsize=256)
def family(mysql_type: str) -> tuple[str, int] | None:
    """(family, size) of a column type whose written values this module checks: "date", "datetime",
    "time" (size: fractional digits), "json", "float", "double", "bit" (size: its width); None for
    other types."""
    from p2pdb.sql.mysqltypes import type_from_mysql_text

    info = type_from_mysql_text(mysql_type)
    base = info.data_type
    if base in ("datetime", "timestamp"):
        return "datetime", min(max(info.decimals or 0, 0), 6)
    if base in ("date", "time", "json"):
        return base, min(max(info.decimals or 0, 0), 6) if base == "time" else 0
    if base in ("float", "double"):
        return base, 0
    if base == "bit":
        return "bit", min(max(info.numeric_precision or 1, 1), 64)
    return None


def fit_value(value: Any, kind: str, size: int, column: Any, row: Any) -> Any:
    """``value`` as a column of this family stores it, or :class:`MySQLError` as strict mode says
    (``size``: a DATETIME's or TIME's fractional digits, a BIT's width; see :func:`family`)."""
    if value is None:
        return None
    if kind == "json":
        return _fit_json(value, column, row)
    if kind in ("float", "double"):
        return _fit_real(value, kind, column, row)
    if kind == "bit":
        return _fit_bit(value, size, column, row)
    if kind == "time":
        return _fit_time(value, size, column, row)
    return _fit_date(value, kind == "datetime", size, column, row)


def lenient_value(value: Any, kind: str, width: int, code: int) -> Any:
    """What INSERT IGNORE stores for a value strict mode refuses with ``code`` (with the warning):
    the zero date, a FLOAT/DOUBLE clamped to its range or read as its numeric prefix, a BIT's
    largest value."""
    if kind in ("float", "double"):
        if code == OUT_OF_RANGE:
            number = _real(value)
            return math.copysign(_LIMITS[kind], number if number is not None else 1.0)
        prefix = _NUMBER_PREFIX.match(_text(value))
        return float(prefix.group()) if prefix else 0.0
    if kind == "bit":
        return (1 << width) - 1
    return {"date": "0000-00-00", "datetime": "0000-00-00 00:00:00", "time": "00:00:00"}.get(kind)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _real(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _fit_real(value: Any, kind: str, column: Any, row: Any) -> Any:
    """FLOAT/DOUBLE: within the type's range (1264); text must be a number (1366), all of it (1265)."""
    if isinstance(value, (str, bytes)):
        text = _text(value).strip()
        number = _real(text) if _FULL_NUMBER.match(text) else None
        if number is None:
            if _NUMBER_PREFIX.match(text):
                raise MySQLError(
                    TRUNCATED, f"Data truncated for column '{column}' at row {int(row)}", "01000"
                )
            raise MySQLError(
                INCORRECT_VALUE,
                f"Incorrect double value: '{text}' for column '{column}' at row {int(row)}",
                "HY000",
            )
    else:
        number = _real(value)
        if number is None:
            return value
    if not math.isfinite(number) or abs(number) > _LIMITS[kind]:
        raise MySQLError(OUT_OF_RANGE, f"Out of range value for column '{column}' at row {int(row)}", "22003")
    return number if isinstance(value, (str, bytes)) else value


def _fit_bit(value: Any, width: int, column: Any, row: Any) -> Any:
    """BIT(n): at most n bits (1406)."""
    if isinstance(value, bytes):
        number = int.from_bytes(value, "big")
    elif isinstance(value, int):
        number = value
    else:
        return value
    if number < 0 or number >= 1 << width:
        raise MySQLError(TOO_LONG, f"Data too long for column '{column}' at row {int(row)}", "22001")
    return value


def _incorrect(what: str, value: Any, column: Any, row: Any) -> MySQLError:
    shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return MySQLError(
        INCORRECT_DATETIME,
        f"Incorrect {what} value: '{shown}' for column '{column}' at row {int(row)}",
        "22007",
    )


def _fit_date(value: Any, with_time: bool, fsp: int, column: Any, row: Any) -> Any:
    what = "datetime" if with_time else "date"
    if isinstance(value, str) and value in _ZERO_DATES:
        return value if not with_time or " " in value else value + " 00:00:00"
    parsed = parse_datetime(value)  # checks the calendar too: '2024-02-30' has no day
    if parsed is None and isinstance(value, str) and (longer := _LONG_FRACTION.match(value)):
        parsed = parse_datetime(longer.group(1))  # more than 6 fractional digits: rounded to 6
        if parsed is not None and longer.group(2) >= "5":
            parsed = (parsed[0] + dt.timedelta(microseconds=1), True)
    if parsed is None:
        raise _incorrect(what, value, column, row)
    if isinstance(value, str):
        canonical = (_CANONICAL_DATETIME if with_time else _CANONICAL_DATE).match(value)
        if canonical is not None and len(canonical.group(1) or "") <= fsp:
            return value  # stored as written
    moment = parsed[0]
    if not with_time:
        return moment.strftime("%Y-%m-%d")  # a datetime written to a DATE keeps its date
    if moment.microsecond:
        step = 10 ** (6 - fsp)
        moment = moment.replace(microsecond=0) + dt.timedelta(
            microseconds=(moment.microsecond + step // 2) // step * step
        )
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    fraction = f"{moment.microsecond:06d}"[:fsp].rstrip("0")
    return f"{text}.{fraction}" if fraction else text


def _fit_time(value: Any, fsp: int, column: Any, row: Any) -> Any:
    micros = parse_time(value)
    if micros is None or abs(micros) > MAX_TIME:
        raise _incorrect("time", value, column, row)
    if isinstance(value, str):
        canonical = _CANONICAL_TIME.match(value)
        if canonical is not None and len(canonical.group(1) or "") <= fsp:
            return value
    if micros % 1_000_000:
        step = 10 ** (6 - fsp)
        sign = -1 if micros < 0 else 1
        micros = sign * ((abs(micros) + step // 2) // step * step)
    text = format_time(min(micros, MAX_TIME - 999_999) if micros > 0 else max(micros, 999_999 - MAX_TIME))
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fit_json(value: Any, column: Any, row: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise MySQLError(
            INVALID_JSON,
            f"Invalid JSON text: \"{exc.msg}\" at position {exc.pos} in value for column '{column}'.",
            "22032",
        ) from None
    return value
