"""MySQL type mapping: type texts to wire metadata and SHOW texts, value conversions both ways.

Expected values are MySQL 8.0's (8.0.19+: no integer display width in COLUMN_TYPE except tinyint(1)
and ZEROFILL) for a utf8mb4 connection.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from p2pdb.sql.mysqltypes import (
    TypeInfo,
    input_value,
    output_converter,
    quote_string,
    result_column,
    type_for_column,
    type_for_value,
    type_from_mysql_text,
    type_from_sqlite_text,
)
from p2pdb.sql.protocol.constants import ColumnFlag, FieldType
from p2pdb.store.schema import Column as StoreColumn

F = FieldType
U32 = 4294967295

# text: (field type, length, decimals, charset, column_type, data_type)
WIRE: dict[str, tuple[FieldType, int, int, int, str, str]] = {
    "tinyint": (F.TINY, 4, 0, 63, "tinyint", "tinyint"),
    "tinyint unsigned": (F.TINY, 3, 0, 63, "tinyint unsigned", "tinyint"),
    "tinyint(1)": (F.TINY, 1, 0, 63, "tinyint(1)", "tinyint"),
    "BOOLEAN": (F.TINY, 1, 0, 63, "tinyint(1)", "tinyint"),
    "bool": (F.TINY, 1, 0, 63, "tinyint(1)", "tinyint"),
    "smallint": (F.SHORT, 6, 0, 63, "smallint", "smallint"),
    "smallint unsigned": (F.SHORT, 5, 0, 63, "smallint unsigned", "smallint"),
    "mediumint": (F.INT24, 9, 0, 63, "mediumint", "mediumint"),
    "int": (F.LONG, 11, 0, 63, "int", "int"),
    "INT(11)": (F.LONG, 11, 0, 63, "int", "int"),
    "integer": (F.LONG, 11, 0, 63, "int", "int"),
    "int(11) unsigned": (F.LONG, 11, 0, 63, "int unsigned", "int"),
    "int unsigned": (F.LONG, 10, 0, 63, "int unsigned", "int"),
    "int(5) zerofill": (F.LONG, 5, 0, 63, "int(5) unsigned zerofill", "int"),
    "int zerofill": (F.LONG, 10, 0, 63, "int(10) unsigned zerofill", "int"),
    "bigint": (F.LONGLONG, 20, 0, 63, "bigint", "bigint"),
    "bigint(20) unsigned": (F.LONGLONG, 20, 0, 63, "bigint unsigned", "bigint"),
    "serial": (F.LONGLONG, 20, 0, 63, "bigint unsigned", "bigint"),
    "bit": (F.BIT, 1, 0, 63, "bit(1)", "bit"),
    "bit(12)": (F.BIT, 12, 0, 63, "bit(12)", "bit"),
    "decimal(10,2)": (F.NEWDECIMAL, 12, 2, 63, "decimal(10,2)", "decimal"),
    "decimal(10, 2)": (F.NEWDECIMAL, 12, 2, 63, "decimal(10,2)", "decimal"),
    "DECIMAL(10,2) UNSIGNED": (F.NEWDECIMAL, 11, 2, 63, "decimal(10,2) unsigned", "decimal"),
    "decimal": (F.NEWDECIMAL, 11, 0, 63, "decimal(10,0)", "decimal"),
    "numeric(5)": (F.NEWDECIMAL, 6, 0, 63, "decimal(5,0)", "decimal"),
    "dec(8,3)": (F.NEWDECIMAL, 10, 3, 63, "decimal(8,3)", "decimal"),
    "fixed(6,1)": (F.NEWDECIMAL, 8, 1, 63, "decimal(6,1)", "decimal"),
    "float": (F.FLOAT, 12, 31, 63, "float", "float"),
    "float(7,2)": (F.FLOAT, 7, 2, 63, "float(7,2)", "float"),
    "float(10)": (F.FLOAT, 12, 31, 63, "float", "float"),
    "float(30)": (F.DOUBLE, 22, 31, 63, "double", "double"),
    "double": (F.DOUBLE, 22, 31, 63, "double", "double"),
    "double precision": (F.DOUBLE, 22, 31, 63, "double", "double"),
    "real": (F.DOUBLE, 22, 31, 63, "double", "double"),
    "double(8,3)": (F.DOUBLE, 8, 3, 63, "double(8,3)", "double"),
    "char": (F.STRING, 4, 0, 45, "char(1)", "char"),
    "char(10)": (F.STRING, 40, 0, 45, "char(10)", "char"),
    "national char(2)": (F.STRING, 8, 0, 45, "char(2)", "char"),
    "varchar(20)": (F.VAR_STRING, 80, 0, 45, "varchar(20)", "varchar"),
    "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin": (
        F.VAR_STRING,
        1020,
        0,
        45,
        "varchar(255)",
        "varchar",
    ),
    "varchar(20) binary": (F.VAR_STRING, 80, 0, 45, "varchar(20)", "varchar"),
    "varchar(20) character set binary": (F.VAR_STRING, 20, 0, 63, "varbinary(20)", "varbinary"),
    "character varying(7)": (F.VAR_STRING, 28, 0, 45, "varchar(7)", "varchar"),
    "nvarchar(5)": (F.VAR_STRING, 20, 0, 45, "varchar(5)", "varchar"),
    "binary(16)": (F.STRING, 16, 0, 63, "binary(16)", "binary"),
    "varbinary(255)": (F.VAR_STRING, 255, 0, 63, "varbinary(255)", "varbinary"),
    "tinytext": (F.BLOB, 1020, 0, 45, "tinytext", "tinytext"),
    "text": (F.BLOB, 262140, 0, 45, "text", "text"),
    "text(100)": (F.BLOB, 262140, 0, 45, "text", "text"),
    "text(20)": (F.BLOB, 1020, 0, 45, "tinytext", "tinytext"),
    "mediumtext": (F.BLOB, 67108860, 0, 45, "mediumtext", "mediumtext"),
    "long varchar": (F.BLOB, 67108860, 0, 45, "mediumtext", "mediumtext"),
    "longtext": (F.BLOB, U32, 0, 45, "longtext", "longtext"),
    "tinyblob": (F.BLOB, 255, 0, 63, "tinyblob", "tinyblob"),
    "blob": (F.BLOB, 65535, 0, 63, "blob", "blob"),
    "mediumblob": (F.BLOB, 16777215, 0, 63, "mediumblob", "mediumblob"),
    "longblob": (F.BLOB, U32, 0, 63, "longblob", "longblob"),
    "date": (F.DATE, 10, 0, 63, "date", "date"),
    "datetime": (F.DATETIME, 19, 0, 63, "datetime", "datetime"),
    "datetime(6)": (F.DATETIME, 26, 6, 63, "datetime(6)", "datetime"),
    "timestamp": (F.TIMESTAMP, 19, 0, 63, "timestamp", "timestamp"),
    "timestamp(3)": (F.TIMESTAMP, 23, 3, 63, "timestamp(3)", "timestamp"),
    "time": (F.TIME, 10, 0, 63, "time", "time"),
    "time(2)": (F.TIME, 13, 2, 63, "time(2)", "time"),
    "year": (F.YEAR, 4, 0, 63, "year", "year"),
    "year(4)": (F.YEAR, 4, 0, 63, "year", "year"),
    "json": (F.JSON, U32, 0, 63, "json", "json"),
    "enum('a','bcd')": (F.STRING, 12, 0, 45, "enum('a','bcd')", "enum"),
    "enum('a', 'b,c', 'it''s')": (F.STRING, 16, 0, 45, "enum('a','b,c','it''s')", "enum"),
    "set('x','yy')": (F.STRING, 16, 0, 45, "set('x','yy')", "set"),
    "point": (F.GEOMETRY, U32, 0, 63, "point", "point"),
}


@pytest.mark.parametrize("text", sorted(WIRE))
def test_type_text_gives_wire_metadata_and_column_type(text: str) -> None:
    info = type_from_mysql_text(text)
    got = (info.field_type, info.length, info.decimals, info.charset, info.column_type, info.data_type)
    assert got == WIRE[text]


# text: (CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION)
SCHEMA: dict[str, tuple[int | None, int | None, int | None, int | None, int | None]] = {
    "tinyint": (None, None, 3, 0, None),
    "mediumint": (None, None, 7, 0, None),
    "mediumint unsigned": (None, None, 8, 0, None),
    "int": (None, None, 10, 0, None),
    "int unsigned": (None, None, 10, 0, None),
    "bigint": (None, None, 19, 0, None),
    "bigint unsigned": (None, None, 20, 0, None),
    "decimal(12,4)": (None, None, 12, 4, None),
    "float": (None, None, 12, None, None),
    "double": (None, None, 22, None, None),
    "bit(5)": (None, None, 5, None, None),
    "char(3)": (3, 12, None, None, None),
    "varchar(20)": (20, 80, None, None, None),
    "binary(4)": (4, 4, None, None, None),
    "text": (65535, 65535, None, None, None),
    "longblob": (U32, U32, None, None, None),
    "enum('a','bb')": (2, 8, None, None, None),
    "set('a','bb')": (4, 16, None, None, None),
    "date": (None, None, None, None, None),
    "datetime": (None, None, None, None, 0),
    "time(3)": (None, None, None, None, 3),
    "json": (None, None, None, None, None),
}


@pytest.mark.parametrize("text", sorted(SCHEMA))
def test_information_schema_lengths_and_precisions(text: str) -> None:
    info = type_from_mysql_text(text)
    got = (
        info.char_max_length,
        info.char_octet_length,
        info.numeric_precision,
        info.numeric_scale,
        info.datetime_precision,
    )
    assert got == SCHEMA[text]


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("int unsigned", ColumnFlag.UNSIGNED | ColumnFlag.NUM),
        ("int(4) zerofill", ColumnFlag.UNSIGNED | ColumnFlag.ZEROFILL | ColumnFlag.NUM),
        ("decimal(5,2)", ColumnFlag.NUM),
        ("bit(3)", ColumnFlag.UNSIGNED),
        ("varchar(5)", 0),
        ("varbinary(5)", ColumnFlag.BINARY),
        ("text", ColumnFlag.BLOB),
        ("blob", ColumnFlag.BLOB | ColumnFlag.BINARY),
        ("json", ColumnFlag.BLOB | ColumnFlag.BINARY),
        ("enum('a')", ColumnFlag.ENUM),
        ("set('a')", ColumnFlag.SET),
        ("datetime", ColumnFlag.BINARY),
        ("year", ColumnFlag.UNSIGNED | ColumnFlag.ZEROFILL | ColumnFlag.NUM | ColumnFlag.BINARY),
    ],
)
def test_type_flags(text: str, flags: int) -> None:
    assert type_from_mysql_text(text).flags == flags


def test_enum_members_are_unquoted() -> None:
    assert type_from_mysql_text("enum('a', 'b,c', 'it''s', 'back\\\\slash')").members == (
        "a",
        "b,c",
        "it's",
        "back\\slash",
    )
    assert type_from_mysql_text("set('x')").members == ("x",)


def test_unknown_type_names_follow_sqlite_affinity() -> None:
    assert type_from_mysql_text("UNSIGNED BIG INT").column_type == "bigint"
    assert type_from_mysql_text("FLOATING POINT").column_type == "bigint"  # "INT" wins, as in SQLite
    assert type_from_mysql_text("FLOATY").column_type == "double"
    assert type_from_mysql_text("whatever").column_type == "longtext"
    assert type_from_mysql_text("").column_type == "longtext"


@pytest.mark.parametrize(
    ("sqlite", "column_type"),
    [
        ("INTEGER", "bigint"),
        ("TEXT", "longtext"),
        ("BLOB", "longblob"),
        ("", "longtext"),
        ("REAL", "double"),
        ("NUMERIC", "decimal(10,0)"),
        ("VARCHAR(20)", "varchar(20)"),
        ("INT UNSIGNED", "int unsigned"),
    ],
)
def test_sqlite_declared_types(sqlite: str, column_type: str) -> None:
    assert type_from_sqlite_text(sqlite).column_type == column_type
    assert type_for_column(StoreColumn("c", sqlite)).column_type == column_type


def test_type_for_column_prefers_the_mysql_type_text() -> None:
    col = StoreColumn("c", "INTEGER", extra={"mt": "tinyint(1)"})
    assert type_for_column(col).column_type == "tinyint(1)"
    assert type_for_column(StoreColumn("c", "TEXT", extra={"ai": True})).column_type == "longtext"


def test_type_infos_are_cached_and_immutable() -> None:
    assert type_from_mysql_text("varchar(9)") is type_from_mysql_text("varchar(9)")
    with pytest.raises(AttributeError):
        type_from_mysql_text("int").length = 3  # type: ignore[misc]


# -- result columns -------------------------------------------------------------------------------


def test_result_column_for_auto_increment_primary_key() -> None:
    col = result_column(
        "id", type_from_mysql_text("int unsigned"), table="t", database="shop", pk=True, auto_increment=True
    )
    assert (col.name, col.type, col.table, col.org_table, col.database, col.org_name) == (
        "id",
        F.LONG,
        "t",
        "t",
        "shop",
        "id",
    )
    expected = (
        ColumnFlag.NOT_NULL
        | ColumnFlag.PRI_KEY
        | ColumnFlag.AUTO_INCREMENT
        | ColumnFlag.UNSIGNED
        | ColumnFlag.NUM
        | (1 << 14)  # PART_KEY
    )
    assert col.flags == expected
    assert (col.charset, col.length, col.decimals) == (63, 10, 0)


def test_result_column_keys_and_defaults() -> None:
    text = type_from_mysql_text("varchar(20)")
    unique = result_column("email", text, unique=True, not_null=True, no_default=True)
    assert unique.flags == ColumnFlag.NOT_NULL | ColumnFlag.UNIQUE_KEY | ColumnFlag.NO_DEFAULT_VALUE | (
        1 << 14
    )
    assert (unique.charset, unique.length) == (45, 80)
    multiple = result_column("kind", text, multiple_key=True, org_name="k")
    assert multiple.flags == ColumnFlag.MULTIPLE_KEY | (1 << 14)
    assert multiple.org_name == "k"
    blob = result_column("b", type_from_mysql_text("blob"))
    assert blob.flags == ColumnFlag.BLOB | ColumnFlag.BINARY
    assert result_column("d", type_from_mysql_text("decimal(10,2)")).decimals == 2


# -- expression values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field_type", "charset", "decimals"),
    [
        (1, F.LONGLONG, 63, 0),
        (True, F.LONGLONG, 63, 0),
        (1.5, F.DOUBLE, 63, 31),
        ("x", F.VAR_STRING, 45, 0),
        (b"x", F.BLOB, 63, 0),
        (None, F.NULL, 63, 0),
        (Decimal("1.50"), F.NEWDECIMAL, 63, 2),
        (datetime.datetime(2024, 1, 2, 3, 4, 5), F.DATETIME, 63, 0),
        (datetime.datetime(2024, 1, 2, 3, 4, 5, 6), F.DATETIME, 63, 6),
        (datetime.date(2024, 1, 2), F.DATE, 63, 0),
        (datetime.time(1, 2), F.TIME, 63, 0),
        (datetime.timedelta(hours=30), F.TIME, 63, 0),
    ],
)
def test_type_for_value(value: Any, field_type: FieldType, charset: int, decimals: int) -> None:
    info = type_for_value(value)
    assert (info.field_type, info.charset, info.decimals) == (field_type, charset, decimals)


def test_null_and_decimal_values() -> None:
    null = type_for_value(None)
    assert (null.length, null.column_type) == (0, "binary(0)")
    assert result_column("NULL", null).flags == ColumnFlag.BINARY
    dec = type_for_value(Decimal("-123.450"))
    assert (dec.numeric_precision, dec.numeric_scale, dec.length) == (6, 3, 8)
    assert type_for_value(Decimal("1E+3")).column_type == "decimal(4,0)"


# -- values out -----------------------------------------------------------------------------------


def _convert(text: str, value: Any) -> Any:
    convert = output_converter(type_from_mysql_text(text))
    assert convert is not None
    return convert(value)


@pytest.mark.parametrize(
    ("text", "stored", "shown"),
    [
        ("decimal(10,2)", 0.1 + 0.2, "0.30"),
        ("decimal(10,2)", 1, "1.00"),
        ("decimal(10,2)", -5, "-5.00"),
        ("decimal(10,2)", 2.675, "2.68"),  # the shortest repr, then half away from zero like MySQL
        ("decimal(10,2)", 0.125, "0.13"),
        ("decimal(10,2)", "-0.125", "-0.13"),
        ("decimal(10,2)", "19.999", "20.00"),
        ("decimal(10,2)", -0.001, "0.00"),
        ("decimal(10,2)", 1e16, "10000000000000000.00"),
        ("decimal(20,10)", 1e-7, "0.0000001000"),
        ("decimal(30,0)", 123456789012345678, "123456789012345678"),
        ("decimal(5,0)", 7.0, "7"),
        ("decimal(10,2)", "n/a", "n/a"),
        ("decimal(10,2)", None, None),
        ("bit(1)", 1, b"\x01"),
        ("bit(12)", 0xABC, b"\x0a\xbc"),
        ("bit(8)", b"\xff", b"\xff"),
        ("float", 0.1 + 0.2, 0.3),
        ("float", 1.23456789, 1.23457),
        ("float", 3.4028234663852886e38, 3.40282e38),
        ("float(7,2)", 3.1, "3.10"),
        ("double(8,3)", 2, "2.000"),
        ("char(5)", "ab  ", "ab"),
        ("binary(4)", b"ab", b"ab\x00\x00"),
        ("binary(2)", "ab", b"ab"),
    ],
)
def test_output_converters(text: str, stored: Any, shown: Any) -> None:
    assert _convert(text, stored) == shown
    if isinstance(shown, float):
        assert repr(_convert(text, stored)) == repr(shown)


@pytest.mark.parametrize(
    "text",
    [
        "int",
        "tinyint(1)",
        "double",
        "varchar(10)",
        "text",
        "blob",
        "json",
        "date",
        "datetime(6)",
        "timestamp",
        "time",
        "year",
        "enum('a')",
        "set('a')",
        "varbinary(3)",
    ],
)
def test_values_pass_through_where_sqlite_already_matches(text: str) -> None:
    assert output_converter(type_from_mysql_text(text)) is None


def test_bigint_unsigned_values_above_int64_come_out_of_their_bytes() -> None:
    convert = output_converter(type_from_mysql_text("bigint unsigned"))
    assert convert is not None
    assert convert(5) == 5
    assert convert((2**64 - 1).to_bytes(8, "big")) == 2**64 - 1
    assert convert((2**63).to_bytes(8, "big")) == 2**63


# -- values in ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (datetime.datetime(2024, 2, 29, 13, 5, 9), "2024-02-29 13:05:09"),
        (datetime.datetime(2024, 2, 29, 13, 5, 9, 120), "2024-02-29 13:05:09.000120"),
        (
            datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "2024-01-01 00:00:00",
        ),
        (datetime.date(999, 1, 2), "0999-01-02"),
        (datetime.time(7, 8, 9), "07:08:09"),
        (datetime.time(7, 8, 9, 500000), "07:08:09.500000"),
        (datetime.timedelta(days=1, hours=2, seconds=3), "26:00:03"),
        (-datetime.timedelta(hours=1, microseconds=5), "-01:00:00.000005"),
        (datetime.timedelta(0), "00:00:00"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.000001"), "-0.000001"),
        (True, 1),
        (False, 0),
        (bytearray(b"ab"), b"ab"),
        (7, 7),
        ("s", "s"),
        (b"b", b"b"),
        (1.5, 1.5),
        (None, None),
    ],
)
def test_input_values(value: Any, stored: Any) -> None:
    got = input_value(value)
    assert got == stored
    assert type(got) is type(stored)


def test_quote_string_escapes_like_show_create_table() -> None:
    assert quote_string("it's a \\ test") == "'it''s a \\\\ test'"


def test_typeinfo_helpers() -> None:
    text, blob = type_from_mysql_text("text"), type_from_mysql_text("blob")
    assert (text.charset_name, text.collation_name) == ("utf8mb4", "utf8mb4_general_ci")
    assert (blob.charset_name, blob.collation_name) == (None, None)
    assert not text.takes_literal_default
    assert type_from_mysql_text("varchar(3)").takes_literal_default
    assert isinstance(text, TypeInfo)
