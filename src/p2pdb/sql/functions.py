"""MySQL functions that SQLite lacks or defines differently, registered on every connection.

Session-dependent functions (``LAST_INSERT_ID()``, ``DATABASE()``, ``CONNECTION_ID()``, ``USER()``,
``FOUND_ROWS()``, ``ROW_COUNT()``) are not here: the session binds them as parameters.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import math
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import apsw

from p2pdb import __version__
from p2pdb.sql import (
    aggregates,
    builtins,
    decimals,
    fulltext,
    guard,
    json_functions,
    like,
    math_functions,
    string_functions,
    temporal,
    time_functions,
    timezones,
    user_variables,
)
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError

MYSQL_VERSION = f"8.0.36-p2pdb-{__version__}"


def _now(*_: Any) -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _utc_now(*_: Any) -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _curdate(*_: Any) -> str:
    return datetime.date.today().isoformat()


def _curtime(*_: Any) -> str:
    return datetime.datetime.now().strftime("%H:%M:%S")


def _parse_dt(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value)
    text = value.decode() if isinstance(value, bytes) else str(value)
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _unix_timestamp(value: Any = None) -> int | float | None:
    if value is None:
        return int(time.time())
    parsed = _parse_dt(value)
    return int(parsed.timestamp()) if parsed else None


def _from_unixtime(value: Any, fmt: Any = None) -> str | None:
    if value is None:
        return None
    moment = datetime.datetime.fromtimestamp(float(value))
    if fmt is not None:
        return _date_format(moment, fmt)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    digits = str(value).partition(".")[2] if type(value) in (str, float) else ""
    fsp = min(len(digits.rstrip("0") if type(value) is float else digits), 6)  # the argument's decimals
    return f"{text}.{moment.microsecond:06d}"[: len(text) + 1 + fsp] if fsp else text


_UUID_SHORT = itertools.count((int(time.time()) & 0xFFFFFFFF) << 24)


def _random_bytes(length: Any) -> bytes | None:
    """RANDOM_BYTES(n): n bytes from the operating system's generator, 1 <= n <= 1024 (MySQL)."""
    if length is None:
        return None
    count = int(length) if isinstance(length, (int, float)) else 0
    if not 1 <= count <= 1024:
        raise MySQLError(ErrorCode.DATA_OUT_OF_RANGE, "length value is out of range in 'random_bytes'")
    return os.urandom(count)


def _uuid_short() -> int:
    """UUID_SHORT(): MySQL's (server id << 56) + (start time << 24) + a counter; server id 0 here.
    Unique among one node's calls since it started, increasing."""
    return next(_UUID_SHORT) & 0x7FFFFFFFFFFFFFFF


_FORMAT_MAP = {
    "a": "%a", "b": "%b", "c": None, "D": None, "d": "%d", "e": None, "f": "%f", "H": "%H", "h": "%I",
    "I": "%I", "i": "%M", "j": "%j", "k": None, "l": None, "M": "%B", "m": "%m", "p": "%p", "r": "%I:%M:%S %p",
    "S": "%S", "s": "%S", "T": "%H:%M:%S", "U": "%U", "u": "%W", "W": "%A", "w": "%w", "Y": "%Y", "y": "%y",
    "%": "%%",
}  # fmt: skip


def _date_format(value: Any, fmt: Any) -> str | None:
    moment = value if isinstance(value, datetime.datetime) else _parse_dt(value)
    if moment is None or fmt is None:
        return None
    out: list[str] = []
    chars = str(fmt)
    i = 0
    while i < len(chars):
        ch = chars[i]
        if ch == "%" and i + 1 < len(chars):
            spec = chars[i + 1]
            i += 2
            mapped = _FORMAT_MAP.get(spec, spec)
            if mapped is not None:
                out.append(moment.strftime(mapped) if mapped != spec else spec)
            elif spec == "c":
                out.append(str(moment.month))
            elif spec == "e":
                out.append(str(moment.day))
            elif spec == "k":
                out.append(str(moment.hour))
            elif spec == "l":
                out.append(str(moment.hour % 12 or 12))
            elif spec == "D":
                day = moment.day
                suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
                out.append(f"{day}{suffix}")
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _date_part(index: int) -> Callable[[Any], int | None]:
    """YEAR(), MONTH(), DAY(): zero parts as they are (``MONTH('2024-00-10')`` is 0)."""

    def extract(value: Any) -> int | None:
        parts = temporal.date_parts(value)
        return None if parts is None else parts[index]

    return extract


def _time_part(index: int) -> Callable[[Any], int | None]:
    """HOUR(), MINUTE(), SECOND() of a TIME (``HOUR('838:59:59')`` is 838), a datetime or a date."""

    def extract(value: Any) -> int | None:
        parts = time_functions.time_parts(value)
        return None if parts is None else parts[index]

    return extract


def _datediff(a: Any, b: Any) -> int | None:
    first, second = _parse_dt(a), _parse_dt(b)
    if first is None or second is None:
        return None
    return (first.date() - second.date()).days


