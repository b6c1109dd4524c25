"""MySQL TIME functions and the date functions :mod:`p2pdb.sql.temporal` and :mod:`p2pdb.sql.builtins`
lack, as SQLite functions.

A TIME value is a string ``[-]hh:mm:ss[.ffffff]`` (hours may pass 24, up to MySQL's 838:59:59); inside,
a signed count of microseconds. ``WEEK`` and ``YEARWEEK`` follow MySQL's week modes 0-7 (a port of its
``calc_week``). ``GET_FORMAT(DATE, 'USA')`` names a type where SQLite expects a value: the plan quotes it
(:func:`rewrite_get_format`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import apsw

from p2pdb.sql.temporal import format_datetime, parse_datetime

MAX_TIME = (838 * 3600 + 59 * 60 + 59) * 1_000_000
_TIME = re.compile(r"^\s*(-)?(?:(\d+)\s+)?(\d{1,3})(?::(\d{1,2})(?::(\d{1,2}))?)?(?:\.(\d{1,6}))?\s*$")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_time(value: Any) -> int | None:
    """Microseconds of a MySQL TIME (``'-1 02:03:04.5'``, ``'12:30'``, ``123000`` as hhmmss)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        sign = -1 if value < 0 else 1
        whole = abs(int(value))
        micros = round((abs(value) - whole) * 1_000_000) if isinstance(value, float) else 0
        hh, rest = divmod(whole, 10000)
        mm, ss = divmod(rest, 100)
        return sign * (((hh * 60 + mm) * 60 + ss) * 1_000_000 + micros)
    match = _TIME.match(_text(value))
    if match is None:
        parsed = parse_datetime(value)
        if parsed is None:
            return None
        moment = parsed[0]
        return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + moment.microsecond
    negative, days, hours, minutes, seconds, fraction = match.groups()
    if minutes is None and days is None and seconds is None:
        # a bare number is seconds-last: '12' is 00:00:12, like MySQL's hhmmss reading
        return parse_time(int(hours) * (-1 if negative else 1))
    total = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)
    micros = total * 1_000_000 + int((fraction or "0").ljust(6, "0"))
    return -micros if negative else micros


