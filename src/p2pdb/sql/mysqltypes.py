"""MySQL column types: what a declared type means on the wire, in SHOW output and in information_schema.

One :class:`TypeInfo` describes a column type the way MySQL 8.0 reports it: the protocol field type,
flags, display length (in bytes, for a utf8mb4 connection) and decimals of a result column, and the
``COLUMN_TYPE``/``DATA_TYPE`` texts of ``SHOW COLUMNS`` and ``information_schema.COLUMNS``.
:func:`type_from_mysql_text` parses any MySQL type text (and SQLite's own type names);
:func:`output_converter` and :func:`input_value` bridge what SQLite stores and what clients expect.

Conventions followed (MySQL 8.0.19 and later):
- integer display widths are not shown in ``column_type`` except for ``tinyint(1)`` and ZEROFILL
  columns, but they still set the result column length (Connector/J maps ``tinyint(1)`` to boolean);
- text columns use ``utf8mb4_general_ci`` (collation 45, the one the protocol layer announces);
- every TEXT/BLOB flavour is sent as field type BLOB; its length tells them apart.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from p2pdb.sql.protocol.constants import BINARY_COLLATION, UTF8MB4_GENERAL_CI, ColumnFlag, FieldType
from p2pdb.sql.protocol.results import Column as ResultColumn
from p2pdb.store.schema import Column as StoreColumn

CHARSET_NAME = "utf8mb4"
COLLATION_NAME = "utf8mb4_general_ci"
MAXLEN = 4  # bytes per character of utf8mb4
PART_KEY_FLAG = 1 << 14  # PART_KEY_FLAG: the column is part of some index (not in ColumnFlag)
U32_MAX = 4294967295

_NUM = int(ColumnFlag.NUM)
_BINARY = int(ColumnFlag.BINARY)
_BLOB = int(ColumnFlag.BLOB)
_UNSIGNED = int(ColumnFlag.UNSIGNED)
_ZEROFILL = int(ColumnFlag.ZEROFILL)


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A column type as MySQL reports it. Instances are shared (cached): never mutate them."""

    field_type: FieldType
    #: Type-level ColumnFlag bits (UNSIGNED, ZEROFILL, BINARY, BLOB, ENUM, SET, NUM); the column-level
    #: ones (NOT_NULL, PRI_KEY, AUTO_INCREMENT...) are added by :func:`result_column`.
    flags: int
    #: Display length in bytes as sent in a column definition (utf8mb4: 4 bytes per character).
    length: int
    decimals: int
    charset: int  # collation id: 63 binary, 45 utf8mb4_general_ci
    column_type: str  # "int unsigned", "varchar(20)", "decimal(10,2)", "enum('a','b')"
    data_type: str  # "int", "varchar", "decimal", "enum"
    char_max_length: int | None = None
    char_octet_length: int | None = None
    numeric_precision: int | None = None
    numeric_scale: int | None = None
    datetime_precision: int | None = None
    members: tuple[str, ...] = ()  # ENUM/SET values

    @property
    def is_text(self) -> bool:
        """A character type (has a character set); binary strings, numbers and dates are not."""
        return self.charset != BINARY_COLLATION

    @property
    def charset_name(self) -> str | None:
        return CHARSET_NAME if self.is_text else None

    @property
    def collation_name(self) -> str | None:
        return COLLATION_NAME if self.is_text else None

    @property
    def takes_literal_default(self) -> bool:
        """False for BLOB/TEXT/JSON/GEOMETRY columns, whose defaults MySQL writes as expressions."""
        return self.field_type not in (FieldType.BLOB, FieldType.JSON, FieldType.GEOMETRY)


# -- parsing ------------------------------------------------------------------------------------

