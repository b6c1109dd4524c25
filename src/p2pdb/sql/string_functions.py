"""MySQL string functions SQLite lacks (or answers differently), as SQLite functions.

``QUOTE`` and ``FORMAT`` replace SQLite's functions of those names (SQLite's QUOTE doubles quotes and
its FORMAT is ``printf``). The ``REGEXP_*`` functions use the ``regex`` package (Python's ``re``
syntax; MySQL uses ICU, the common syntax is the same) with a time limit per match, and match
case-insensitively unless the match type says ``c``, as MySQL's default collation does. ``STRCMP`` compares case-insensitively for the same reason.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import zlib
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

import apsw
import regex

from p2pdb.sql.protocol.errors import MySQLError

COLLATION = "utf8mb4_general_ci"  # the server's collation_connection (p2pdb.sql.variables)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(float(_text(value)))
    except ValueError:
        return 0


def _nulls(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` returning NULL when any argument is NULL."""

    def call(*args: Any) -> Any:
        return None if any(a is None for a in args) else fn(*args)

    return call


def elt(n: Any, *items: Any) -> Any:
    if n is None:
        return None
    index = _int(n)
    return items[index - 1] if 1 <= index <= len(items) else None


def quote(value: Any) -> str:
    if value is None:
        return "NULL"
    text = _text(value)
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0").replace("\x1a", "\\Z")
    return "'" + escaped + "'"


def bit_length(value: Any) -> int:
    return 8 * len(value if isinstance(value, bytes) else _text(value).encode())


def strcmp(a: Any, b: Any) -> int:
    left, right = _text(a).casefold(), _text(b).casefold()
    return (left > right) - (left < right)


def to_base64(value: Any) -> str:
    data = value if isinstance(value, bytes) else _text(value).encode()
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))  # MySQL wraps at 76


def from_base64(value: Any) -> bytes | None:
    try:
        return base64.b64decode("".join(_text(value).split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def crc32(value: Any) -> int:
    return zlib.crc32(value if isinstance(value, bytes) else _text(value).encode())


def inet_aton(value: Any) -> int | None:
    parts = _text(value).split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]):
        return None
    last_bits = 8 * (5 - len(numbers))  # '127.1' is 127.0.0.1: the last part fills the rest
    if numbers[-1] >= 2**last_bits:
        return None
    result = 0
    for n in numbers[:-1]:
        result = result * 256 + n
    return (result << last_bits) + numbers[-1]


def inet_ntoa(value: Any) -> str | None:
    number = _int(value)
    if not 0 <= number < 2**32:
        return None
    return str(ipaddress.IPv4Address(number))


def inet6_aton(value: Any) -> bytes | None:
    try:
        return ipaddress.ip_address(_text(value)).packed
    except ValueError:
        return None


def inet6_ntoa(value: Any) -> str | None:
    if not isinstance(value, bytes) or len(value) not in (4, 16):
        return None
    return str(ipaddress.ip_address(value))


def is_ipv4(value: Any) -> int:
    try:
        return int(isinstance(ipaddress.ip_address(_text(value)), ipaddress.IPv4Address))
    except ValueError:
        return 0


def is_ipv6(value: Any) -> int:
    try:
        return int(isinstance(ipaddress.ip_address(_text(value)), ipaddress.IPv6Address))
    except ValueError:
        return 0


_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)


def _uuid_hex(value: Any) -> str | None:
    text = _text(value)
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not _UUID.fullmatch(text) or (len(text) == 36) != ("-" in text):
        return None
    return text.replace("-", "").lower()


def is_uuid(value: Any) -> int | None:
    return None if value is None else int(_uuid_hex(value) is not None)


def uuid_to_bin(value: Any, swap: Any = 0) -> bytes | None:
    if value is None:
        return None
    digits = _uuid_hex(value)
    if digits is None:
        return None
    if swap is not None and _int(swap):
        digits = digits[12:16] + digits[8:12] + digits[0:8] + digits[16:]  # time-high first
    return bytes.fromhex(digits)


def bin_to_uuid(value: Any, swap: Any = 0) -> str | None:
    if value is None or not isinstance(value, bytes) or len(value) != 16:
        return None
    digits = value.hex()
    if swap is not None and _int(swap):
        digits = digits[8:16] + digits[4:8] + digits[0:4] + digits[16:]
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_T = TypeVar("_T")
#: Seconds one regular expression may run on one value (MySQL: regexp_time_limit): beyond, error 3699.
REGEX_TIME_LIMIT = 0.1


def _regex(pattern: Any, match_type: Any = None) -> regex.Pattern[str]:
    """The pattern compiled by ``regex``, whose matching takes a time limit (Python's ``re`` cannot
    be stopped: ``'(a+)+b'`` against 24 characters held the interpreter 1.07 s, twice that per character
    more)."""
    flags = regex.IGNORECASE
    for char in _text(match_type) if match_type is not None else "":
        if char == "c":
            flags &= ~regex.IGNORECASE
        elif char == "i":
            flags |= regex.IGNORECASE
        elif char == "m":
            flags |= regex.MULTILINE
        elif char == "n":
            flags |= regex.DOTALL
    try:
        return regex.compile(_text(pattern), flags)
    except regex.error as exc:
        raise MySQLError(3685, f"Illegal argument to a regular expression: {exc}") from None


