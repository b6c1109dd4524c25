"""Exact numbers through the SQL session: DECIMAL arithmetic, aggregates, rounding and ranges on write,
integer ranges, 64-bit system variables, and DECIMAL values across replicas and in the change feed.

Expected values are MySQL 8.0's in its default (strict) SQL mode.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from p2pdb.log import Identity
from p2pdb.sql.backend import Accounts, SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.constants import FieldType
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.protocol.results import OkResult, ResultSet
from p2pdb.sql.session import SQLSession
from p2pdb.store import Database
from p2pdb.store.registry import Registry


class Node:
    def __init__(self) -> None:
        self.backend = SQLBackend(Registry(Identity.generate(), None), Accounts(None))
        info = ConnectInfo(1, "root", None, "127.0.0.1", False, False, 45)
        self.session: SQLSession = asyncio.run(self.backend.open_session(info))

    def db(self, name: str = "app") -> Database:
        db = self.backend.registry.get(name)
        assert db is not None
        return db


def run(session: SQLSession, sql: str) -> Any:
    (result,) = asyncio.run(session.execute(sql, multi=False))
    return result


def query(session: SQLSession, sql: str) -> ResultSet:
    result = run(session, sql)
    assert isinstance(result, ResultSet), result
    return result


def rows(session: SQLSession, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in query(session, sql).rows]


def error(session: SQLSession, sql: str) -> tuple[int, str]:
    with pytest.raises(MySQLError) as caught:
        run(session, sql)
    return caught.value.code, caught.value.message


@pytest.fixture
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE app")
    run(node.session, "USE app")
    return node


def test_decimal_literals_are_exact(node: Node) -> None:
    result = query(node.session, "SELECT 0.1 + 0.2, 0.3 - 0.1, 1.10 * 3, 1 / 3, -0.5 * 3, 0.1")
    assert [tuple(r) for r in result.rows] == [("0.3", "0.2", "3.30", "0.3333", "-1.5", "0.1")]
    assert [c.type for c in result.columns] == [FieldType.NEWDECIMAL] * 6
    assert [c.decimals for c in result.columns] == [1, 1, 2, 4, 1, 1]
    assert result.columns[0].name == "0.1 + 0.2"


def test_anything_with_a_double_is_a_double(node: Node) -> None:
    result = query(node.session, "SELECT 0.1 + 1e0, 0.5 * 2e0")
    assert [tuple(r) for r in result.rows] == [(1.1, 1.0)]
    assert [c.type for c in result.columns] == [FieldType.DOUBLE, FieldType.DOUBLE]


def test_long_decimal_literals_keep_every_digit(node: Node) -> None:
    assert rows(node.session, "SELECT 12345678901234567890.123456789 + 0.000000001") == [
        ("12345678901234567890.123456790",)
    ]


@pytest.fixture
def prices(node: Node) -> Node:
    run(node.session, "CREATE TABLE p (id INT PRIMARY KEY, price DECIMAL(12,2), qty INT, f DOUBLE)")
    values = ", ".join(f"({i}, 0.10, {i}, 0.1)" for i in range(1, 11))
    run(node.session, f"INSERT INTO p VALUES {values}, (11, 0.20, 1, 0.2)")
    return node


def test_sum_and_avg_of_decimal_are_exact(prices: Node) -> None:
    result = query(prices.session, "SELECT SUM(price), AVG(price), MIN(price), MAX(price), SUM(f) FROM p")
    ((total, avg, low, high, double),) = [tuple(r) for r in result.rows]
    assert (total, avg, low, high) == ("1.20", "0.109091", "0.10", "0.20")
    assert double != 1.2  # the DOUBLE column keeps binary floating point, as in MySQL
    types = [(c.type, c.decimals) for c in result.columns[:4]]
    assert types == [(FieldType.NEWDECIMAL, 2), (FieldType.NEWDECIMAL, 6)] + [(FieldType.NEWDECIMAL, 2)] * 2
    grouped = rows(prices.session, "SELECT qty = 1 AS one, SUM(price) FROM p GROUP BY qty = 1 ORDER BY one")
    assert grouped == [(0, "0.90"), (1, "0.30")]


def test_a_decimal_read_as_text_shows_its_scale(prices: Node) -> None:
    """MySQL reads a DECIMAL as its text at its scale wherever text is wanted: string functions,
    LIKE, CAST AS CHAR, GROUP_CONCAT, in projections, conditions and writes (SQLite's text of the
    stored 0.1 is '0.1')."""
    s = prices.session
    run(s, "CREATE TABLE d (id INT PRIMARY KEY, amt DECIMAL(6,2), note VARCHAR(30))")
    run(s, "INSERT INTO d VALUES (1, 2.50, NULL), (2, 3, NULL), (3, 2.50, NULL)")
    assert rows(
        s, "SELECT CONCAT('$', amt), CAST(amt AS CHAR), LENGTH(amt), CONCAT(amt + 1) FROM d WHERE id < 3"
    ) == [
        ("$2.50", "2.50", 4, "3.50"),
        ("$3.00", "3.00", 4, "4.00"),
    ]
    assert rows(s, "SELECT GROUP_CONCAT(amt ORDER BY id), GROUP_CONCAT(DISTINCT amt) FROM d") == [
        ("2.50,3.00,2.50", "2.50,3.00")
    ]
    assert rows(s, "SELECT id FROM d WHERE amt LIKE '%.50' ORDER BY id") == [(1,), (3,)]
    assert rows(s, "SELECT id FROM d WHERE CONCAT(amt) = '3.00'") == [(2,)]
    run(s, "UPDATE d SET note = CONCAT('was ', amt) WHERE id = 2")
    assert rows(s, "SELECT note FROM d WHERE id = 2") == [("was 3.00",)]
    assert rows(s, "SELECT CONCAT(2.50), LENGTH(0.10), 1.50 LIKE '%0'") == [("2.50", 4, 1)]


def test_round_to_tens_and_hundreds(prices: Node) -> None:
    """ROUND(x, -n) rounds half up to 10^n (SQLite's round ignores a negative count: 123.0)."""
    s = prices.session
    assert rows(s, "SELECT ROUND(123.456, -1), ROUND(155, -1), ROUND(-155, -1), ROUND(555.5, -3)") == [
        ("120", "160", "-160", "1000")
    ]
    assert rows(s, "SELECT ROUND(price * 1000, -2), ROUND(qty * 55, -2) FROM p WHERE id = 9") == [
        ("100", "500")
    ]


def test_window_values_and_abs_of_decimals_are_decimals(prices: Node) -> None:
    """LAG/LEAD/FIRST_VALUE/LAST_VALUE/NTH_VALUE of a DECIMAL and ABS of one are DECIMALs with its
    scale (they were DOUBLEs: 0.1, not 0.10)."""
    s = prices.session
    result = query(
        s, "SELECT LAG(price) OVER (ORDER BY id), ABS(-price), ABS(price * 3) FROM p WHERE id <= 2"
    )
    assert [tuple(r) for r in result.rows] == [(None, "0.10", "0.30"), ("0.10", "0.10", "0.30")]
    assert [(c.type, c.decimals) for c in result.columns] == [(FieldType.NEWDECIMAL, 2)] * 3
    assert rows(s, "SELECT FIRST_VALUE(price) OVER (ORDER BY id DESC) FROM p WHERE id = 11") == [("0.20",)]


def test_group_concat_distinct_with_a_separator(prices: Node) -> None:
    """SQLite refuses DISTINCT with a second argument: the separator (error 1105 before)."""
    assert rows(
        prices.session,
        "SELECT GROUP_CONCAT(DISTINCT qty ORDER BY qty DESC SEPARATOR '|'), GROUP_CONCAT(DISTINCT price"
        " SEPARATOR '; ') FROM p WHERE id > 8",
    ) == [("10|9|1", "0.10; 0.20")]
    # without an ORDER BY, sorted (MySQL): 11 holds 0.20, the lower ids 0.10
    assert rows(
        prices.session, "SELECT GROUP_CONCAT(DISTINCT price SEPARATOR '|') FROM p WHERE id >= 10"
    ) == [("0.10|0.20",)]
    assert rows(
        prices.session, "SELECT GROUP_CONCAT(DISTINCT qty SEPARATOR '-') FROM p WHERE id IN (11, 3, 2)"
    ) == [("1-2-3",)]


def test_avg_of_integers_is_decimal(prices: Node) -> None:
    result = query(prices.session, "SELECT AVG(qty) FROM p")
    assert [tuple(r) for r in result.rows] == [("5.0909",)]
    assert result.columns[0].type == FieldType.NEWDECIMAL
    # COUNT is a BIGINT: divided, a DECIMAL (it was a DOUBLE: 5.5 and 5.090909...)
    assert rows(prices.session, "SELECT COUNT(*) / 2, SUM(qty) / COUNT(*) FROM p") == [("5.5000", "5.0909")]


def test_decimal_column_arithmetic(prices: Node) -> None:
    got = rows(prices.session, "SELECT price * qty, price + 0.001, price / 3, -price FROM p WHERE id = 3")
    assert got == [("0.30", "0.101", "0.033333", "-0.10")]
    assert rows(prices.session, "SELECT CAST(price * 7 AS DECIMAL(5,1)) FROM p WHERE id = 11") == [("1.4",)]
    assert rows(prices.session, "SELECT price * qty FROM p WHERE id = 3") == [("0.30",)]
    run(prices.session, "INSERT INTO p VALUES (20, 2.675, 1, 0), (21, -2.665, 1, 0)")
    got = rows(
        prices.session,
        "SELECT ROUND(price, 1), ROUND(price), ROUND(price * 3, 2) FROM p WHERE id >= 20 ORDER BY id",
    )
    assert got == [("2.7", "3", "8.04"), ("-2.7", "-3", "-8.01")]  # stored 2.68 and -2.67


def test_order_and_having_by_the_alias_of_a_decimal_expression(prices: Node) -> None:
    run(prices.session, "INSERT INTO p VALUES (12, 9.00, 1, 0), (13, 10.00, 1, 0)")
    got = rows(prices.session, "SELECT id, price * 1 AS x FROM p WHERE id > 10 ORDER BY x DESC")
    assert got == [(13, "10.00"), (12, "9.00"), (11, "0.20")]  # numeric order, not text order
    got = rows(prices.session, "SELECT qty, SUM(price) AS s FROM p GROUP BY qty HAVING s > 5 ORDER BY s")
    assert got == [(1, "19.30")]


def test_comparisons_and_order_on_decimal_columns(prices: Node) -> None:
    assert rows(prices.session, "SELECT COUNT(*) FROM p WHERE price = 0.1") == [(10,)]
    assert rows(prices.session, "SELECT id FROM p WHERE price > 0.15") == [(11,)]
    assert rows(prices.session, "SELECT id FROM p ORDER BY price DESC, id LIMIT 2") == [(11,), (1,)]


def test_values_round_half_up_to_the_scale(node: Node) -> None:
    run(node.session, "CREATE TABLE r (id INT PRIMARY KEY, d DECIMAL(6,2))")
    run(node.session, "INSERT INTO r VALUES (1, 1.005), (2, 2.675), (3, -1.005), (4, '3.14159'), (5, 7)")
    assert rows(node.session, "SELECT d FROM r ORDER BY id") == [
        ("1.01",),
        ("2.68",),
        ("-1.01",),
        ("3.14",),
        ("7.00",),
    ]
    run(node.session, "UPDATE r SET d = d + 0.004 WHERE id = 1")
    assert rows(node.session, "SELECT d FROM r WHERE id = 1") == [("1.01",)]
    run(node.session, "UPDATE r SET d = d + 0.005 WHERE id = 1")
    assert rows(node.session, "SELECT d FROM r WHERE id = 1") == [("1.02",)]


def test_out_of_range_decimal_is_error_1264(node: Node) -> None:
    run(node.session, "CREATE TABLE r (id INT PRIMARY KEY, d DECIMAL(5,2), u DECIMAL(5,2) UNSIGNED)")
    run(node.session, "INSERT INTO r VALUES (1, 999.994, 0)")
    message = "Out of range value for column 'd' at row 1"
    assert error(node.session, "INSERT INTO r VALUES (2, 1000, 0)") == (1264, message)
    assert error(node.session, "INSERT INTO r VALUES (2, 999.995, 0)") == (1264, message)
    assert error(node.session, "INSERT INTO r VALUES (2, -1000, 0)") == (1264, message)
    assert error(node.session, "INSERT INTO r VALUES (2, 1, 0), (3, 1, -1)") == (
        1264,
        "Out of range value for column 'u' at row 2",
    )
    assert error(node.session, "UPDATE r SET d = d * 10 WHERE id = 1") == (1264, message)
    assert error(node.session, "INSERT INTO r VALUES (2, 'abc', 0)") == (
        1366,
        "Incorrect decimal value: 'abc' for column 'd' at row 1",
    )
    assert rows(node.session, "SELECT id, d, u FROM r") == [(1, "999.99", "0.00")]


def test_insert_select_rounds_and_checks(prices: Node) -> None:
    run(prices.session, "CREATE TABLE q (id INT PRIMARY KEY, d DECIMAL(4,1), t TINYINT)")
    run(prices.session, "INSERT INTO q (id, d, t) SELECT id, price / 4, qty FROM p WHERE id < 3")
    assert rows(prices.session, "SELECT id, d, t FROM q ORDER BY id") == [(1, "0.0", 1), (2, "0.0", 2)]
    run(prices.session, "INSERT INTO q SELECT id + 10, price * 5, qty FROM p WHERE id = 11")
    assert rows(prices.session, "SELECT d FROM q WHERE id = 21") == [("1.0",)]
    assert error(prices.session, "INSERT INTO q SELECT id + 20, price, qty * 100 FROM p WHERE id = 2") == (
        1264,
        "Out of range value for column 't' at row 1",
    )


INTEGER_TYPES = [
    ("tinyint", -128, 127),
    ("tinyint unsigned", 0, 255),
    ("smallint", -32768, 32767),
    ("smallint unsigned", 0, 65535),
    ("mediumint", -8388608, 8388607),
    ("mediumint unsigned", 0, 16777215),
    ("int", -2147483648, 2147483647),
    ("int unsigned", 0, 4294967295),
    ("bigint", -9223372036854775808, 9223372036854775807),
]


@pytest.mark.parametrize(("kind", "low", "high"), INTEGER_TYPES)
def test_integer_ranges(node: Node, kind: str, low: int, high: int) -> None:
    run(node.session, f"CREATE TABLE n (id INT PRIMARY KEY, v {kind})")
    run(node.session, f"INSERT INTO n VALUES (1, {low}), (2, {high})")
    assert rows(node.session, "SELECT v FROM n ORDER BY id") == [(low,), (high,)]
    message = (1264, "Out of range value for column 'v' at row 1")
    assert error(node.session, f"INSERT INTO n VALUES (3, {high + 1})") == message
    assert error(node.session, f"INSERT INTO n VALUES (3, {low - 1})") == message
    assert error(node.session, f"UPDATE n SET v = {high + 1} WHERE id = 1") == message
    assert rows(node.session, "SELECT COUNT(*) FROM n") == [(2,)]


def test_integers_round_half_up_and_refuse_text(node: Node) -> None:
    run(node.session, "CREATE TABLE n (id INT PRIMARY KEY, v INT)")
    run(node.session, "INSERT INTO n VALUES (1, 2.5), (2, -2.5), (3, '7')")
    assert rows(node.session, "SELECT v FROM n ORDER BY id") == [(3,), (-3,), (7,)]
    assert error(node.session, "INSERT INTO n VALUES (4, 'seven')") == (
        1366,
        "Incorrect integer value: 'seven' for column 'v' at row 1",
    )


def test_sql_select_limit_takes_64_bit_values(prices: Node) -> None:
    session = prices.session
    assert rows(session, "SELECT @@sql_select_limit") == [("18446744073709551615",)]
    run(session, "SET sql_select_limit = 3")
    assert rows(session, "SELECT @@sql_select_limit") == [(3,)]
    assert len(rows(session, "SELECT id FROM p")) == 3
    assert len(rows(session, "SELECT id FROM p LIMIT 5")) == 5  # a statement's own LIMIT wins
    run(session, "SET SESSION sql_select_limit = 18446744073709551615")
    assert rows(session, "SELECT @@session.sql_select_limit") == [("18446744073709551615",)]
    assert len(rows(session, "SELECT id FROM p")) == 11
    run(session, "SET sql_select_limit = DEFAULT")
    assert len(rows(session, "SELECT id FROM p")) == 11


def test_create_table_select_keeps_decimal_types(prices: Node) -> None:
    run(prices.session, "CREATE TABLE s SELECT SUM(price) AS total, 0.5 AS half FROM p")
    assert rows(prices.session, "SELECT total, half FROM s") == [("1.20", "0.5")]
    (create,) = rows(prices.session, "SHOW CREATE TABLE s")
    assert "`total` decimal(34,2)" in create[1] and "`half` decimal(1,1)" in create[1]


def _sync(*dbs: Database) -> None:
    for target in dbs:
        for source in dbs:
            if source is not target:
                target.join([e.block for e in source.log.traverse()])


def test_decimal_values_read_identically_on_a_replica(prices: Node) -> None:
    run(prices.session, "INSERT INTO p VALUES (12, 1234567890.05, 1, 0), (13, -0.01, 1, 0)")
    replica = Node()
    replica.backend.registry.create("app")
    _sync(prices.db(), replica.db())
    run(replica.session, "USE app")
    sql = "SELECT id, price FROM p ORDER BY id"
    assert rows(replica.session, sql) == rows(prices.session, sql)
    total = "SELECT SUM(price), AVG(price) FROM p"
    assert (
        rows(replica.session, total) == rows(prices.session, total) == [("1234567891.24", "94966760.864615")]
    )


def test_change_feed_shows_exact_decimal_text(prices: Node) -> None:
    run(prices.session, "UPDATE p SET price = 12.3 WHERE id = 1")
    changes = prices.db().changes.read(0, table="p")
    inserted = sorted((c.pk[0], c.row["price"]) for c in changes if c.op == "insert")
    assert inserted == [(i, "0.10") for i in range(1, 11)] + [(11, "0.20")]
    assert [c.row["price"] for c in changes if c.op == "update"] == ["12.30"]
    assert {c.row["f"] for c in changes if c.op == "insert"} == {0.1, 0.2}  # DOUBLE stays a number


def test_same_shape_with_string_or_number_literals(node: Node) -> None:
    assert rows(node.session, "SELECT 1 / 4") == [("0.2500",)]
    assert rows(node.session, "SELECT 1.0 / 4") == [("0.25000",)]
    assert rows(node.session, "SELECT 1.5 + 1") == [("2.5",)]
    assert rows(node.session, "SELECT 1.25 + 1") == [("2.25",)]


U64_MAX = 18446744073709551615


@pytest.fixture
def unsigned(node: Node) -> Node:
    run(node.session, "CREATE TABLE u (id INT PRIMARY KEY, v BIGINT UNSIGNED, KEY (v))")
    run(
        node.session,
        "INSERT INTO u VALUES (1, 0), (2, 9223372036854775807), (3, 9223372036854775808),"
        f" (4, {U64_MAX}), (5, 5)",
    )
    return node


def test_bigint_unsigned_holds_its_whole_range(unsigned: Node) -> None:
    session = unsigned.session
    result = query(session, "SELECT id, v FROM u ORDER BY v")
    assert [tuple(r) for r in result.rows] == [
        (1, 0),
        (5, 5),
        (2, 9223372036854775807),
        (3, 9223372036854775808),
        (4, U64_MAX),
    ]
    assert result.columns[1].type == FieldType.LONGLONG and result.columns[1].unsigned
    message = (1264, "Out of range value for column 'v' at row 1")
    assert error(session, f"INSERT INTO u VALUES (6, {U64_MAX + 1})") == message
    assert error(session, "INSERT INTO u VALUES (6, -1)") == message
    assert error(session, "UPDATE u SET v = v + 1 WHERE id = 4") == message


def test_bigint_unsigned_compares_and_computes_past_int64(unsigned: Node) -> None:
    session = unsigned.session
    assert rows(session, f"SELECT id FROM u WHERE v = {U64_MAX}") == [(4,)]
    assert rows(session, "SELECT id FROM u WHERE v > 9223372036854775807 ORDER BY id") == [(3,), (4,)]
    assert rows(session, "SELECT id FROM u WHERE v < 9223372036854775809 ORDER BY id") == [
        (1,),
        (2,),
        (3,),
        (5,),
    ]
    assert rows(session, "SELECT id FROM u WHERE v IN (5, 9223372036854775808) ORDER BY id") == [(3,), (5,)]
    assert rows(session, "SELECT SUM(v), MAX(v) FROM u") == [("36893488147419103235", str(U64_MAX))]
    run(session, "UPDATE u SET v = v + 1 WHERE id = 3")
    assert rows(session, "SELECT v FROM u WHERE id = 3") == [(9223372036854775809,)]
    run(session, "DELETE FROM u WHERE v = 9223372036854775809")
    assert rows(session, "SELECT COUNT(*) FROM u") == [(4,)]


def test_bigint_unsigned_replicates_and_feeds_numbers(unsigned: Node) -> None:
    replica = Node()
    replica.backend.registry.create("app")
    _sync(unsigned.db(), replica.db())
    run(replica.session, "USE app")
    sql = "SELECT id, v FROM u ORDER BY v"
    assert rows(replica.session, sql) == rows(unsigned.session, sql)
    changes = unsigned.db().changes.read(0, table="u")
    assert sorted(c.row["v"] for c in changes if c.op == "insert")[-1] == U64_MAX


def test_a_bigint_unsigned_rowid_key_stops_at_int64(node: Node) -> None:
    run(node.session, "CREATE TABLE k (id BIGINT UNSIGNED PRIMARY KEY)")
    run(node.session, "INSERT INTO k VALUES (9223372036854775807)")
    code, message = error(node.session, f"INSERT INTO k VALUES ({U64_MAX})")
    assert code == 1264 and message.startswith("Out of range value for column 'id' at row 1")


def test_sum_of_integers_is_decimal_and_distinct_aggregates_are_exact() -> None:
    from test_sql_keyless_and_select import Node, run

    node = Node()
    s = node.session
    run(s, "CREATE DATABASE da")
    run(s, "USE da")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, n INT, d DECIMAL(6,2))")
    run(s, "INSERT INTO t VALUES (1, 94, 1.10), (2, 38, 1.10), (3, 25, 2.20), (4, 86, NULL), (5, 11, 0.05)")
    result = run(
        s, "SELECT SUM(n), SUM(DISTINCT n), AVG(DISTINCT n), SUM(DISTINCT d), AVG(DISTINCT d) FROM t"
    )
    assert [tuple(r) for r in result.rows] == [("254", "254", "50.8000", "3.35", "1.116667")]
    assert [c.type for c in result.columns] == [246] * 5