_INTS: dict[str, tuple[FieldType, int, int, int, int]] = {
    # name: (field type, length signed, length unsigned, precision signed, precision unsigned)
    "tinyint": (FieldType.TINY, 4, 3, 3, 3),
    "smallint": (FieldType.SHORT, 6, 5, 5, 5),
    "mediumint": (FieldType.INT24, 9, 8, 7, 8),
    "int": (FieldType.LONG, 11, 10, 10, 10),
    "bigint": (FieldType.LONGLONG, 20, 20, 19, 20),
}
_ALIASES = {
    "integer": "int",
    "int1": "tinyint",
    "int2": "smallint",
    "int3": "mediumint",
    "middleint": "mediumint",
    "int4": "int",
    "int8": "bigint",
    "dec": "decimal",
    "numeric": "decimal",
    "fixed": "decimal",
    "float4": "float",
    "float8": "double",
    "real": "double",
    "double precision": "double",
    "character": "char",
    "nchar": "char",
    "national char": "char",
    "national character": "char",
    "character varying": "varchar",
    "char varying": "varchar",
    "varcharacter": "varchar",
    "nvarchar": "varchar",
    "national varchar": "varchar",
    "national character varying": "varchar",
    "nchar varchar": "varchar",
    "nchar varying": "varchar",
    "long": "mediumtext",
    "long varchar": "mediumtext",
    "long varbinary": "mediumblob",
    "clob": "longtext",
    "geomcollection": "geometrycollection",
}
_TEXTS = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": U32_MAX}
_BLOBS = {"tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": U32_MAX}
_GEOMETRIES = frozenset(
    {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon"}
    | {"geometrycollection"}
)
_WORD_RE = re.compile(r"\s*(?:([a-z_][a-z0-9_]*)|(\()|(=))")
_NUMBERS_RE = re.compile(r"^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$")
_QUOTED_RE = re.compile(r"'((?:[^'\\]|''|\\.)*)'|\"((?:[^\"\\]|\"\"|\\.)*)\"", re.DOTALL)
_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}


def _paren_group(text: str, start: int) -> int:
    """Index just past the ``)`` closing the ``(`` at ``start`` (quotes respected)."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _split(text: str) -> tuple[str, str | None, list[str]]:
    """``"int(11) unsigned"`` -> ``("int", "11", ["unsigned"])``; multi-word names joined by a space."""
    words: list[str] = []
    args: str | None = None
    attrs: list[str] = []
    pos = 0
    while pos < len(text):
        match = _WORD_RE.match(text, pos)
        if match is None:
            break
        if match.group(2):
            end = _paren_group(text, match.start(2))
            if args is None and not attrs:
                args = text[match.start(2) + 1 : end - 1]
            pos = end
            continue
        pos = match.end()
        word = match.group(1)
        if word is None:
            continue
        if args is None and not attrs and (not words or f"{' '.join(words)} {word}" in _MULTI_PREFIXES):
            words.append(word)
        else:
            attrs.append(word)
    return " ".join(words), args, attrs


_MULTI_PREFIXES = frozenset(
    {
        "double precision",
        "national char",
        "national character",
        "national varchar",
        "national character varying",
        "character varying",
        "char varying",
        "nchar varchar",
        "nchar varying",
        "long varchar",
        "long varbinary",
    }
)


def _members(args: str) -> tuple[str, ...]:
    values = []
    for match in _QUOTED_RE.finditer(args):
        raw, q = (match.group(1), "'") if match.group(1) is not None else (match.group(2), '"')
        values.append(_unescape(raw, q))
    return tuple(values)


def _unescape(raw: str, quote: str) -> str:
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            i += 1
            out.append(_ESCAPES.get(raw[i], raw[i]))
        elif ch == quote and raw[i + 1 : i + 2] == quote:
            out.append(quote)
            i += 1
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def quote_string(value: str) -> str:
    """A MySQL string literal as SHOW CREATE TABLE writes it ('' for a quote, \\\\ for a backslash)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _numbers(args: str | None) -> tuple[int | None, int | None]:
    match = _NUMBERS_RE.match(args) if args is not None else None
    if match is None:
        return None, None
    scale = match.group(2)
    return int(match.group(1)), int(scale) if scale is not None else None


