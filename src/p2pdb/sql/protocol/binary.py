"""Binary-protocol values: decoding COM_STMT_EXECUTE parameters and encoding binary result-row values."""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from .constants import FieldType
from .errors import ErrorCode, MalformedPacket, MySQLError
from .packets import PayloadReader, lenenc_int
from .results import BLOB_TYPES, DATE_TYPES, DECIMAL_TYPES, TIME_TYPES, Column, SqlValue
from .text import text_bytes

# --- parameters (client -> server) -----------------------------------------------------------------

_INT_FORMATS: dict[int, tuple[struct.Struct, struct.Struct]] = {
    FieldType.TINY: (struct.Struct("<b"), struct.Struct("<B")),
    FieldType.SHORT: (struct.Struct("<h"), struct.Struct("<H")),
    FieldType.YEAR: (struct.Struct("<h"), struct.Struct("<H")),
    FieldType.INT24: (struct.Struct("<i"), struct.Struct("<I")),
    FieldType.LONG: (struct.Struct("<i"), struct.Struct("<I")),
    FieldType.LONGLONG: (struct.Struct("<q"), struct.Struct("<Q")),
}
_LENENC_SMALL = [bytes((i,)) for i in range(251)]
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


def _decode_datetime(raw: bytes, ftype: int) -> SqlValue:
    n = len(raw)
    if n == 0:
        return "0000-00-00" if ftype == FieldType.DATE else "0000-00-00 00:00:00"
    if n not in (4, 7, 11):
        raise MalformedPacket(f"bad date/time length {n}")
    year = raw[0] | raw[1] << 8
    month, day = raw[2], raw[3]
    hour = minute = second = micro = 0
    if n >= 7:
        hour, minute, second = raw[4], raw[5], raw[6]
    if n == 11:
        micro = int.from_bytes(raw[7:11], "little")
        if micro > 999_999:
            raise MalformedPacket(f"bad microseconds {micro}")
    try:
        if ftype == FieldType.DATE:
            return datetime.date(year, month, day)
        return datetime.datetime(year, month, day, hour, minute, second, micro)
    except (ValueError, OverflowError):
        # MySQL allows zero parts ("2020-00-00"); Python cannot represent them: pass the text form.
        text = f"{year:04d}-{month:02d}-{day:02d}"
        if ftype == FieldType.DATE:
            return text
        return f"{text} {hour:02d}:{minute:02d}:{second:02d}" + (f".{micro:06d}" if micro else "")


def _decode_time(raw: bytes) -> datetime.timedelta:
    n = len(raw)
    if n == 0:
        return datetime.timedelta(0)
    if n not in (8, 12):
        raise MalformedPacket(f"bad time length {n}")
    negative = raw[0]
    days = int.from_bytes(raw[1:5], "little")
    micro = int.from_bytes(raw[8:12], "little") if n == 12 else 0
    if days > 999_999 or micro > 999_999:  # MySQL's TIME is at most 838:59:59; timedelta's days ~1e9
        raise MalformedPacket(f"bad time value ({days} days, {micro} microseconds)")
    delta = datetime.timedelta(days=days, hours=raw[5], minutes=raw[6], seconds=raw[7], microseconds=micro)
    return -delta if negative else delta


def _decode_string(raw: bytes) -> str | bytes:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def decode_param(r: PayloadReader, ftype: int, unsigned: bool) -> SqlValue:
    """Read one non-NULL parameter value of type ``ftype`` from an execute payload.

    Integers and floats become int/float, DECIMAL a Decimal, dates date/datetime, TIME a timedelta,
    BLOB/BIT/GEOMETRY bytes, other strings str (or bytes when not valid UTF-8).
    """
    fmt = _INT_FORMATS.get(ftype)
    if fmt is not None:
        st = fmt[1] if unsigned else fmt[0]
        return int(st.unpack(r.fixed(st.size))[0])
    if ftype == FieldType.DOUBLE:
        return float(_DOUBLE.unpack(r.fixed(8))[0])
    if ftype == FieldType.FLOAT:
        return float(_FLOAT.unpack(r.fixed(4))[0])
    if ftype == FieldType.NULL:
        return None
    if ftype in DECIMAL_TYPES:
        text = r.lenenc_bytes().decode("ascii", "replace")
        try:
            return Decimal(text)
        except InvalidOperation as exc:
            raise MySQLError(ErrorCode.WRONG_ARGUMENTS, f"Incorrect decimal value: '{text}'") from exc
    if ftype in DATE_TYPES:
        return _decode_datetime(r.fixed(r.u8()), ftype)
    if ftype in TIME_TYPES:
        return _decode_time(r.fixed(r.u8()))
    if ftype in BLOB_TYPES or ftype == FieldType.BIT:
        return r.lenenc_bytes()
    if ftype in _STRING_PARAM_TYPES:
        return _decode_string(r.lenenc_bytes())
    raise MySQLError(ErrorCode.WRONG_ARGUMENTS, f"Unsupported parameter type {ftype}")


_STRING_PARAM_TYPES = frozenset(
    {
        FieldType.VARCHAR,
        FieldType.VAR_STRING,
        FieldType.STRING,
        FieldType.JSON,
        FieldType.ENUM,
        FieldType.SET,
    }
)


def decode_long_data(raw: bytes, ftype: int) -> SqlValue:
    """A parameter sent with COM_STMT_SEND_LONG_DATA: bytes, or str for text types when valid UTF-8."""
    if ftype in _STRING_PARAM_TYPES:
        return _decode_string(raw)
    return raw