def test_coalesce_if_case_nullif_take_the_type_of_their_values() -> None:
    from test_sql_keyless_and_select import Node, run

    node = Node()
    s = node.session
    run(s, "CREATE DATABASE cu")
    run(s, "USE cu")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, n INT, d DECIMAL(6,2), f DOUBLE)")
    run(s, "INSERT INTO t VALUES (1, 94, 1.10, 0.5), (2, NULL, NULL, NULL)")
    cases = [
        ("SELECT COALESCE(d, 49) FROM t ORDER BY id", [("1.10",), ("49.00",)], 246),
        ("SELECT CASE WHEN id = 1 THEN 0.1 + 0.2 ELSE 3 END FROM t ORDER BY id", [("0.3",), ("3.0",)], 246),
        ("SELECT IF(id = 1, d, n) FROM t ORDER BY id", [("1.10",), (None,)], 246),
        ("SELECT NULLIF(d, 1) FROM t ORDER BY id", [("1.10",), (None,)], 246),
        ("SELECT COALESCE(f, d) FROM t ORDER BY id", [(0.5,), (None,)], 5),
        ("SELECT n DIV 3 FROM t ORDER BY id", [(31,), (None,)], 8),
        ("SELECT AVG(n DIV 2) FROM t", [("47.0000",)], 246),
    ]
    for sql, expected, field_type in cases:
        result = run(s, sql)
        assert ([tuple(r) for r in result.rows], result.columns[0].type) == (expected, field_type), sql


