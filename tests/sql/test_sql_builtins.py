"""MySQL built-in functions SQLite lacks or answers differently (issue 11), with MySQL 8's results."""

from __future__ import annotations

from typing import Any

import pytest
from test_sql_keyless_and_select import Node, rows, run


@pytest.fixture(scope="module")
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE app")
    run(node.session, "USE app")
    return node


CASES: list[tuple[str, Any]] = [
    ("SELECT HEX(NULL)", None),
    ("SELECT HEX(255)", "FF"),
    ("SELECT HEX('ab')", "6162"),
    ("SELECT LENGTH('é')", 2),
    ("SELECT CHAR_LENGTH('é')", 1),
    ("SELECT UPPER('é')", "É"),
    ("SELECT LOWER('ÉA')", "éa"),
    ("SELECT MID('hello', 2, 2)", "el"),
    ("SELECT SUBSTRING('hello', 0)", ""),
    ("SELECT SUBSTRING('hello', 2, -1)", ""),
    ("SELECT SUBSTRING('hello', -3, 2)", "ll"),
    ("SELECT SUBSTRING('hello', 1.6, 2)", "el"),
    ("SELECT SUBSTRING('hello' FROM -10)", ""),
    ("SELECT INSERT('hello', 2, 3, 'XY')", "hXYo"),
    ("SELECT CONV('ff', 16, 10)", "255"),
    ("SELECT CONV(-1, 10, 16)", "FFFFFFFFFFFFFFFF"),
    ("SELECT BIN(5)", "101"),
    ("SELECT OCT(8)", "10"),
    ("SELECT BIT_COUNT(7)", 3),
    ("SELECT ASCII('A')", 65),
    ("SELECT ORD('é')", 50089),  # MySQL: the first character's utf8mb4 bytes as one number
    ("SELECT ORD('A')", 65),
    ("SELECT CHAR(65)", b"A"),
    ("SELECT DAYOFWEEK('2024-01-05')", 6),
    ("SELECT WEEKDAY('2024-01-05')", 4),
    ("SELECT DAYNAME('2024-01-05')", "Friday"),
    ("SELECT MONTHNAME('2024-01-05')", "January"),
    ("SELECT QUARTER('2024-05-01')", 2),
    ("SELECT DAYOFYEAR('2024-02-01')", 32),
    ("SELECT WEEK('2024-01-10')", 1),
    ("SELECT LAST_DAY('2024-02-10')", "2024-02-29"),
    ("SELECT TO_DAYS('2024-01-01')", 739251),
    # one character for one, as MySQL's case mapping: 'ß' has no single upper case
    ("SELECT UPPER('straße')", "STRAßE"),
    ("SELECT UCASE('ǆ')", "Ǆ"),
    ("SELECT LOWER('İSTANBUL')", "istanbul"),
    ("SELECT UPPER('abc')", "ABC"),
    ("SELECT COT(1)", 0.6420926159343306),
    ("SELECT ATAN(1, 1)", 0.7853981633974483),
    ("SELECT INTERVAL(23, 1, 15, 17, 30, 44, 200)", 3),
    ("SELECT INTERVAL(NULL, 1)", -1),
    # GREATEST/LEAST: strings with numbers compare as DOUBLEs; strings alone by the collation
    ("SELECT LEAST(1, '2')", 1.0),
    ("SELECT GREATEST('a', 'B')", "B"),
    ("SELECT LEAST('10', '9')", "10"),
    ("SELECT CONVERT('abc' USING utf8mb4)", "abc"),
    ("SELECT LPAD('abc', 5, '')", None),
    ("SELECT RPAD('abc', 2, '')", "ab"),
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_mysql_results(node: Node, sql: str, expected: Any) -> None:
    assert rows(node.session, sql) == [(expected,)]
