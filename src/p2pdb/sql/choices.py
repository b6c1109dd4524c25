"""Values written to ENUM, SET and YEAR columns, checked as MySQL's strict mode does.

The SQL layer routes each value written to such a column through ``p2pdb_fit`` (see
:mod:`p2pdb.sql.exact`), which calls :func:`fit_choice`:

- ENUM: a member (compared case-insensitively, stored as the member is spelled in the definition) or
  its 1-based index; anything else, the empty string included, is error 1265 "Data truncated".
- SET: members separated by commas (any order, repeats allowed; stored in definition order, without
  repeats) or a bitmask integer; an unknown member or bit is error 1265.
- YEAR: 1901..2155 or 0; a one- or two-digit number or string is 2000-2069 (0-69) or 1970-1999
  (70-99), as MySQL reads them (the number 0 stays 0, the string '0' is 2000); else 1264 (out of range)
  or 1366 (no number).

This is a check of local writes only: replicas store what the entry carries (the log's own checks are
in :mod:`p2pdb.store.validate`), so a peer of an older version that stored another value converges on
it like any other value.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from p2pdb.sql.protocol.errors import MySQLError

_TRUNCATED = 1265
_OUT_OF_RANGE = 1264
_INCORRECT = 1366
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


@functools.lru_cache(maxsize=512)
def _definition(mysql_type: str) -> tuple[str, tuple[str, ...]]:
    from p2pdb.sql.mysqltypes import type_from_mysql_text

    info = type_from_mysql_text(mysql_type)
    if info.data_type in ("enum", "set"):
        from p2pdb.sql.mysqltypes import _members

        inner = info.column_type[info.column_type.index("(") + 1 : -1]
        return info.data_type, _members(inner)
    return info.data_type, ()


def is_choice_type(mysql_type: str) -> bool:
    """Whether values written to a column of ``mysql_type`` go through :func:`fit_choice`."""
    return _definition(mysql_type)[0] in ("enum", "set", "year")


def _truncated(column: Any, row: Any) -> MySQLError:
    return MySQLError(_TRUNCATED, f"Data truncated for column '{column}' at row {int(row)}", "01000")


def fit_choice(value: Any, mysql_type: str, column: Any, row: Any) -> Any:
    """``value`` as an ENUM, SET or YEAR column of ``mysql_type`` stores it (see the module docstring)."""
    if value is None:
        return None
    base, members = _definition(mysql_type)
    if base == "year":
        return _year(value, column, row)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    folded = [m.casefold() for m in members]
    if base == "enum":
        if isinstance(value, int):
            if 1 <= value <= len(members):
                return members[value - 1]
            raise _truncated(column, row)
        text = str(value)
        key = text.rstrip(" ").casefold()
        if key in folded:
            return members[folded.index(key)]
        if _INTEGER.match(text) and 1 <= int(text) <= len(members):
            return members[int(text) - 1]
        raise _truncated(column, row)
    # SET
    if isinstance(value, int):
        if value < 0 or value >> len(members):
            raise _truncated(column, row)
        return ",".join(m for i, m in enumerate(members) if value >> i & 1)
    text = str(value)
    if text == "":
        return ""
    chosen = set()
    for part in text.split(","):
        key = part.rstrip(" ").casefold()
        if key not in folded:
            raise _truncated(column, row)
        chosen.add(folded.index(key))
    return ",".join(members[i] for i in sorted(chosen))


def _year(value: Any, column: Any, row: Any) -> int:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise MySQLError(
                _INCORRECT,
                f"Incorrect integer value: '{value}' for column '{column}' at row {int(row)}",
                "HY000",
            ) from None
        year = round(number)
        if len(text) <= 2 and 0 <= year <= 99:  # '0'..'99': 2000-2069, 1970-1999
            return 2000 + year if year < 70 else 1900 + year
    elif isinstance(value, (int, float)):
        year = round(value)
        if 1 <= year <= 99:
            return 2000 + year if year < 70 else 1900 + year
    else:
        raise _truncated(column, row)
    if year == 0 or 1901 <= year <= 2155:
        return year
    raise MySQLError(_OUT_OF_RANGE, f"Out of range value for column '{column}' at row {int(row)}", "22003")


def read_as_number(mysql_type: str) -> bool:
    """ENUM, SET and BIT columns: MySQL reads them as numbers in arithmetic (:func:`choice_number`)."""
    return _definition(mysql_type)[0] in ("enum", "set", "bit")


def choice_number(value: Any, mysql_type: Any) -> int | None:
    """An ENUM value as MySQL reads it as a number (its 1-based index; 0 for ''), a SET value as its
    bitmask, a BIT value as its bits; NULL for NULL."""
    if value is None:
        return None
    base, members = _definition(str(mysql_type))
    if base == "bit":
        return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    folded = [m.casefold() for m in members]
    if base == "enum":
        key = text.casefold()
        return folded.index(key) + 1 if key in folded else 0
    bits = 0
    for part in text.split(",") if text else []:
        if part.casefold() in folded:
            bits |= 1 << folded.index(part.casefold())
    return bits