def test_a_decimal_literal_written_to_a_text_column_keeps_its_digits() -> None:
    from test_sql_keyless_and_select import Node, rows, run

    node = Node()
    s = node.session
    run(s, "CREATE DATABASE tx")
    run(s, "USE tx")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, u VARCHAR(8))")
    run(s, "INSERT INTO t VALUES (1, 313.20), (2, 0.10)")
    run(s, "UPDATE t SET u = 1.50 WHERE id = 2")
    assert rows(s, "SELECT u FROM t ORDER BY id") == [("313.20",), ("1.50",)]


def test_division_keeps_nine_digit_words_inside_expressions() -> None:
    from test_sql_keyless_and_select import Node, rows

    node = Node()
    s = node.session
    # MySQL keeps 1/3 as 0.333333333 inside an expression and rounds the final result to its scale.
    got = rows(
        s, "SELECT 1/3, 1/3*3, 1221/96*51, (1/3) + 0.00001, CAST(40 AS SIGNED) / CAST(77 AS SIGNED) + 33"
    )
    assert got == [("0.3333", "1.0000", "648.6563", "0.33334", "33.5195")]


def test_modulo_of_exact_and_float_values_anywhere() -> None:
    from test_sql_keyless_and_select import Node, rows, run

    node = Node()
    s = node.session
    run(s, "CREATE DATABASE md")
    run(s, "USE md")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, d DECIMAL(6,2), f DOUBLE, n INT)")
    run(s, "INSERT INTO t VALUES (1, 26.53, 7.5, -7)")
    assert rows(s, "SELECT 26.53 % 1, MOD(26.53, 1), 7.5 % 2, -7 % 3, 7 % -3, 5 % 0") == [
        ("0.53", "0.53", "1.5", -1, 1, None)
    ]
    assert rows(s, "SELECT d % 1, f % 2, n % 3, d MOD 2 FROM t") == [("0.53", 1.5, -1, "0.53")]
    assert rows(s, "SELECT id FROM t WHERE d % 1 > 0.5 AND n % 2 = -1") == [(1,)]  # in conditions too


