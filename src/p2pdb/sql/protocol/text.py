"""Text-protocol representation of values, as MySQL prints them (also used for binary string columns)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .results import SqlValue


def utf8(text: str) -> bytes:
    """Valid UTF-8 for names and messages, which drivers decode strictly: surrogates (e.g. bytes of a
    query that were not UTF-8, escaped by ``surrogateescape``) become '?'."""
    return text.encode("utf-8", "replace")


def _float(value: float) -> bytes:
    text = repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace("e+", "e").encode()


def _decimal(value: Decimal) -> bytes:
    return format(value, "f").encode()


def _datetime(value: datetime.datetime) -> bytes:
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value.isoformat(" ").encode()


def _date(value: datetime.date) -> bytes:
    return value.isoformat().encode()


def _time(value: datetime.time) -> bytes:
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value.isoformat().encode()


def _timedelta(value: datetime.timedelta) -> bytes:
    sign = ""
    if value < datetime.timedelta(0):
        sign, value = "-", -value
    hours, rem = divmod(value.days * 86400 + value.seconds, 3600)
    minutes, seconds = divmod(rem, 60)
    frac = f".{value.microseconds:06d}" if value.microseconds else ""
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}{frac}".encode()


def _bool(value: bool) -> bytes:
    return b"1" if value else b"0"


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    str: lambda v: v.encode("utf-8", "surrogateescape"),
    bytes: lambda v: v,
    int: lambda v: b"%d" % v,
    bool: _bool,
    float: _float,
    Decimal: _decimal,
    datetime.datetime: _datetime,
    datetime.date: _date,
    datetime.time: _time,
    datetime.timedelta: _timedelta,
    bytearray: bytes,
    memoryview: bytes,
}


def text_bytes(value: SqlValue) -> bytes:
    """The bytes of a non-NULL value in a text result row."""
    encode = _ENCODERS.get(type(value))
    if encode is not None:
        return encode(value)
    # Subclasses (IntEnum, str subclasses, ...): find the first matching base.
    for base in type(value).__mro__[1:]:
        encode = _ENCODERS.get(base)
        if encode is not None:
            return encode(value)
    return str(value).encode()