@functools.lru_cache(maxsize=2048)
def type_from_mysql_text(text: str) -> TypeInfo:
    """The type a MySQL column type text declares, e.g. ``"INT(11) UNSIGNED"`` or ``"decimal(10, 2)"``.

    Case, spacing, display widths, ZEROFILL, synonyms (INTEGER, DEC, REAL, NVARCHAR, BOOL, SERIAL...)
    and CHARACTER SET/COLLATE clauses are understood. Never raises: a name it does not know reads by
    its SQLite affinity (bigint, double, longblob, else longtext). Texts that are SQLite declared
    types rather than MySQL ones go through :func:`type_from_sqlite_text`.
    """
    lowered = text.strip().lower()
    base, args, attrs = _split(lowered)
    base = _ALIASES.get(base, base)
    unsigned = "unsigned" in attrs or "zerofill" in attrs
    zerofill = "zerofill" in attrs
    m, d = _numbers(args)
    if base in ("bool", "boolean"):
        return _integer("tinyint", 1, False, False)
    if base == "serial":
        return _integer("bigint", None, True, False)
    if base in _INTS:
        return _integer(base, m, unsigned, zerofill)
    if base == "decimal":
        return _decimal(m if m is not None else 10, d or 0, unsigned, zerofill)
    if base in ("float", "double"):
        return _floating(base, m, d, unsigned, zerofill)
    if base == "bit":
        n = m or 1
        return TypeInfo(FieldType.BIT, _UNSIGNED, n, 0, BINARY_COLLATION, f"bit({n})", "bit", None, None, n)
    if base in ("char", "varchar", "binary", "varbinary"):
        return _string(base, m, _charset_is_binary(attrs))
    if base in _TEXTS or base in _BLOBS:
        return _lob(base, m)
    if base in ("date", "datetime", "timestamp", "time", "year"):
        return _temporal(base, m)
    if base == "json":
        return TypeInfo(FieldType.JSON, _BLOB | _BINARY, U32_MAX, 0, BINARY_COLLATION, "json", "json")
    if base in ("enum", "set"):  # members keep their case
        original = text.strip()
        if len(original) == len(lowered) and "(" in original:
            start = original.index("(")
            args = original[start + 1 : _paren_group(original, start) - 1]
        return _enum_or_set(base, _members(args or ""))
    if base in _GEOMETRIES:
        flags = _BLOB | _BINARY
        return TypeInfo(FieldType.GEOMETRY, flags, U32_MAX, 0, BINARY_COLLATION, base, base)
    return _by_affinity(lowered)


def _by_affinity(text: str) -> TypeInfo:
    """Unknown names, read the way SQLite reads them (sqlite.org/datatype3.html §3.1)."""
    if "int" in text:
        return _integer("bigint", None, False, False)
    if "blob" in text:
        return _lob("longblob", None)
    if "real" in text or "floa" in text or "doub" in text:
        return _floating("double", None, None, False, False)
    return _lob("longtext", None)


def _integer(base: str, width: int | None, unsigned: bool, zerofill: bool) -> TypeInfo:
    ftype, signed_len, unsigned_len, signed_prec, unsigned_prec = _INTS[base]
    length = width if width else (unsigned_len if unsigned else signed_len)
    flags = _NUM | (_UNSIGNED if unsigned else 0) | (_ZEROFILL if zerofill else 0)
    shown = f"{base}({length})" if zerofill or (base == "tinyint" and width == 1 and not unsigned) else base
    column_type = shown + (" unsigned" if unsigned else "") + (" zerofill" if zerofill else "")
    precision = unsigned_prec if unsigned else signed_prec
    return TypeInfo(ftype, flags, length, 0, BINARY_COLLATION, column_type, base, None, None, precision, 0)