def test_window_sums_of_decimals_are_decimal() -> None:
    from test_sql_keyless_and_select import Node, run

    node = Node()
    s = node.session
    run(s, "CREATE DATABASE wn")
    run(s, "USE wn")
    run(s, "CREATE TABLE e (id INT PRIMARY KEY, dept VARCHAR(5), sal DECIMAL(8,2), n INT)")
    run(s, "INSERT INTO e VALUES (1, 'eng', 100.50, 3), (2, 'ops', 70.10, 1), (3, 'eng', 80.25, 5)")
    result = run(s, "SELECT SUM(sal) OVER (PARTITION BY dept), AVG(n) OVER () FROM e ORDER BY id")
    assert [tuple(r) for r in result.rows] == [
        ("180.75", "3.0000"),
        ("70.10", "3.0000"),
        ("180.75", "3.0000"),
    ]
    assert [c.type for c in result.columns] == [246, 246]


def test_decimal_arithmetic_compares_exactly_in_every_clause(node: Node) -> None:
    """MySQL compares exact values: 0.10 * 3 is 0.30, so it equals 0.3 in WHERE, HAVING, a
    projected comparison, an UPDATE's or a DELETE's condition (SQLite's doubles give
    0.30000000000000004, and the rows were missed)."""
    s = node.session
    run(s, "CREATE TABLE p (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT)")
    run(s, "INSERT INTO p VALUES (1, 0.10, 3), (2, 0.20, 1), (3, 2.50, 2)")
    assert rows(s, "SELECT 0.1 + 0.2 = 0.3, 0.1 * 3 = 0.3, 0.3 - 0.1 > 0.2") == [(1, 1, 0)]
    assert rows(s, "SELECT id FROM p WHERE price * qty = 0.3") == [(1,)]
    assert rows(s, "SELECT id FROM p WHERE price + 0.2 = 0.3") == [(1,)]
    assert rows(s, "SELECT id FROM p WHERE price * qty BETWEEN 0.3 AND 0.3") == [(1,)]
    assert rows(s, "SELECT id FROM p WHERE price * qty IN (0.3, 5)") == [(1,), (3,)]
    assert rows(s, "SELECT SUM(price) = 0.3 FROM p WHERE id IN (1, 2)") == [(1,)]
    assert rows(s, "SELECT qty FROM p GROUP BY qty HAVING SUM(price) * 3 = 0.3") == [(3,)]
    assert rows(s, "SELECT id FROM p ORDER BY price * qty DESC") == [(3,), (1,), (2,)]
    assert rows(s, "SELECT id, SUM(price * qty) OVER (ORDER BY id) = 0.5 FROM p") == [(1, 0), (2, 1), (3, 0)]
    updated = run(s, "UPDATE p SET qty = 9 WHERE price * 3 = 0.3")
    assert isinstance(updated, OkResult) and updated.affected_rows == 1
    deleted = run(s, "DELETE FROM p WHERE price * qty = 0.9")
    assert isinstance(deleted, OkResult) and deleted.affected_rows == 1
    assert rows(s, "SELECT id FROM p ORDER BY id") == [(2,), (3,)]


