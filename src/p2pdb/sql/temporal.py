"""MySQL's date and time arithmetic, CAST targets and XOR, as SQLite functions.

sqlglot's SQLite output of these is either invalid (``d + INTERVAL 1 MONTH``, ``EXTRACT``, ``XOR``,
``^``) or means something else (``DATE_ADD`` on a DATETIME drops the time, ``CAST(x AS DATETIME)``
keeps only the year, ``CAST(-1 AS UNSIGNED)`` stays -1). :func:`fix_node` turns those nodes into calls
of the functions :func:`register` installs, which follow MySQL 8:

- dates and datetimes are strings ``YYYY-MM-DD[ hh:mm:ss[.ffffff]]``; an invalid one gives NULL;
- ``DATE + INTERVAL n unit`` stays a DATE for day-or-larger units, else becomes a DATETIME; adding
  months clamps the day to the month's end (``'2024-01-31' + INTERVAL 1 MONTH`` = ``'2024-02-29'``);
- ``TIMESTAMPDIFF`` counts whole units (months by calendar, as MySQL does);
- ``CAST(x AS SIGNED|UNSIGNED)`` reads the leading number of a string; UNSIGNED wraps negatives
  modulo 2^64.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import apsw
from sqlglot import exp

_DATETIME = re.compile(
    r"^\s*(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*$"
)
_TIME = re.compile(r"^\s*(-)?(\d{1,3}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?\s*$")
_LEADING_INTEGER = re.compile(r"^\s*[-+]?\d+")
_LEADING_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DAY_UNITS = frozenset(("DAY", "WEEK", "MONTH", "QUARTER", "YEAR"))
_MICROS = {
    "MICROSECOND": 1,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
    "WEEK": 7 * 86_400_000_000,
}
_MONTHS = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _date_text(value: Any) -> str | None:
    """A date or datetime as text: numbers read as MySQL does (20240131, 20240131123000)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        digits = str(int(value))
        if len(digits) == 8:
            return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
        if len(digits) == 14:
            return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]} {digits[8:10]}:{digits[10:12]}:{digits[12:]}"
        return None
    return _text(value)


def parse_datetime(value: Any) -> tuple[datetime, bool] | None:
    """``(moment, has_time)`` of a MySQL date or datetime string; None if it is not one."""
    text = _date_text(value)
    if text is None:
        return None
    match = _DATETIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None
    return moment, hour is not None


def date_parts(value: Any) -> tuple[int, int, int] | None:
    """``(year, month, day)`` as MySQL's YEAR(), MONTH(), DAY() read them: a zero month or day is
    allowed (``MONTH('2024-00-10')`` is 0, ``YEAR('0000-00-00')`` 0); otherwise the date must exist
    (``DAY('2024-02-30')`` is NULL). None if the value is no date."""
    text = _date_text(value)
    match = _DATETIME.match(text) if text is not None else None
    if match is None:
        return None
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if month == 0 or day == 0:
        return (year, month, day) if month <= 12 and day <= 31 else None
    return (year, month, day) if parse_datetime(text) is not None else None


def format_datetime(moment: datetime, with_time: bool = True) -> str:
    if not with_time:
        return moment.strftime("%Y-%m-%d")
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond:06d}" if moment.microsecond else text


def _add_months(moment: datetime, months: int) -> datetime | None:
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        return None
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def date_add(value: Any, amount: Any, unit: Any, sign: Any = 1) -> str | None:
    """``value + INTERVAL amount unit`` (``sign`` -1: minus)."""
    parsed = parse_datetime(value)
    unit_name = (_text(unit) or "").upper()
    if parsed is None or amount is None:
        return None
    moment, has_time = parsed
    try:
        number = Decimal(_text(amount) or "0") * int(sign)
    except InvalidOperation:
        return None
    try:
        if unit_name in _MONTHS:
            result = _add_months(moment, int(number) * _MONTHS[unit_name])
            if result is None:
                return None
        elif unit_name in _MICROS:
            micros = int(number * _MICROS[unit_name])
            result = moment + timedelta(microseconds=micros)
        else:
            return None
    except OverflowError:
        return None
    if not 1 <= result.year <= 9999:
        return None
    return format_datetime(result, has_time or unit_name not in _DAY_UNITS)