def _decimal(precision: int, scale: int, unsigned: bool, zerofill: bool) -> TypeInfo:
    length = precision + (1 if scale else 0) + (0 if unsigned else 1)
    flags = _NUM | (_UNSIGNED if unsigned else 0) | (_ZEROFILL if zerofill else 0)
    column_type = f"decimal({precision},{scale})" + (" unsigned" if unsigned else "")
    column_type += " zerofill" if zerofill else ""
    return TypeInfo(
        FieldType.NEWDECIMAL,
        flags,
        length,
        scale,
        BINARY_COLLATION,
        column_type,
        "decimal",
        numeric_precision=precision,
        numeric_scale=scale,
    )


def _floating(base: str, m: int | None, d: int | None, unsigned: bool, zerofill: bool) -> TypeInfo:
    if base == "float" and m is not None and d is None and m > 24:  # FLOAT(p): p > 24 is a DOUBLE
        base, m = "double", None
    elif d is None:
        m = None
    ftype = FieldType.FLOAT if base == "float" else FieldType.DOUBLE
    default_len, precision = (12, 12) if base == "float" else (22, 22)
    flags = _NUM | (_UNSIGNED if unsigned else 0) | (_ZEROFILL if zerofill else 0)
    scale: int | None = None
    if m is not None and d is not None:
        column_type, length, decimals, precision, scale = f"{base}({m},{d})", m, d, m, d
    else:
        column_type, length, decimals = base, default_len, 31
    column_type += (" unsigned" if unsigned else "") + (" zerofill" if zerofill else "")
    return TypeInfo(
        ftype,
        flags,
        length,
        decimals,
        BINARY_COLLATION,
        column_type,
        base,
        numeric_precision=precision,
        numeric_scale=scale,
    )


def _charset_is_binary(attrs: list[str]) -> bool:
    """``CHARACTER SET binary`` (or ``CHARSET binary``) makes CHAR/VARCHAR a binary string type."""
    return any(w == "binary" and i and attrs[i - 1] in ("set", "charset") for i, w in enumerate(attrs))


def _string(base: str, n: int | None, charset_binary: bool) -> TypeInfo:
    binary = base.endswith("binary") or charset_binary
    kind = base.replace("binary", "char") if base.endswith("binary") else base
    if n is None:
        n = 1 if kind == "char" else 255
    ftype = FieldType.STRING if kind == "char" else FieldType.VAR_STRING
    name = ("binary" if kind == "char" else "varbinary") if binary else kind
    if binary:
        return TypeInfo(ftype, _BINARY, n, 0, BINARY_COLLATION, f"{name}({n})", name, n, n)
    return TypeInfo(ftype, 0, n * MAXLEN, 0, UTF8MB4_GENERAL_CI, f"{name}({n})", name, n, n * MAXLEN)


def _lob(base: str, m: int | None) -> TypeInfo:
    text = base in _TEXTS
    sizes = _TEXTS if text else _BLOBS
    if m is not None and base in ("text", "blob"):  # TEXT(M)/BLOB(M): the smallest type that fits
        need = m * MAXLEN if text else m
        base = next(name for name, size in sizes.items() if need <= size or size == U32_MAX)
    size = sizes[base]
    if text:
        length = min(size * MAXLEN, U32_MAX)
        return TypeInfo(FieldType.BLOB, _BLOB, length, 0, UTF8MB4_GENERAL_CI, base, base, size, size)
    flags = _BLOB | _BINARY
    return TypeInfo(FieldType.BLOB, flags, size, 0, BINARY_COLLATION, base, base, size, size)


def _temporal(base: str, m: int | None) -> TypeInfo:
    flags = _BINARY
    if base == "date":
        return TypeInfo(FieldType.DATE, flags, 10, 0, BINARY_COLLATION, "date", "date")
    if base == "year":
        flags |= _UNSIGNED | _ZEROFILL | _NUM
        return TypeInfo(FieldType.YEAR, flags, 4, 0, BINARY_COLLATION, "year", "year")
    fsp = min(m or 0, 6)
    ftype = {"datetime": FieldType.DATETIME, "timestamp": FieldType.TIMESTAMP, "time": FieldType.TIME}[base]
    length = (10 if base == "time" else 19) + (fsp + 1 if fsp else 0)
    column_type = f"{base}({fsp})" if fsp else base
    return TypeInfo(ftype, flags, length, fsp, BINARY_COLLATION, column_type, base, datetime_precision=fsp)