def time_parts(value: Any) -> tuple[int, int, int, int] | None:
    """``(hours, minutes, seconds, microseconds)`` as MySQL's HOUR(), MINUTE(), SECOND() read a TIME,
    a datetime or a date (``HOUR('838:59:59')`` is 838, ``HOUR('-10:00:00')`` 10, a date's are 0);
    None if the value is none of them."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 10_000_000:
        parsed = parse_datetime(value)  # 20240315103000: a datetime, not hhmmss
        if parsed is None:
            return None
        moment = parsed[0]
        return moment.hour, moment.minute, moment.second, moment.microsecond
    micros = parse_time(value)
    if micros is None:
        return None
    seconds, fraction = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return hour, minute, second, fraction


def format_time(micros: int) -> str:
    micros = max(-MAX_TIME, min(MAX_TIME, micros)) if abs(micros) > MAX_TIME else micros
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{sign}{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


def _is_datetime(value: Any) -> bool:
    parsed = parse_datetime(value) if isinstance(value, (str, bytes)) else None
    return parsed is not None and parsed[1]


def time_to_sec(value: Any) -> int | float | None:
    micros = parse_time(value)
    if micros is None:
        return None
    whole, rest = divmod(abs(micros), 1_000_000)
    sign = -1 if micros < 0 else 1
    return sign * whole if not rest else sign * (whole + rest / 1_000_000)


def sec_to_time(value: Any) -> str | None:
    if value is None:
        return None
    try:
        seconds = float(_text(value)) if not isinstance(value, (int, float)) else value
    except ValueError:
        return None
    return format_time(round(seconds * 1_000_000))


def makedate(year: Any, day_of_year: Any) -> str | None:
    if year is None or day_of_year is None or int(day_of_year) <= 0:
        return None
    try:
        start = dt.date(int(year), 1, 1)
        return (start + dt.timedelta(days=int(day_of_year) - 1)).isoformat()
    except (ValueError, OverflowError):
        return None


def maketime(hour: Any, minute: Any, second: Any) -> str | None:
    if hour is None or minute is None or second is None:
        return None
    if not 0 <= int(minute) <= 59 or not 0 <= float(second) < 60:
        return None
    sign = -1 if int(hour) < 0 else 1
    micros = ((abs(int(hour)) * 60 + int(minute)) * 60) * 1_000_000 + round(float(second) * 1_000_000)
    return format_time(sign * micros)


def _shift(value: Any, amount: Any, sign: int) -> str | None:
    delta = parse_time(amount)
    if value is None or delta is None:
        return None
    if _is_datetime(value):
        parsed = parse_datetime(value)
        assert parsed is not None
        return format_datetime(parsed[0] + dt.timedelta(microseconds=sign * delta))
    base = parse_time(value)
    return None if base is None else format_time(base + sign * delta)


def addtime(value: Any, amount: Any) -> str | None:
    return _shift(value, amount, 1)


def subtime(value: Any, amount: Any) -> str | None:
    return _shift(value, amount, -1)


def timediff(a: Any, b: Any) -> str | None:
    if a is None or b is None:
        return None
    if _is_datetime(a) or _is_datetime(b):
        first, second = parse_datetime(a), parse_datetime(b)
        if first is None or second is None or not (first[1] and second[1]):
            return None
        delta = first[0] - second[0]
        return format_time(delta // dt.timedelta(microseconds=1))
    left, right = parse_time(a), parse_time(b)
    return None if left is None or right is None else format_time(left - right)


def _day_number(day: dt.date) -> int:
    return day.toordinal() + 365  # MySQL's TO_DAYS


def _days_in_year(year: int) -> int:
    return 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365


def _week_mode(mode: int) -> int:
    behaviour = mode & 7
    if not behaviour & 1:
        behaviour ^= 4
    return behaviour


def calc_week(day: dt.date, behaviour: int) -> tuple[int, int]:
    """MySQL's calc_week: (year, week) for week behaviour flags 1 Monday first, 2 week year, 4 first weekday."""
    monday_first, week_year, first_weekday = behaviour & 1, behaviour & 2, behaviour & 4
    daynr = _day_number(day)
    first_daynr = _day_number(dt.date(day.year, 1, 1))
    weekday = (first_daynr + 5 + (0 if monday_first else 1)) % 7
    year = day.year
    if day.month == 1 and day.day <= 7 - weekday:
        if not week_year and ((first_weekday and weekday != 0) or (not first_weekday and weekday >= 4)):
            return year, 0
        week_year = 1
        year -= 1
        days = _days_in_year(year)
        first_daynr -= days
        weekday = (weekday + 53 * 7 - days) % 7
    if (first_weekday and weekday != 0) or (not first_weekday and weekday >= 4):
        days = daynr - (first_daynr + (7 - weekday))
    else:
        days = daynr - (first_daynr - weekday)
    if week_year and days >= 52 * 7:
        weekday = (weekday + _days_in_year(year)) % 7
        if (not first_weekday and weekday < 4) or (first_weekday and weekday == 0):
            return year + 1, 1
    return year, days // 7 + 1


def _date(value: Any) -> dt.date | None:
    parsed = parse_datetime(value)
    return None if parsed is None else parsed[0].date()


def week(value: Any, mode: Any = 0) -> int | None:
    day = _date(value)
    return None if day is None else calc_week(day, _week_mode(int(mode or 0)))[1]


def yearweek(value: Any, mode: Any = 0) -> int | None:
    day = _date(value)
    if day is None:
        return None
    year, number = calc_week(day, _week_mode(int(mode or 0)) | 2)
    return year * 100 + number


def _period_months(period: int) -> int:
    year, month = divmod(period, 100)
    if year < 100:
        year += 2000 if year < 70 else 1900
    return year * 12 + month - 1


def period_add(period: Any, months: Any) -> int | None:
    if period is None or months is None:
        return None
    if int(period) == 0:
        return 0
    year, month = divmod(_period_months(int(period)) + int(months), 12)
    return year * 100 + month + 1