def timestampdiff(unit: Any, start: Any, end: Any) -> int | None:
    """``TIMESTAMPDIFF(unit, start, end)``: whole units from ``start`` to ``end``."""
    a, b = parse_datetime(start), parse_datetime(end)
    unit_name = (_text(unit) or "").upper()
    if a is None or b is None:
        return None
    first, second = a[0], b[0]
    if unit_name in _MONTHS:
        months = (second.year - first.year) * 12 + (second.month - first.month)
        # A month counts only once its day and time are reached.
        rest_first = (first.day, first.time())
        rest_second = (second.day, second.time())
        if months > 0 and rest_second < rest_first:
            months -= 1
        elif months < 0 and rest_second > rest_first:
            months += 1
        return int(months / _MONTHS[unit_name])
    if unit_name in _MICROS:
        delta = second - first
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return int(micros / _MICROS[unit_name])
    return None


def extract(unit: Any, value: Any) -> int | None:
    unit_name = (_text(unit) or "").upper()
    parsed = parse_datetime(value)
    if parsed is None:
        zeros = date_parts(value)  # a zero month or day: EXTRACT(MONTH FROM '2024-00-10') is 0
        if zeros is None:
            return None
        year, month, day = zeros
        zero = {"YEAR": year, "MONTH": month, "DAY": day, "YEAR_MONTH": year * 100 + month}
        if month:
            zero["QUARTER"] = (month - 1) // 3 + 1
        return zero.get(unit_name)
    moment = parsed[0]
    parts = {
        "YEAR": moment.year,
        "QUARTER": (moment.month - 1) // 3 + 1,
        "MONTH": moment.month,
        "WEEK": int(moment.strftime("%U")),
        "DAY": moment.day,
        "HOUR": moment.hour,
        "MINUTE": moment.minute,
        "SECOND": moment.second,
        "MICROSECOND": moment.microsecond,
        "YEAR_MONTH": moment.year * 100 + moment.month,
        "DAY_HOUR": moment.day * 100 + moment.hour,
        "HOUR_MINUTE": moment.hour * 100 + moment.minute,
        "MINUTE_SECOND": moment.minute * 100 + moment.second,
        "DAY_MINUTE": (moment.day * 100 + moment.hour) * 100 + moment.minute,
        "DAY_SECOND": ((moment.day * 100 + moment.hour) * 100 + moment.minute) * 100 + moment.second,
        "HOUR_SECOND": (moment.hour * 100 + moment.minute) * 100 + moment.second,
        "SECOND_MICROSECOND": moment.second * 1_000_000 + moment.microsecond,
        "MINUTE_MICROSECOND": (moment.minute * 100 + moment.second) * 1_000_000 + moment.microsecond,
        "HOUR_MICROSECOND": ((moment.hour * 100 + moment.minute) * 100 + moment.second) * 1_000_000
        + moment.microsecond,
        "DAY_MICROSECOND": (((moment.day * 100 + moment.hour) * 100 + moment.minute) * 100 + moment.second)
        * 1_000_000
        + moment.microsecond,
    }
    return parts.get(unit_name)


# MySQL format specifiers -> (strptime directive, what it sets)
_FORMAT = {
    "Y": ("%Y", "date"), "y": ("%y", "date"), "m": ("%m", "date"), "c": ("%m", "date"),
    "d": ("%d", "date"), "e": ("%d", "date"), "M": ("%B", "date"), "b": ("%b", "date"),
    "j": ("%j", "date"), "H": ("%H", "time"), "k": ("%H", "time"), "h": ("%I", "time"),
    "I": ("%I", "time"), "l": ("%I", "time"), "i": ("%M", "time"), "s": ("%S", "time"),
    "S": ("%S", "time"), "f": ("%f", "time"), "p": ("%p", "time"), "T": ("%H:%M:%S", "time"),
    "r": ("%I:%M:%S %p", "time"), "a": ("%a", "date"), "W": ("%A", "date"), "%": ("%%", ""),
}  # fmt: skip