def _enum_or_set(base: str, members: tuple[str, ...]) -> TypeInfo:
    if base == "enum":
        chars = max((len(v) for v in members), default=0)
        flags = int(ColumnFlag.ENUM)
    else:
        chars = sum(len(v) for v in members) + max(len(members) - 1, 0)
        flags = int(ColumnFlag.SET)
    column_type = f"{base}({','.join(quote_string(v) for v in members)})"
    return TypeInfo(
        FieldType.STRING,
        flags,
        chars * MAXLEN,
        0,
        UTF8MB4_GENERAL_CI,
        column_type,
        base,
        chars,
        chars * MAXLEN,
        members=members,
    )


#: SQLite's own type names, as they read when no MySQL type was recorded: SQLite's INTEGER holds
#: 64-bit values and its TEXT and BLOB have no length limit.
_SQLITE_NAMES = {"INTEGER": "bigint", "TEXT": "longtext", "BLOB": "longblob", "": "longtext"}


def type_from_sqlite_text(text: str) -> TypeInfo:
    """The MySQL type reported for a column SQLite declared as ``text`` (no MySQL type recorded).

    Like :func:`type_from_mysql_text` except for SQLite's storage-class names: INTEGER is a bigint,
    TEXT a longtext, BLOB a longblob, no type a longtext (REAL reads as double, NUMERIC as decimal).
    """
    name = _SQLITE_NAMES.get(text.strip().upper())
    return type_from_mysql_text(name if name is not None else text)


def type_for_column(col: StoreColumn) -> TypeInfo:
    """The MySQL type of a store column: its MySQL type text (``extra["mt"]``) or its SQLite type."""
    mt = col.extra.get("mt") if col.extra else None
    if isinstance(mt, str) and mt:
        return type_from_mysql_text(mt)
    return type_from_sqlite_text(col.type)


# -- result columns -----------------------------------------------------------------------------


def result_column(
    name: str,
    info: TypeInfo,
    *,
    table: str = "",
    database: str = "",
    org_name: str | None = None,
    org_table: str | None = None,
    not_null: bool = False,
    pk: bool = False,
    auto_increment: bool = False,
    unique: bool = False,
    multiple_key: bool = False,
    no_default: bool = False,
) -> ResultColumn:
    """A result-set column of type ``info``, with the column-level flags MySQL sets.

    ``unique`` is for the single column of a one-column UNIQUE index, ``multiple_key`` for the first
    column of any other (non-primary) index, ``no_default`` for a NOT NULL column without DEFAULT.
    """
    flags = info.flags
    if not_null or pk:
        flags |= ColumnFlag.NOT_NULL
    if pk:
        flags |= ColumnFlag.PRI_KEY | PART_KEY_FLAG
    if unique:
        flags |= ColumnFlag.UNIQUE_KEY | PART_KEY_FLAG
    if multiple_key:
        flags |= ColumnFlag.MULTIPLE_KEY | PART_KEY_FLAG
    if auto_increment:
        flags |= ColumnFlag.AUTO_INCREMENT
    if no_default and not auto_increment:
        flags |= ColumnFlag.NO_DEFAULT_VALUE
    return ResultColumn(
        name,
        info.field_type,
        table=table,
        org_table=org_table,
        database=database,
        org_name=org_name,
        charset=info.charset,
        length=info.length,
        flags=int(flags),
        decimals=info.decimals,
    )


# -- expression values --------------------------------------------------------------------------