def _timed(match: Callable[..., _T], *args: Any) -> _T:
    """``match(*args)`` within :data:`REGEX_TIME_LIMIT`, the interpreter free meanwhile."""
    try:
        return match(*args, concurrent=True, timeout=REGEX_TIME_LIMIT)
    except TimeoutError:
        raise MySQLError(3699, "Timeout exceeded in regular expression match.") from None


def regexp_like(value: Any, pattern: Any, match_type: Any = None) -> int | None:
    if value is None or pattern is None:
        return None
    return int(_timed(_regex(pattern, match_type).search, _text(value)) is not None)


def _start(text: str, position: Any) -> int:
    return max(0, min(len(text), (_int(position) if position is not None else 1) - 1))


def regexp_replace(
    value: Any, pattern: Any, replacement: Any, position: Any = 1, occurrence: Any = 0, match_type: Any = None
) -> str | None:
    if value is None or pattern is None or replacement is None:
        return None
    text, compiled = _text(value), _regex(pattern, match_type)
    start, which = _start(text, position), _int(occurrence) if occurrence is not None else 0
    template = _text(replacement)
    seen = 0

    def substitute(match: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        if which and seen != which:
            return match.group(0)
        return re.sub(
            r"\$(\d)|\\(.)",
            lambda m: (match.group(int(m.group(1))) or "") if m.group(1) else m.group(2),
            template,
        )

    replaced: str = _timed(compiled.sub, substitute, text[start:])
    return text[:start] + replaced


def regexp_substr(
    value: Any, pattern: Any, position: Any = 1, occurrence: Any = 1, match_type: Any = None
) -> str | None:
    if value is None or pattern is None:
        return None
    text = _text(value)
    found = _timed(_all_matches, _regex(pattern, match_type), text, _start(text, position))
    which = max(1, _int(occurrence) if occurrence is not None else 1)
    return found[which - 1].group(0) if len(found) >= which else None


def _all_matches(
    compiled: regex.Pattern[str], text: str, start: int, *, concurrent: bool, timeout: float
) -> list[regex.Match[str]]:
    return list(compiled.finditer(text, start, concurrent=concurrent, timeout=timeout))


def regexp_instr(
    value: Any,
    pattern: Any,
    position: Any = 1,
    occurrence: Any = 1,
    return_option: Any = 0,
    match_type: Any = None,
) -> int | None:
    if value is None or pattern is None:
        return None
    text = _text(value)
    found = _timed(_all_matches, _regex(pattern, match_type), text, _start(text, position))
    which = max(1, _int(occurrence) if occurrence is not None else 1)
    if len(found) < which:
        return 0
    match = found[which - 1]
    index: int = match.end() if return_option is not None and _int(return_option) else match.start()
    return index + 1


def format_number(value: Any, places: Any, locale: Any = None) -> str | None:
    """FORMAT(X, D[, locale]): grouped thousands, D decimals rounded half up, the locale's marks."""
    if value is None or places is None:
        return None
    digits = max(0, min(30, _int(places)))
    try:
        number = Decimal(_text(value).strip() or "0")
    except InvalidOperation:
        number = Decimal(0)
    if not number.is_finite():
        return None
    rounded = number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{digits}f}"
    marks = _LOCALE_MARKS.get(str(locale).lower()) if locale is not None else None
    if marks is None:
        return text
    thousands, point = marks
    return text.replace(",", "\x00").replace(".", point).replace("\x00", thousands)


#: FORMAT's third argument: (thousands separator, decimal point) of the locales whose marks differ
#: from en_US's (MySQL's locale table; others format as en_US, as MySQL does for unknown names).
_LOCALE_MARKS = {
    **dict.fromkeys(
        ("de_de", "de_be", "de_lu", "es_es", "id_id", "da_dk", "tr_tr", "nb_no", "uk_ua", "ru_ua"), (".", ",")
    ),
    **dict.fromkeys(
        ("fr_fr", "fr_be", "fr_ca", "fr_lu", "fr_ch", "it_it", "pt_br", "pt_pt", "nl_nl", "nl_be", "de_at",
         "pl_pl", "el_gr"),
        ("", ","),
    ),
    **dict.fromkeys(("ru_ru", "sv_se", "fi_fi", "cs_cz"), (" ", ",")),
    "de_ch": ("'", "."),
    "it_ch": ("'", ","),
}  # fmt: skip


_SOUNDEX = {
    c: d for d, letters in enumerate(("", "BFPV", "CGJKQSXZ", "DT", "L", "MN", "R"), 0) for c in letters
}


def soundex(value: Any) -> str:
    """MySQL's SOUNDEX: the first letter, then a digit per sound (not cut to four characters)."""
    letters = [c for c in _text(value).upper() if c.isalpha()]
    if not letters:
        return ""
    out = [letters[0]]
    last = _SOUNDEX.get(letters[0], 0)
    for char in letters[1:]:
        code = _SOUNDEX.get(char, 0)
        if code and code != last:
            out.append(str(code))
        if char not in "HW":
            last = code
    return "".join(out).ljust(4, "0")