def period_diff(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    return _period_months(int(a)) - _period_months(int(b))


def from_days(value: Any) -> str | None:
    if value is None:
        return None
    number = int(float(value))
    if number < 366 or number > 3652424:
        return "0000-00-00"
    return dt.date.fromordinal(number - 365).isoformat()


def utc_date(*_: Any) -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def utc_time(*_: Any) -> str:
    return dt.datetime.now(dt.UTC).strftime("%H:%M:%S")


_GET_FORMAT = {
    "DATE": {
        "USA": "%m.%d.%Y",
        "JIS": "%Y-%m-%d",
        "ISO": "%Y-%m-%d",
        "EUR": "%d.%m.%Y",
        "INTERNAL": "%Y%m%d",
    },
    "DATETIME": {
        "USA": "%Y-%m-%d %H.%i.%s",
        "JIS": "%Y-%m-%d %H:%i:%s",
        "ISO": "%Y-%m-%d %H:%i:%s",
        "EUR": "%Y-%m-%d %H.%i.%s",
        "INTERNAL": "%Y%m%d%H%i%s",
    },
    "TIME": {
        "USA": "%h:%i:%s %p",
        "JIS": "%H:%i:%s",
        "ISO": "%H:%i:%s",
        "EUR": "%H.%i.%s",
        "INTERNAL": "%H%i%s",
    },
}
_GET_FORMAT["TIMESTAMP"] = _GET_FORMAT["DATETIME"]


def get_format(kind: Any, standard: Any) -> str | None:
    if kind is None or standard is None:
        return None
    return _GET_FORMAT.get(_text(kind).upper(), {}).get(_text(standard).upper())


def time_format(value: Any, fmt: Any) -> str | None:
    micros = parse_time(value)
    if micros is None or fmt is None:
        return None
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    twelve = hour % 12 or 12
    specs = {
        "H": f"{hour:02d}",
        "k": str(hour),
        "h": f"{twelve:02d}",
        "I": f"{twelve:02d}",
        "l": str(twelve),
        "i": f"{minute:02d}",
        "s": f"{second:02d}",
        "S": f"{second:02d}",
        "f": f"{fraction:06d}",
        "p": "AM" if hour % 24 < 12 else "PM",
        "r": f"{twelve:02d}:{minute:02d}:{second:02d} {'AM' if hour % 24 < 12 else 'PM'}",
        "T": f"{hour:02d}:{minute:02d}:{second:02d}",
        "%": "%",
    }
    out: list[str] = []
    text, i = _text(fmt), 0
    while i < len(text):
        if text[i] == "%" and i + 1 < len(text):
            spec = text[i + 1]
            if spec not in specs:
                return None  # a date specifier: MySQL gives NULL
            out.append(specs[spec])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return sign + "".join(out)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "time_to_sec": time_to_sec,
    "sec_to_time": sec_to_time,
    "makedate": makedate,
    "maketime": maketime,
    "addtime": addtime,
    "subtime": subtime,
    "timediff": timediff,
    "week": week,
    "yearweek": yearweek,
    "period_add": period_add,
    "period_diff": period_diff,
    "from_days": from_days,
    "get_format": get_format,
    "time_format": time_format,
}


def register(conn: apsw.Connection) -> None:
    for name, fn in FUNCTIONS.items():
        conn.create_scalar_function(name, fn, -1, deterministic=True)
    conn.create_scalar_function("utc_date", utc_date, 0)
    conn.create_scalar_function("utc_time", utc_time, 0)


_GET_FORMAT_TYPE = re.compile(r"\bGET_FORMAT\s*\(\s*(DATE|TIME|DATETIME|TIMESTAMP)\s*,", re.IGNORECASE)


def rewrite_get_format(shape: str) -> str:
    """``GET_FORMAT(DATE, ...)`` → ``GET_FORMAT('DATE', ...)`` (a type name where SQLite wants a value)."""
    if "get_format" not in shape.lower():
        return shape
    return _GET_FORMAT_TYPE.sub(lambda m: f"GET_FORMAT('{m.group(1).upper()}',", shape)