_BIGINT_VALUE = TypeInfo(
    FieldType.LONGLONG, _NUM, 20, 0, BINARY_COLLATION, "bigint", "bigint", None, None, 19, 0
)
_DOUBLE_VALUE = type_from_mysql_text("double")
_STRING_VALUE = TypeInfo(
    FieldType.VAR_STRING, 0, 1020, 0, UTF8MB4_GENERAL_CI, "varchar(255)", "varchar", 255, 1020
)
_BYTES_VALUE = type_from_mysql_text("blob")
_NULL_VALUE = TypeInfo(FieldType.NULL, _BINARY, 0, 0, BINARY_COLLATION, "binary(0)", "binary", 0, 0)
_DATETIME_VALUE = type_from_mysql_text("datetime")
_DATETIME6_VALUE = type_from_mysql_text("datetime(6)")
_DATE_VALUE = type_from_mysql_text("date")
_TIME_VALUE = type_from_mysql_text("time")
_TIME6_VALUE = type_from_mysql_text("time(6)")


def type_for_value(value: Any) -> TypeInfo:
    """The type of an expression column with no declared type, judged from one of its values.

    As MySQL reports ``SELECT 1``/``1.5e0``/``'a'``/``NULL``: BIGINT, DOUBLE, VARCHAR utf8mb4, and type
    NULL (binary, length 0) for None, which the binary protocol can only send for NULL values: judge a
    column from a non-NULL value when there is one. Bytes are a binary BLOB, Decimal a DECIMAL with the
    value's own precision and scale.
    """
    if value is None:
        return _NULL_VALUE
    if isinstance(value, int):  # bool too: MySQL's TRUE is the integer 1
        return _BIGINT_VALUE
    if isinstance(value, float):
        return _DOUBLE_VALUE
    if isinstance(value, str):
        return _STRING_VALUE
    if isinstance(value, bytes | bytearray | memoryview):
        return _BYTES_VALUE
    if isinstance(value, Decimal):
        return _decimal_of(value)
    if isinstance(value, datetime.datetime):
        return _DATETIME6_VALUE if value.microsecond else _DATETIME_VALUE
    if isinstance(value, datetime.date):
        return _DATE_VALUE
    if isinstance(value, datetime.time | datetime.timedelta):
        micro = value.microseconds if isinstance(value, datetime.timedelta) else value.microsecond
        return _TIME6_VALUE if micro else _TIME_VALUE
    return _STRING_VALUE


def _decimal_of(value: Decimal) -> TypeInfo:
    if not value.is_finite():
        return _decimal(65, 30, False, False)
    _sign, digits, exponent = value.as_tuple()
    scale = max(-int(exponent), 0)
    precision = min(max(len(digits) + max(int(exponent), 0), scale, 1), 65)
    return _decimal(precision, min(scale, 30), False, False)


# -- values out of and into SQLite --------------------------------------------------------------

_DECIMAL_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)


def output_converter(info: TypeInfo) -> Callable[[Any], Any] | None:
    """A function turning a value SQLite returns for a column of type ``info`` into what a MySQL
    client expects, or None when values pass unchanged. Converters accept None (and return it).

    DECIMAL(p,s): an exact string with ``s`` decimals ("0.30", never 0.30000000000000004); BIGINT
    UNSIGNED: the integer of a value stored as 8 bytes (above 2^63-1); BIT(n):
    big-endian bytes; FLOAT: 6 significant digits as MySQL prints it; FLOAT(M,D)/DOUBLE(M,D): ``D``
    decimals; CHAR: trailing spaces removed; BINARY(n): zero-padded to ``n`` bytes. Dates, times,
    JSON, integers (booleans are integers) and other strings pass through.
    """
    ftype = info.field_type
    if ftype == FieldType.NEWDECIMAL:
        return _decimal_converter(info.decimals)
    if ftype == FieldType.BIT:
        return _bit_converter(info.numeric_precision or 1)
    if ftype == FieldType.LONGLONG and info.flags & _UNSIGNED:
        return _u64_converter
    if ftype in (FieldType.FLOAT, FieldType.DOUBLE):
        if info.decimals < 31:
            return _fixed_float_converter(info.decimals)
        return _float_converter if ftype == FieldType.FLOAT else None
    if ftype == FieldType.STRING and not info.flags & (ColumnFlag.ENUM | ColumnFlag.SET):
        if info.is_text:
            return _char_converter
        return _binary_converter(info.length)
    return None


