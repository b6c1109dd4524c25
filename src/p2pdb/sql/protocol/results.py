"""What a statement produces: column metadata, result sets and OK results, as handed over by the backend."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from .constants import BINARY_COLLATION, UTF8MB4_GENERAL_CI, ColumnFlag, FieldType

#: A value in a row or a statement parameter. ``str`` is text, ``bytes`` binary data. ``timedelta`` is
#: a MySQL TIME (it may be negative or exceed 24 h); ``time`` is also accepted for TIME columns.
SqlValue: TypeAlias = (
    int
    | float
    | str
    | bytes
    | Decimal
    | datetime.datetime
    | datetime.date
    | datetime.time
    | datetime.timedelta
    | None
)

INTEGER_TYPES = frozenset(
    {FieldType.TINY, FieldType.SHORT, FieldType.INT24, FieldType.LONG, FieldType.LONGLONG, FieldType.YEAR}
)
FLOAT_TYPES = frozenset({FieldType.FLOAT, FieldType.DOUBLE})
DECIMAL_TYPES = frozenset({FieldType.DECIMAL, FieldType.NEWDECIMAL})
DATE_TYPES = frozenset(
    {FieldType.DATE, FieldType.NEWDATE, FieldType.DATETIME, FieldType.TIMESTAMP}
    | {FieldType.DATETIME2, FieldType.TIMESTAMP2}
)
TIME_TYPES = frozenset({FieldType.TIME, FieldType.TIME2})
BLOB_TYPES = frozenset(
    {FieldType.TINY_BLOB, FieldType.MEDIUM_BLOB, FieldType.LONG_BLOB, FieldType.BLOB, FieldType.GEOMETRY}
)

_DEFAULT_LENGTH: dict[int, int] = {
    FieldType.TINY: 4,
    FieldType.SHORT: 6,
    FieldType.INT24: 9,
    FieldType.LONG: 11,
    FieldType.LONGLONG: 20,
    FieldType.YEAR: 4,
    FieldType.FLOAT: 12,
    FieldType.DOUBLE: 22,
    FieldType.DECIMAL: 65,
    FieldType.NEWDECIMAL: 65,
    FieldType.DATE: 10,
    FieldType.DATETIME: 19,
    FieldType.TIMESTAMP: 19,
    FieldType.TIME: 10,
    FieldType.NULL: 0,
    FieldType.TINY_BLOB: 255,
    FieldType.BLOB: 65535,
    FieldType.MEDIUM_BLOB: 16777215,
    FieldType.LONG_BLOB: 4294967295,
    FieldType.JSON: 4294967295,
    FieldType.GEOMETRY: 4294967295,
}


class Column:
    """Metadata of one result column (or prepared-statement parameter).

    Only ``name`` is required. ``type`` is a MySQL field type and decides how binary-protocol rows are
    encoded. Unspecified ``charset``/``length``/``decimals`` get MySQL-like defaults for the type:
    numbers and dates use the binary collation (63), text ``utf8mb4_general_ci`` (45). Use
    ``charset=63`` for columns holding ``bytes`` so drivers return bytes rather than str.
    Treat instances as immutable (they are hashed once, at creation) and reuse them across queries of
    the same shape: encoded column definitions are cached per shape.
    """

    __slots__ = (
        "_hash",
        "_key",
        "charset",
        "database",
        "decimals",
        "flags",
        "length",
        "name",
        "org_name",
        "org_table",
        "table",
        "type",
    )

    def __init__(
        self,
        name: str,
        type: int = FieldType.VAR_STRING,
        *,
        table: str = "",
        org_table: str | None = None,
        database: str = "",
        org_name: str | None = None,
        charset: int | None = None,
        length: int | None = None,
        flags: int = 0,
        decimals: int | None = None,
    ) -> None:
        ftype = FieldType(type)
        numeric = ftype in INTEGER_TYPES or ftype in FLOAT_TYPES or ftype in DECIMAL_TYPES
        binary_kind = numeric or ftype in DATE_TYPES or ftype in TIME_TYPES or ftype == FieldType.NULL
        if charset is None:
            binary = binary_kind or (ftype in BLOB_TYPES and flags & ColumnFlag.BINARY)
            charset = BINARY_COLLATION if binary or ftype == FieldType.BIT else UTF8MB4_GENERAL_CI
        if charset == BINARY_COLLATION and not numeric:
            flags |= ColumnFlag.BINARY
        if ftype in BLOB_TYPES:
            flags |= ColumnFlag.BLOB
        if numeric:
            flags |= ColumnFlag.NUM
        if length is None:
            length = _DEFAULT_LENGTH.get(ftype, 1020 if charset != BINARY_COLLATION else 255)
        if decimals is None:
            decimals = 31 if ftype in FLOAT_TYPES else 0
        self.name = name
        self.type = ftype
        self.table = table
        self.org_table = table if org_table is None else org_table
        self.database = database
        self.org_name = name if org_name is None else org_name
        self.charset = charset
        self.length = length
        self.flags = flags
        self.decimals = decimals
        self._key = (
            name,
            int(ftype),
            table,
            self.org_table,
            database,
            self.org_name,
            charset,
            length,
            flags,
            decimals,
        )
        self._hash = hash(self._key)

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & ColumnFlag.UNSIGNED)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Column) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Column({self.name!r}, {self.type.name}, table={self.table!r}, flags={self.flags:#x})"


@dataclass(slots=True)
class ResultSet:
    """Rows with their columns. ``rows`` may be lazy (a generator); it is consumed once, while sending.

    A ``MySQLError`` raised while iterating ``rows`` is sent to the client in place of the next row.
    """

    columns: Sequence[Column]
    rows: Iterable[Sequence[SqlValue]]
    warnings: int = 0


@dataclass(slots=True, frozen=True)
class OkResult:
    """A statement that returns no rows: affected rows, last insert id, warnings and an info message."""

    affected_rows: int = 0
    last_insert_id: int = 0
    warnings: int = 0
    info: str = ""


@dataclass(slots=True)
class LocalInfile:
    """``LOAD DATA LOCAL INFILE``: the protocol asks the client for ``filename`` and hands its bytes to
    ``load``, whose result is the statement's result (see :mod:`p2pdb.sql.load_data`)."""

    filename: str
    load: Callable[[bytes], Awaitable[OkResult]]


Result: TypeAlias = ResultSet | OkResult | LocalInfile

OK = OkResult()
