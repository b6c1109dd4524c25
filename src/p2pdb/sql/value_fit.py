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
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Any

from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.temporal import parse_datetime
from p2pdb.sql.time_functions import format_time, parse_time

INCORRECT_DATETIME = 1292
INVALID_JSON = 3140
MAX_TIME = (838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999

#: Text stored as written (group 1: the fraction's digits, at most the column's precision).
_CANONICAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}()$")
_CANONICAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?$")
_CANONICAL_TIME = re.compile(r"^-?\d{2,3}:\d{2}:\d{2}(?:\.(\d{1,6}))?$")
_LONG_FRACTION = re.compile(r"^(.*\.\d{6})(\d)\d*\s*$")
_ZERO_DATES = frozenset(("0000-00-00", "0000-00-00 00:00:00"))


@functools.lru_cache(maxsize=256)
def family(mysql_type: str) -> tuple[str, int] | None:
    """("date" | "datetime" | "time" | "json", fractional digits) of a column type; None otherwise."""
    from p2pdb.sql.mysqltypes import type_from_mysql_text

    info = type_from_mysql_text(mysql_type)
    base = info.data_type
    if base in ("datetime", "timestamp"):
        return "datetime", min(max(info.decimals or 0, 0), 6)
    if base in ("date", "time", "json"):
        return base, min(max(info.decimals or 0, 0), 6) if base == "time" else 0
    return None


def fit_value(value: Any, kind: str, fsp: int, column: Any, row: Any) -> Any:
    """``value`` as a column of this family stores it, or :class:`MySQLError` as strict mode says."""
    if value is None:
        return None
    if kind == "json":
        return _fit_json(value, column, row)
    if kind == "time":
        return _fit_time(value, fsp, column, row)
    return _fit_date(value, kind == "datetime", fsp, column, row)


def zero_value(kind: str) -> Any:
    """What INSERT IGNORE stores for a value strict mode refuses (with the warning)."""
    return {"date": "0000-00-00", "datetime": "0000-00-00 00:00:00", "time": "00:00:00"}.get(kind)


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