def _decimal_converter(scale: int) -> Callable[[Any], Any]:
    quantum = Decimal(1).scaleb(-scale)
    zeros = "." + "0" * scale if scale else ""

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return f"{value}{zeros}"
        if kind is float:
            number = Decimal(repr(value))
        elif kind is bytes and len(value) == 8 and value[0] >= 0x80:  # a BIGINT UNSIGNED value
            number = Decimal(int.from_bytes(value, "big"))
        elif kind is str or kind is bytes:
            try:
                number = Decimal(value.decode() if kind is bytes else value)
            except (InvalidOperation, UnicodeDecodeError):
                return value
        else:
            return value
        if not number.is_finite():
            return value
        try:
            rounded = number.quantize(quantum, context=_DECIMAL_CONTEXT)
        except InvalidOperation:  # beyond any DECIMAL(65,30): not a value MySQL could hold
            return value
        return format(rounded if rounded else rounded.copy_abs(), "f")  # no "-0.00", no exponent

    return convert


def _u64_converter(value: Any) -> Any:
    """BIGINT UNSIGNED values above 2^63-1 are stored as 8 big-endian bytes (p2pdb.sql.decimals);
    a bitwise operator's result above 2^63-1 comes from SQLite as the negative integer of the same
    64 bits (``~0`` is -1: 18446744073709551615), a literal or CAST above it as its digits."""
    if type(value) is bytes and len(value) == 8 and value[0] >= 0x80:
        return int.from_bytes(value, "big")
    if type(value) is int and value < 0:
        return value + 2**64
    if type(value) is str and value.isdigit():  # a literal or CAST above 2^63-1, bound as its digits
        return int(value)
    return value


def _bit_converter(bits: int) -> Callable[[Any], Any]:
    size = (bits + 7) // 8
    mask = (1 << (size * 8)) - 1

    def convert(value: Any) -> Any:
        if type(value) is int:
            return (value & mask).to_bytes(size, "big")
        return value

    return convert


def _float_converter(value: Any) -> Any:
    if type(value) is float:
        return float(f"{value:.6g}")
    return value


def _fixed_float_converter(decimals: int) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is float or type(value) is int:
            return f"{value:.{decimals}f}"
        return value

    return convert


def _char_converter(value: Any) -> Any:
    if type(value) is str:
        return value.rstrip(" ")
    return value


def _binary_converter(size: int) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is str:
            value = value.encode()
        if type(value) is bytes and len(value) < size:
            return value + b"\0" * (size - len(value))
        return value

    return convert


def _clock(hours: int, minutes: int, seconds: int, micro: int) -> str:
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{micro:06d}" if micro else text


def input_value(value: Any) -> Any:
    """A prepared-statement parameter as SQLite should store it.

    datetime -> 'YYYY-MM-DD HH:MM:SS[.ffffff]' (time zone dropped), date -> 'YYYY-MM-DD',
    time/timedelta -> '[-]HH:MM:SS[.ffffff]' (hours may exceed 24), Decimal -> its exact text without
    exponent, bool -> 0/1, bytearray/memoryview -> bytes; anything else unchanged.
    """
    kind = type(value)
    if kind is int:
        return value if -(2**63) <= value < 2**63 else str(value)  # SQLite binds 64-bit integers
    if kind is str or kind is float or kind is bytes or value is None:
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime.datetime):
        day = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        return f"{day} {_clock(value.hour, value.minute, value.second, value.microsecond)}"
    if isinstance(value, datetime.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, datetime.time):
        return _clock(value.hour, value.minute, value.second, value.microsecond)
    if isinstance(value, datetime.timedelta):
        sign = "-" if value < datetime.timedelta(0) else ""
        total = abs(value)
        hours, rem = divmod(total.days * 86400 + total.seconds, 3600)
        return sign + _clock(hours, rem // 60, rem % 60, total.microseconds)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value