def decode_params(
    r: PayloadReader,
    types: Sequence[tuple[int, bool]],
    null_bitmap: bytes,
    long_data: Mapping[int, bytes | bytearray],
) -> list[SqlValue]:
    values: list[SqlValue] = []
    for i, (ftype, unsigned) in enumerate(types):
        if i in long_data:  # long data wins over the NULL bit (MySQL; PHP mysqli flags BLOBs NULL)
            values.append(decode_long_data(bytes(long_data[i]), ftype))
        elif null_bitmap[i >> 3] & (1 << (i & 7)):
            values.append(None)
        else:
            values.append(decode_param(r, ftype, unsigned))
    return values


# --- result values (server -> client) --------------------------------------------------------------

Encoder = Callable[[SqlValue], bytes]


def _as_int(value: SqlValue, column: Column) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int):  # bool
        return int(value)
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    if isinstance(value, str | bytes):
        try:
            return int(value)
        except ValueError:
            pass
    raise MySQLError(
        ErrorCode.TRUNCATED_WRONG_VALUE_FOR_FIELD,
        f"Incorrect integer value: {value!r} for column '{column.name}'",
    )


def _int_encoder(column: Column) -> Encoder:
    pack = _INT_FORMATS[column.type][1 if column.unsigned else 0].pack

    def encode(value: SqlValue) -> bytes:
        try:
            return pack(value if type(value) is int else _as_int(value, column))
        except struct.error as exc:
            raise MySQLError(
                ErrorCode.DATA_OUT_OF_RANGE, f"Value {value!r} is out of range for column '{column.name}'"
            ) from exc

    return encode


def _float_encoder(column: Column) -> Encoder:
    pack = (_FLOAT if column.type == FieldType.FLOAT else _DOUBLE).pack

    def encode(value: SqlValue) -> bytes:
        try:
            return pack(float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise MySQLError(
                ErrorCode.TRUNCATED_WRONG_VALUE_FOR_FIELD,
                f"Incorrect double value: {value!r} for column '{column.name}'",
            ) from exc

    return encode


def _to_temporal(value: SqlValue, column: Column) -> SqlValue:
    if isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        if text.startswith("0000-00-00"):
            return None
        try:
            if column.type in TIME_TYPES:
                return _parse_time_text(text)
            if column.type == FieldType.DATE:
                return datetime.date.fromisoformat(text[:10])
            return datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
        raise MySQLError(
            ErrorCode.TRUNCATED_WRONG_VALUE_FOR_FIELD,
            f"Incorrect temporal value: {value!r} for column '{column.name}'",
        )
    return value


def _parse_time_text(text: str) -> datetime.timedelta:
    sign = -1 if text.startswith("-") else 1
    hours, minutes, seconds = text.lstrip("-").split(":")
    sec, _, frac = seconds.partition(".")
    micro = int((frac + "000000")[:6]) if frac else 0
    delta = datetime.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(sec), microseconds=micro)
    return sign * delta


def encode_datetime(value: SqlValue, column: Column) -> bytes:
    v = _to_temporal(value, column)
    if v is None:
        return b"\x00"
    if isinstance(v, datetime.datetime):
        if column.type == FieldType.DATE:
            return struct.pack("<BHBB", 4, v.year, v.month, v.day)
        if v.microsecond:
            return struct.pack(
                "<BHBBBBBI", 11, v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond
            )
        return struct.pack("<BHBBBBB", 7, v.year, v.month, v.day, v.hour, v.minute, v.second)
    if isinstance(v, datetime.date):
        if column.type == FieldType.DATE:
            return struct.pack("<BHBB", 4, v.year, v.month, v.day)
        return struct.pack("<BHBBBBB", 7, v.year, v.month, v.day, 0, 0, 0)
    raise MySQLError(
        ErrorCode.TRUNCATED_WRONG_VALUE_FOR_FIELD,
        f"Incorrect date value: {value!r} for column '{column.name}'",
    )


def encode_time(value: SqlValue, column: Column) -> bytes:
    v = _to_temporal(value, column)
    if v is None:
        return b"\x00"
    if isinstance(v, datetime.time):
        v = datetime.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
    if not isinstance(v, datetime.timedelta):
        raise MySQLError(
            ErrorCode.TRUNCATED_WRONG_VALUE_FOR_FIELD,
            f"Incorrect time value: {value!r} for column '{column.name}'",
        )
    negative = v < datetime.timedelta(0)
    total = -v if negative else v
    days, secs, micro = total.days, total.seconds, total.microseconds
    hours, rem = divmod(secs, 3600)
    minutes, seconds = divmod(rem, 60)
    if micro:
        return struct.pack("<BBIBBBI", 12, negative, days, hours, minutes, seconds, micro)
    if days or secs:
        return struct.pack("<BBIBBB", 8, negative, days, hours, minutes, seconds)
    return b"\x00"


def _null_encoder(column: Column) -> Encoder:
    def encode(value: SqlValue) -> bytes:
        raise MySQLError(ErrorCode.UNKNOWN_ERROR, f"Column '{column.name}' has type NULL but holds a value")

    return encode


def _string_encoder(value: SqlValue) -> bytes:
    b = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else text_bytes(value)
    n = len(b)
    return _LENENC_SMALL[n] + b if n < 251 else lenenc_int(n) + b


def binary_encoder(column: Column) -> Encoder:
    """The function encoding one non-NULL value of ``column`` in a binary result row."""
    ftype = column.type
    if ftype in _INT_FORMATS:
        return _int_encoder(column)
    if ftype in (FieldType.FLOAT, FieldType.DOUBLE):
        return _float_encoder(column)
    if ftype in DATE_TYPES:
        return lambda value: encode_datetime(value, column)
    if ftype in TIME_TYPES:
        return lambda value: encode_time(value, column)
    if ftype == FieldType.NULL:
        return _null_encoder(column)
    return _string_encoder