def str_to_date_type(fmt: str) -> tuple[str, int] | None:
    """The MySQL type of ``STR_TO_DATE(x, fmt)``: ("datetime", fsp) when the format has date and
    time parts, ("time", fsp) or ("date", 0) when it has one kind; None for an unknown specifier."""
    kinds: set[str] = set()
    for spec in re.findall(r"%(.)", fmt):
        entry = _FORMAT.get(spec)
        if entry is None:
            return None
        kinds.add(entry[1])
    fsp = 6 if "%f" in fmt else 0
    if "date" in kinds:
        return ("datetime", fsp) if "time" in kinds else ("date", 0)
    return ("time", fsp) if "time" in kinds else None


def str_to_date(value: Any, fmt: Any) -> str | None:
    """``STR_TO_DATE(value, fmt)``: a DATE, DATETIME or TIME string as the format's parts say."""
    text, pattern = _text(value), _text(fmt)
    if text is None or pattern is None:
        return None
    out: list[str] = []
    kinds: set[str] = set()
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "%" and i + 1 < len(pattern):
            spec = _FORMAT.get(pattern[i + 1])
            if spec is None:
                return None
            out.append(spec[0])
            kinds.add(spec[1])
            i += 2
            continue
        out.append("%%" if char == "%" else char)
        i += 1
    try:
        moment = datetime.strptime(text.strip(), "".join(out))
    except ValueError:
        return None
    if "date" in kinds and "time" in kinds:
        return format_datetime(moment)
    if "time" in kinds:
        text_time = moment.strftime("%H:%M:%S")
        return f"{text_time}.{moment.microsecond:06d}" if moment.microsecond else text_time
    return moment.strftime("%Y-%m-%d")


def cast_datetime(value: Any) -> str | None:
    parsed = parse_datetime(value)
    return None if parsed is None else format_datetime(parsed[0])


def cast_date(value: Any) -> str | None:
    parsed = parse_datetime(value)
    return None if parsed is None else parsed[0].strftime("%Y-%m-%d")