def _concat(*args: Any) -> Any:
    if any(a is None for a in args):
        return None
    if any(isinstance(a, bytes) for a in args):
        return b"".join(a if isinstance(a, bytes) else _text(a).encode() for a in args)
    return "".join(_text(a) for a in args)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _concat_ws(sep: Any, *args: Any) -> Any:
    if sep is None:
        return None
    return _text(sep).join(_text(a) for a in args if a is not None)


def _if(cond: Any, a: Any, b: Any) -> Any:
    return a if cond not in (None, 0, 0.0, "", "0") and cond else b


def _extreme(pick: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """GREATEST/LEAST as MySQL compares: numbers as numbers, and strings with them as DOUBLEs
    (``LEAST(1, '2')`` is 1.0); strings alone by the case-insensitive collation (``GREATEST('a',
    'B')`` is 'B'); NULL if any argument is."""
    if any(a is None for a in args):
        return None
    texts = [isinstance(a, (str, bytes)) for a in args]
    if all(texts):
        if all(isinstance(a, str) for a in args):
            return pick(args, key=str.casefold)
        return pick(a if isinstance(a, bytes) else str(a).encode() for a in args)
    if any(texts):
        return float(pick(decimals.as_number(a) if isinstance(a, (str, bytes)) else a for a in args))
    return pick(args)


def _greatest(*args: Any) -> Any:
    return _extreme(max, args)


def _least(*args: Any) -> Any:
    return _extreme(min, args)


def _lpad(s: Any, n: Any, pad: Any) -> str | None:
    if s is None or n is None or pad is None:
        return None
    text, width, fill = _text(s), int(n), _text(pad)
    if len(text) >= width:
        return text[: max(0, width)]
    if not fill:
        return None  # MySQL: nothing to pad with
    return ((fill * ((width - len(text)) // len(fill) + 1))[: width - len(text)]) + text


def _rpad(s: Any, n: Any, pad: Any) -> str | None:
    if s is None or n is None or pad is None:
        return None
    text, width, fill = _text(s), int(n), _text(pad)
    if len(text) >= width:
        return text[: max(0, width)]
    if not fill:
        return None
    return text + (fill * ((width - len(text)) // len(fill) + 1))[: width - len(text)]


def _substring_index(s: Any, delim: Any, count: Any) -> str | None:
    if s is None or delim is None or count is None:
        return None
    text, sep, n = _text(s), _text(delim), int(count)
    if n == 0 or not sep:
        return ""
    parts = text.split(sep)
    return sep.join(parts[:n]) if n > 0 else sep.join(parts[n:])


def _field(value: Any, *args: Any) -> int:
    if value is None:
        return 0
    for index, arg in enumerate(args, 1):
        if arg == value:
            return index
    return 0


def _find_in_set(value: Any, items: Any) -> int | None:
    if value is None or items is None:
        return None
    parts = _text(items).split(",") if items != "" else []
    try:
        return parts.index(_text(value)) + 1
    except ValueError:
        return 0


def _regexp(pattern: Any, value: Any) -> int | None:
    """``value REGEXP pattern`` (SQLite passes the pattern first): as REGEXP_LIKE, time-limited."""
    return string_functions.regexp_like(value, pattern)


def _hash(algo: str) -> Callable[[Any], str | None]:
    def digest(value: Any) -> str | None:
        if value is None:
            return None
        data = value if isinstance(value, bytes) else _text(value).encode()
        return hashlib.new(algo, data).hexdigest()

    return digest


def _sha2(value: Any, bits: Any) -> str | None:
    if value is None:
        return None
    algo = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}.get(int(bits or 0))
    if algo is None:
        return None
    data = value if isinstance(value, bytes) else _text(value).encode()
    return hashlib.new(algo, data).hexdigest()


def _truncate(value: Any, places: Any) -> float | int | None:
    if value is None or places is None:
        return None
    factor = 10 ** int(places)
    result = math.trunc(float(value) * factor) / factor
    return int(result) if int(places) <= 0 else result


def _rand(seed: Any = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()


def _space(n: Any) -> str | None:
    return None if n is None else " " * max(0, int(n))


def _repeat(s: Any, n: Any) -> str | None:
    return None if s is None or n is None else _text(s) * max(0, int(n))


def _left(s: Any, n: Any) -> str | None:
    return None if s is None or n is None else _text(s)[: max(0, int(n))]


def _right(s: Any, n: Any) -> str | None:
    if s is None or n is None:
        return None
    count = max(0, int(n))
    return _text(s)[-count:] if count else ""


def _locate(sub: Any, s: Any, pos: Any = 1) -> int | None:
    if sub is None or s is None:
        return None
    return _text(s).find(_text(sub), max(0, int(pos) - 1)) + 1


def _reverse(s: Any) -> str | None:
    return None if s is None else _text(s)[::-1]


def _char_length(s: Any) -> int | None:
    return None if s is None else len(_text(s))


def _octet_length(s: Any) -> int | None:
    if s is None:
        return None
    return len(s) if isinstance(s, bytes) else len(_text(s).encode())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "now": _now, "sysdate": _now, "localtime": _now, "localtimestamp": _now, "current_timestamp": _now,
    "utc_timestamp": _utc_now, "curdate": _curdate, "current_date": _curdate, "curtime": _curtime,
    "current_time": _curtime, "unix_timestamp": _unix_timestamp, "from_unixtime": _from_unixtime,
    "date_format": _date_format, "year": _date_part(0), "month": _date_part(1), "day": _date_part(2),
    "dayofmonth": _date_part(2), "hour": _time_part(0), "minute": _time_part(1), "second": _time_part(2),
    "datediff": _datediff, "concat": _concat, "concat_ws": _concat_ws, "if": _if, "greatest": _greatest,
    "least": _least, "lpad": _lpad, "rpad": _rpad, "substring_index": _substring_index, "field": _field,
    "find_in_set": _find_in_set, "regexp": _regexp, "md5": _hash("md5"), "sha1": _hash("sha1"),
    "sha": _hash("sha1"), "sha2": _sha2, "truncate": _truncate, "rand": _rand, "space": _space,
    "repeat": _repeat, "left": _left, "right": _right, "locate": _locate, "reverse": _reverse,
    "char_length": _char_length, "character_length": _char_length, "octet_length": _octet_length,
    "uuid": lambda: str(uuid.uuid4()), "version": lambda: MYSQL_VERSION, "uuid_short": _uuid_short,
    "random_bytes": _random_bytes,
    # BENCHMARK(n, expr) runs expr n times and returns 0; SQLite computed expr once as the argument
    "benchmark": lambda count, expr: None if count is None else 0,
}  # fmt: skip

_DETERMINISTIC = {"concat", "concat_ws", "if", "greatest", "least", "lpad", "rpad", "substring_index", "field",
                  "find_in_set", "regexp", "md5", "sha1", "sha", "sha2", "truncate", "space", "repeat", "left",
                  "right", "locate", "reverse", "char_length", "character_length", "octet_length", "date_format", "year", "month", "day", "dayofmonth", "hour", "minute", "second",
                  "datediff"}  # fmt: skip


def _result_size(name: str, args: tuple[Any, ...]) -> int:
    """The size in bytes a string function's result would have, computed before building it."""
    if name == "repeat":
        s, n = args
        return len(_text(s).encode()) * max(0, int(n))
    if name == "space":
        return max(0, int(args[0]))
    return max(0, int(args[1]))  # lpad, rpad: width characters (SQLite's length limit checks the bytes)


def _bounded(name: str, fn: Callable[..., Any], g: guard.ConnGuard) -> Callable[..., Any]:
    """``fn`` returning NULL with warning 1301 when its result would exceed max_allowed_packet (MySQL)."""

    def call(*args: Any) -> Any:
        if any(a is None for a in args) or len(args) != _ARITY[name]:
            return fn(*args)
        running = g.current
        limit = running.max_value if running is not None else DEFAULT_MAX_VALUE
        if _result_size(name, args) > limit:
            if running is not None:
                running.warn(
                    ErrorCode.WARN_ALLOWED_PACKET_OVERFLOWED,
                    f"Result of {name}() was larger than max_allowed_packet ({limit}) - truncated",
                )
            return None
        return fn(*args)

    return call


def _sleep_with(g: guard.ConnGuard) -> Callable[[Any], int | None]:
    """MySQL's SLEEP(seconds): 0 after sleeping; stopped early (error) by KILL, a deadline or shutdown,
    and moved off the event loop like any long read."""

    def sleep(seconds: Any) -> int | None:
        if seconds is None:
            return None
        end = time.monotonic() + max(0.0, float(seconds))
        running = g.current
        if running is not None:
            running.state = "User sleep"
        while True:
            g.check()
            left = end - time.monotonic()
            if left <= 0:
                return 0
            time.sleep(min(left, 0.005))

    return sleep


_ARITY = {"repeat": 2, "space": 1, "lpad": 3, "rpad": 3}
DEFAULT_MAX_VALUE = 64 * 1024 * 1024


def register(conn: apsw.Connection) -> None:
    """Register the MySQL functions on an apsw connection (and its guard: :mod:`p2pdb.sql.guard`)."""
    g = guard.guard_of(conn)
    for name, fn in FUNCTIONS.items():
        if name in _ARITY:
            fn = _bounded(name, fn, g)
        conn.create_scalar_function(name, fn, -1, deterministic=name in _DETERMINISTIC)
    conn.create_scalar_function("sleep", _sleep_with(g), 1, deterministic=False)  # type: ignore[arg-type]
    decimals.register(conn)
    temporal.register(conn)
    builtins.register(conn)
    json_functions.register(conn)
    fulltext.register(conn)
    aggregates.register(conn)
    string_functions.register(conn)
    like.register(conn)
    user_variables.register(conn)
    time_functions.register(conn)
    math_functions.register(conn)
    conn.create_scalar_function("convert_tz", timezones.convert_tz, 3, deterministic=True)  # type: ignore[arg-type]