def test_decimal_through_ctes_derived_tables_subqueries_and_greatest(node: Node) -> None:
    """A DECIMAL keeps its type and scale through a CTE, a derived table, a scalar subquery and
    GREATEST/LEAST, and a CTE's arithmetic is exact (MySQL's answers)."""
    s = node.session
    run(s, "CREATE TABLE p (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT)")
    run(s, "INSERT INTO p VALUES (1, 0.10, 3), (2, 10.00, 1)")

    def typed(sql: str) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
        result = query(s, sql)
        return [tuple(r) for r in result.rows], [(c.type, c.decimals) for c in result.columns]

    dec2 = (FieldType.NEWDECIMAL, 2)
    assert typed("WITH c AS (SELECT SUM(price) AS t FROM p) SELECT t FROM c") == ([("10.10",)], [dec2])
    assert typed("WITH c AS (SELECT 0.1 * 3 AS x) SELECT x, x = 0.3 FROM c")[0] == [("0.3", 1)]
    assert query(s, "WITH c AS (SELECT 0.1 * 3 AS x) SELECT x = 0.3 FROM c").columns[0].name == "x = 0.3"
    assert typed("SELECT t FROM (SELECT price * qty AS t FROM p) d ORDER BY t") == (
        [("0.30",), ("10.00",)],
        [dec2],
    )
    assert typed("SELECT d.t FROM (SELECT price * qty AS t FROM p) AS d WHERE d.t = 0.3") == (
        [("0.30",)],
        [dec2],
    )
    assert typed("SELECT (SELECT MAX(price) FROM p)") == ([("10.00",)], [dec2])
    assert typed("SELECT (SELECT SUM(price) FROM p) + 1") == ([("11.10",)], [dec2])
    assert typed("SELECT GREATEST(price, 3), LEAST(price, 0.150) FROM p ORDER BY id") == (
        [("3.00", "0.100"), ("10.00", "0.150")],
        [dec2, (FieldType.NEWDECIMAL, 3)],
    )