def make_set(bits: Any, *items: Any) -> str | None:
    if bits is None:
        return None
    mask = _int(bits) % 2**64
    return ",".join(_text(s) for i, s in enumerate(items) if mask >> i & 1 and s is not None)


def export_set(bits: Any, on: Any, off: Any, separator: Any = ",", count: Any = 64) -> str | None:
    if any(a is None for a in (bits, on, off, separator, count)):
        return None
    mask, size = _int(bits) % 2**64, _int(count)
    size = 64 if not 0 <= size <= 64 else size
    return _text(separator).join(_text(on) if mask >> i & 1 else _text(off) for i in range(size))


def charset(value: Any) -> str | None:
    return "binary" if isinstance(value, bytes) else "utf8mb4"


def collation(value: Any) -> str | None:
    return "binary" if isinstance(value, bytes) else COLLATION


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "elt": elt,
    "quote": quote,
    "bit_length": _nulls(bit_length),
    "strcmp": _nulls(strcmp),
    "to_base64": _nulls(to_base64),
    "from_base64": _nulls(from_base64),
    "crc32": _nulls(crc32),
    "inet_aton": _nulls(inet_aton),
    "inet_ntoa": _nulls(inet_ntoa),
    "inet6_aton": _nulls(inet6_aton),
    "inet6_ntoa": _nulls(inet6_ntoa),
    "is_ipv4": _nulls(is_ipv4),
    "is_ipv6": _nulls(is_ipv6),
    "is_uuid": is_uuid,
    "uuid_to_bin": uuid_to_bin,
    "bin_to_uuid": bin_to_uuid,
    "regexp_like": regexp_like,
    "regexp_replace": regexp_replace,
    "regexp_substr": regexp_substr,
    "regexp_instr": regexp_instr,
    "format": format_number,
    "soundex": _nulls(soundex),
    "make_set": make_set,
    "export_set": export_set,
    "charset": charset,
    "collation": collation,
}


def substring(value: Any, position: Any, length: Any = None) -> str | bytes | None:
    """MySQL's SUBSTRING(str, pos[, len]): position 0 gives '' (SQLite's substr starts before the
    first character), a negative position counts from the end, a length below 1 gives '' (SQLite's
    takes the characters before the position)."""
    if value is None or position is None:
        return None
    text: str | bytes = value if isinstance(value, (str, bytes)) else _text(value)
    start, size = _rounded(position), len(text)
    empty = text[:0]
    if start == 0 or -start > size:
        return empty
    first = start - 1 if start > 0 else size + start
    if length is None:
        return text[first:]
    count = _rounded(length)
    return text[first : first + count] if count > 0 else empty


def _rounded(value: Any) -> int:
    """An integer argument as MySQL takes a fractional one: rounded half away from zero (1.6 is 2)."""
    if isinstance(value, int):
        return value
    try:
        number = float(_text(value))
    except ValueError:
        return _int(value)
    whole = int(abs(number) + 0.5)
    return -whole if number < 0 else whole


def _substring_with_length(value: Any, position: Any, length: Any) -> str | bytes | None:
    return None if length is None else substring(value, position, length)


#: UNCOMPRESS() refuses (NULL) a value announcing more than this (MySQL: max_allowed_packet).
_MAX_UNCOMPRESSED = 64 * 1024 * 1024


def compress(value: Any) -> bytes | None:
    """COMPRESS(): MySQL's format, the uncompressed length (4 bytes, little-endian) then the zlib
    stream; '' for ''."""
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return len(raw).to_bytes(4, "little") + zlib.compress(raw) if raw else b""


def uncompress(value: Any) -> bytes | None:
    """UNCOMPRESS(): NULL for what COMPRESS() did not make (MySQL also warns)."""
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    if not raw:
        return b""
    declared = int.from_bytes(raw[:4], "little")
    if len(raw) < 5 or not 0 < declared <= _MAX_UNCOMPRESSED:  # the length bounds what is inflated
        return None
    try:
        return zlib.decompressobj().decompress(raw[4:], declared)
    except zlib.error:
        return None


def uncompressed_length(value: Any) -> int | None:
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return int.from_bytes(raw[:4], "little") if len(raw) >= 4 else 0


def register(conn: apsw.Connection) -> None:
    for name, fn in FUNCTIONS.items():
        conn.create_scalar_function(name, fn, -1, deterministic=True)
    for name, one in (
        ("compress", compress),
        ("uncompress", uncompress),
        ("uncompressed_length", uncompressed_length),
    ):
        conn.create_scalar_function(name, one, 1, deterministic=True)  # type: ignore[arg-type]
    for name in ("substr", "substring"):  # SQLite's own have these arities: replaced arity by arity
        conn.create_scalar_function(name, substring, 2, deterministic=True)  # type: ignore[arg-type]
        conn.create_scalar_function(name, _substring_with_length, 3, deterministic=True)  # type: ignore[arg-type]