def cast_time(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    parsed = parse_datetime(text)
    if parsed is not None:
        moment = parsed[0]
        base = moment.strftime("%H:%M:%S")
        return f"{base}.{moment.microsecond:06d}" if moment.microsecond else base
    match = _TIME.match(text)
    if match is None:
        return None
    negative, hours, minutes, seconds, fraction = match.groups()
    out = f"{'-' if negative else ''}{int(hours):02d}:{int(minutes):02d}:{int(seconds or 0):02d}"
    return f"{out}.{fraction.ljust(6, '0')}" if fraction else out


def _leading_integer(value: Any, *, cast: bool = False) -> int | None:
    """The integer MySQL reads from a value: numbers rounded half up; a string's leading number
    rounded, or for ``CAST(... AS SIGNED/UNSIGNED)`` (``cast``) its leading integer digits only
    (``CAST('1e3' AS SIGNED)`` is 1, ``CAST('-7.9' AS SIGNED)`` -7)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(Decimal(value).to_integral_value(rounding="ROUND_HALF_UP"))
    text = _text(value) or ""
    if cast:
        digits = _LEADING_INTEGER.match(text)
        return int(digits.group()) if digits is not None else 0
    match = _LEADING_NUMBER.match(text)
    if match is None:
        return 0
    try:
        return int(Decimal(match.group()).to_integral_value(rounding="ROUND_HALF_UP"))
    except InvalidOperation:
        return 0


def cast_signed(value: Any) -> int | None:
    number = _leading_integer(value, cast=True)
    if number is None:
        return None
    return max(-(2**63), min(2**63 - 1, number))


def cast_unsigned(value: Any) -> int | str | None:
    number = _leading_integer(value, cast=True)
    if number is None:
        return None
    wrapped = number % 2**64
    return wrapped if wrapped < 2**63 else str(wrapped)  # SQLite integers stop at 2^63 - 1


def xor(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    return int(_truth(a) != _truth(b))


def _truth(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return value != 0
    match = _LEADING_NUMBER.match(_text(value) or "")
    return match is not None and Decimal(match.group()) != 0


def bit_xor(a: Any, b: Any) -> int | str | None:
    x, y = _leading_integer(a), _leading_integer(b)
    if x is None or y is None:
        return None
    result = (x % 2**64) ^ (y % 2**64)
    return result if result < 2**63 else str(result)


def fsp(moment: Any, digits: Any) -> str | None:
    """``NOW(n)``: the statement's time (with microseconds) cut to ``n`` fractional digits."""
    text = _text(moment)
    if text is None:
        return None
    places = max(0, min(6, int(digits or 0)))
    head, _, fraction = text.partition(".")
    return f"{head}.{(fraction or '').ljust(6, '0')[:places]}" if places else head


FUNCTIONS: dict[str, Any] = {
    "p2pdb_fsp": fsp,
    "p2pdb_date_add": date_add,
    "p2pdb_timestampdiff": timestampdiff,
    "p2pdb_extract": extract,
    "str_to_date": str_to_date,
    "p2pdb_cast_datetime": cast_datetime,
    "p2pdb_cast_date": cast_date,
    "p2pdb_cast_time": cast_time,
    "p2pdb_cast_signed": cast_signed,
    "p2pdb_cast_unsigned": cast_unsigned,
    "p2pdb_xor": xor,
    "p2pdb_bit_xor": bit_xor,
}


def register(conn: apsw.Connection) -> None:
    for name, fn in FUNCTIONS.items():
        conn.create_scalar_function(name, fn, -1, deterministic=True)
    # MySQL's DATE(x): NULL for an invalid date (SQLite's date('2024-02-30') is '2024-03-01'); the
    # other arities stay SQLite's.
    conn.create_scalar_function("date", cast_date, 1, deterministic=True)  # type: ignore[arg-type]
    # TIME(x): the time part with its fraction (SQLite's time() drops it).
    conn.create_scalar_function("time", cast_time, 1, deterministic=True)  # type: ignore[arg-type]


# -- sqlglot: MySQL nodes to calls of the functions above ---------------------------------------

_CASTS = {
    exp.DataType.Type.DATETIME: "p2pdb_cast_datetime",
    exp.DataType.Type.TIMESTAMP: "p2pdb_cast_datetime",
    exp.DataType.Type.DATE: "p2pdb_cast_date",
    exp.DataType.Type.TIME: "p2pdb_cast_time",
    exp.DataType.Type.BIGINT: "p2pdb_cast_signed",
    exp.DataType.Type.INT: "p2pdb_cast_signed",
    exp.DataType.Type.UBIGINT: "p2pdb_cast_unsigned",
    exp.DataType.Type.UINT: "p2pdb_cast_unsigned",
    exp.DataType.Type.JSON: "p2pdb_cast_json",
}
_CHARS = frozenset((exp.DataType.Type.CHAR, exp.DataType.Type.VARCHAR, exp.DataType.Type.NCHAR))


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _unit(node: exp.Expression) -> exp.Expression:
    unit = node.args.get("unit")
    name = unit.name if isinstance(unit, exp.Expression) else str(unit or "DAY")
    return exp.Literal.string(name.upper())


def _interval(node: exp.Interval) -> tuple[exp.Expression, exp.Expression]:
    amount = node.this
    if isinstance(amount, exp.Literal) and amount.is_string:
        amount = exp.Literal.number(amount.this) if _LEADING_NUMBER.fullmatch(amount.this) else amount
    return amount, _unit(node)


def fix_node(node: exp.Expression) -> exp.Expression:
    """One sqlglot node in MySQL's meaning (see the module docstring); other nodes unchanged."""
    if isinstance(node, (exp.DateAdd, exp.DateSub, exp.TimestampAdd)):
        sign = -1 if isinstance(node, exp.DateSub) else 1
        return _call("p2pdb_date_add", node.this, node.expression, _unit(node), exp.Literal.number(sign))
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        amount, unit = _interval(node.expression)
        sign = -1 if isinstance(node, exp.Sub) else 1
        return _call("p2pdb_date_add", node.this, amount, unit, exp.Literal.number(sign))
    if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        amount, unit = _interval(node.this)
        return _call("p2pdb_date_add", node.expression, amount, unit, exp.Literal.number(1))
    if (
        isinstance(node, exp.Anonymous)
        and node.name.upper() in ("ADDDATE", "SUBDATE")
        and len(node.expressions) == 2
    ):
        # ADDDATE(d, INTERVAL n unit) is DATE_ADD; ADDDATE(d, n) adds n days (SUBDATE alike).
        start, step = node.expressions
        amount, unit = (
            _interval(step) if isinstance(step, exp.Interval) else (step, exp.Literal.string("DAY"))
        )
        sign = -1 if node.name.upper() == "SUBDATE" else 1
        return _call("p2pdb_date_add", start, amount, unit, exp.Literal.number(sign))
    if isinstance(node, exp.Timestamp):  # TIMESTAMP(expr) is a DATETIME; TIMESTAMP(expr, time) adds the time
        value = _call("p2pdb_cast_datetime", node.this)
        added = node.args.get("zone")
        return value if added is None else _call("addtime", value, added)
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Placeholder):
        # DATE_FORMAT(x, fmt): sqlglot's SQLite form is strftime, whose %f, %i, %e... differ
        value = node.this.this if isinstance(node.this, exp.TsOrDsToTimestamp) else node.this
        return _call("date_format", value, node.args["format"])
    if isinstance(node, exp.TimestampDiff):
        return _call("p2pdb_timestampdiff", _unit(node), node.expression, node.this)
    if isinstance(node, exp.Extract):
        return _call("p2pdb_extract", exp.Literal.string(node.this.name.upper()), node.expression)
    if isinstance(node, exp.StrToDate):
        return _call("str_to_date", node.this, node.args["format"])
    if isinstance(node, exp.Xor) and node.this is not None and node.expression is not None:
        return _call("p2pdb_xor", node.this, node.expression)
    if isinstance(node, exp.BitwiseXor):
        return _call("p2pdb_bit_xor", node.this, node.expression)
    if isinstance(node, exp.Cast) and isinstance(node.to, exp.DataType):
        kind = node.to.this
        if kind == exp.DataType.Type.CHARACTER_SET:  # CONVERT(x USING cs): text is utf8mb4 here
            charset = node.to.args.get("kind")
            binary = isinstance(charset, exp.Expression) and charset.name.lower() == "binary"
            return exp.Cast(this=node.this, to=exp.DataType.build("BLOB" if binary else "TEXT"))
        if kind in _CASTS:
            return _call(_CASTS[kind], node.this)
        if kind in _CHARS and node.to.expressions:
            length = node.to.expressions[0]
            size = length.this if isinstance(length, exp.DataTypeParam) else length
            text = exp.Cast(this=node.this, to=exp.DataType.build("TEXT"))
            return exp.Substring(this=text, start=exp.Literal.number(1), length=size)
    return node


#: Shapes the lexical rewrite would run with another meaning (valid SQLite, different result).
NEEDS_TRANSLATION = re.compile(
    r"\bCAST\s*\(|\bCONVERT\s*\(|\^|\bXOR\b|\bTIMESTAMP(?:DIFF|ADD)\s*\(", re.IGNORECASE
)