def test_a_cached_plan_follows_the_type_of_long_and_float_literals(node: Node) -> None:
    """``SELECT :p1 * :p2`` is one shape for ``3 * 4``, an integer too long for a BIGINT (a DECIMAL)
    and a float: each gets its own plan (the first plan was reused for the others)."""
    s = node.session
    run(s, "CREATE TABLE p (id INT PRIMARY KEY, price DECIMAL(10,2))")
    assert rows(s, "SELECT 3 * 4") == [(12,)]
    assert rows(s, "SELECT 123456789012345678901 * 2") == [("246913578024691357802",)]
    assert rows(s, "SELECT 1e300 * 10") == [(1e301,)]
    assert rows(s, "SELECT 3 * 4") == [(12,)]


def test_select_star_over_a_derived_table_keeps_decimal_types(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE o (id INT PRIMARY KEY, cid INT, amt DECIMAL(8,2))")
    run(s, "INSERT INTO o VALUES (1, 1, 10.50), (2, 1, 20.00), (3, 2, 5.25)")
    for sql in (
        "SELECT * FROM (SELECT cid, SUM(amt) s FROM o GROUP BY cid) t WHERE s > 6 ORDER BY cid",
        "WITH t AS (SELECT cid, SUM(amt) s FROM o GROUP BY cid) SELECT * FROM t WHERE s > 6 ORDER BY cid",
    ):
        result = query(s, sql)
        assert [tuple(r) for r in result.rows] == [(1, "30.50")]
        assert [c.type for c in result.columns][1] == FieldType.NEWDECIMAL
