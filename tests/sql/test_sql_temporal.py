"""MySQL's date and time arithmetic, CAST targets and XOR (issue 11, item 5), with the results MySQL 8
documents."""

from __future__ import annotations

from typing import Any

import pytest
from test_sql_keyless_and_select import Node, rows, run

from p2pdb.sql import temporal


@pytest.fixture(scope="module")
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE app")
    run(node.session, "USE app")
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME, tm TIME)")
    run(node.session, "INSERT INTO t VALUES (1, '2024-01-31', '2024-01-31 10:20:30', '07:08:09')")
    return node


CASES: list[tuple[str, Any]] = [
    ("SELECT DATE('2024-01-31') + INTERVAL 1 MONTH", "2024-02-29"),
    ("SELECT '2023-01-31' + INTERVAL 1 MONTH", "2023-02-28"),
    ("SELECT INTERVAL 1 DAY + '2024-02-28'", "2024-02-29"),
    ("SELECT DATE_ADD('2024-01-01', INTERVAL 7 DAY)", "2024-01-08"),
    ("SELECT DATE_ADD('2024-01-01', INTERVAL 1 HOUR)", "2024-01-01 01:00:00"),
    ("SELECT DATE_SUB('2024-03-01 00:00:00', INTERVAL 1 SECOND)", "2024-02-29 23:59:59"),
    ("SELECT DATE_ADD(dt, INTERVAL 90 MINUTE) FROM t", "2024-01-31 11:50:30"),
    ("SELECT d - INTERVAL 1 YEAR FROM t", "2023-01-31"),
    ("SELECT DATE_ADD('2024-13-01', INTERVAL 1 DAY)", None),
    ("SELECT TIMESTAMPDIFF(DAY, '2024-01-01', '2024-03-01')", 60),
    ("SELECT TIMESTAMPDIFF(MONTH, '2024-01-31', '2024-02-29')", 0),
    ("SELECT TIMESTAMPDIFF(MONTH, '2024-01-31', '2024-03-31')", 2),
    ("SELECT TIMESTAMPDIFF(HOUR, '2024-01-01 10:00:00', '2024-01-01 07:30:00')", -2),
    ("SELECT TIMESTAMPADD(MONTH, 1, '2024-01-31')", "2024-02-29"),
    ("SELECT STR_TO_DATE('01/02/2024', '%d/%m/%Y')", "2024-02-01"),
    ("SELECT STR_TO_DATE('01/02/2024 10:11', '%d/%m/%Y %H:%i')", "2024-02-01 10:11:00"),
    ("SELECT STR_TO_DATE('nonsense', '%d/%m/%Y')", None),
    ("SELECT EXTRACT(YEAR FROM '2024-05-06')", 2024),
    ("SELECT EXTRACT(MINUTE FROM dt) FROM t", 20),
    ("SELECT CAST('2024-01-02 03:04:05' AS DATETIME)", "2024-01-02 03:04:05"),
    ("SELECT CAST('2024-01-02 03:04:05' AS DATE)", "2024-01-02"),
    ("SELECT CAST(dt AS TIME) FROM t", "10:20:30"),
    ("SELECT CAST('abcdef' AS CHAR(3))", "abc"),
    ("SELECT CAST('12abc' AS SIGNED)", 12),
    ("SELECT CAST(-1 AS UNSIGNED)", 18446744073709551615),
    ("SELECT CAST(2.5 AS SIGNED)", 3),
    ("SELECT ADDDATE('2024-01-31', 1)", "2024-02-01"),
    ("SELECT ADDDATE('2024-01-31', INTERVAL 1 MONTH)", "2024-02-29"),
    ("SELECT SUBDATE('2024-03-01', INTERVAL 1 DAY)", "2024-02-29"),
    ("SELECT SUBDATE(dt, 1) FROM t WHERE id = 1", "2024-01-30 10:20:30"),
    ("SELECT TIMESTAMP('2024-01-01')", "2024-01-01 00:00:00"),
    ("SELECT DATE('2024-02-30')", None),
    ("SELECT DATE_ADD(DATE_ADD('2024-01-31', INTERVAL 1 MONTH), INTERVAL 1 DAY)", "2024-03-01"),
    # DATE_FORMAT in a statement sqlglot translates (INTERVAL): MySQL's %f %i %e, not strftime's
    ("SELECT DATE_FORMAT(dt + INTERVAL 1 SECOND, '%i:%s %f %e') FROM t WHERE id = 1", "20:31 000000 31"),
    ("SELECT DATE('2024-02-29 10:11:12')", "2024-02-29"),
    # parts of dates with a zero month or day, of numbers, of TIME values (MySQL's answers)
    ("SELECT MONTH('2024-00-10')", 0),
    ("SELECT DAY('2024-10-00')", 0),
    ("SELECT YEAR('0000-00-00')", 0),
    ("SELECT EXTRACT(MONTH FROM '2024-00-10')", 0),
    ("SELECT DAY('2024-02-30')", None),
    ("SELECT MONTH('2024-13-01')", None),
    ("SELECT MONTH(20240315)", 3),
    ("SELECT YEAR(20240315103000)", 2024),
    ("SELECT HOUR('10:20:30')", 10),
    ("SELECT MINUTE('10:20:30')", 20),
    ("SELECT SECOND('10:20:30.5')", 30),
    ("SELECT HOUR('838:59:59')", 838),
    ("SELECT HOUR('-10:00:00')", 10),
    ("SELECT HOUR(tm) FROM t WHERE id = 1", 7),
    ("SELECT MINUTE(tm) FROM t WHERE id = 1", 8),
    ("SELECT HOUR('2024-03-05')", 0),
    ("SELECT HOUR(20240315103000)", 10),
    ("SELECT TIME('2024-01-02 03:04:05.123')", "03:04:05.123000"),
    ("SELECT TIME(CAST('2024-01-02 03:04:05.5' AS DATETIME(1)))", "03:04:05.500000"),
    ("SELECT TIME('10:20:30')", "10:20:30"),
    ("SELECT EXTRACT(DAY_MINUTE FROM '2024-01-02 03:04:05')", 20304),
    ("SELECT EXTRACT(DAY_MICROSECOND FROM '2024-01-02 03:04:05.678')", 2030405678000),
    ("SELECT TO_SECONDS('2024-01-02 03:04:05')", 63871383845),
    # a string cast to an integer reads its leading integer digits
    ("SELECT CAST('1e3' AS SIGNED)", 1),
    ("SELECT CAST('-7.9' AS SIGNED)", -7),
    ("SELECT CAST('1e3' AS UNSIGNED)", 1),
    ("SELECT CAST(1e3 AS SIGNED)", 1000),
    ("SELECT TIMESTAMP(d) FROM t WHERE id = 1", "2024-01-31 00:00:00"),
    ("SELECT TIMESTAMP('2024-01-01 23:00:00', '02:30:00')", "2024-01-02 01:30:00"),
    ("SELECT 1 XOR 1", 0),
    ("SELECT 1 XOR 0", 1),
    ("SELECT 1 XOR NULL", None),
    ("SELECT 5 ^ 3", 6),
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_mysql_results(node: Node, sql: str, expected: Any) -> None:
    assert rows(node.session, sql) == [(expected,)]


def test_interval_arithmetic_in_writes(node: Node) -> None:
    s = node.session
    run(s, "INSERT INTO t VALUES (2, '2024-01-31', '2024-01-31 23:00:00', NULL)")
    run(s, "UPDATE t SET dt = dt + INTERVAL 2 HOUR, d = d + INTERVAL 1 MONTH WHERE id = 2")
    assert rows(s, "SELECT d, dt FROM t WHERE id = 2") == [("2024-02-29", "2024-02-01 01:00:00")]
    assert rows(s, "SELECT id FROM t WHERE dt > '2024-01-01' + INTERVAL 1 MONTH") == [(2,)]


def test_interval_beside_an_exact_projection(node: Node) -> None:
    """A DECIMAL in the select list makes the plan rewrite the statement, which printed
    ``d + INTERVAL 1 DAY`` as ``d + INTERVAL (:p1) DAY``: SQLite read a call of MySQL's INTERVAL()
    function aliased DAY, and the date came back as 2024."""
    s = node.session
    assert rows(s, "SELECT d + INTERVAL 1 DAY, 1.5 * 2 FROM t WHERE id = 1") == [("2024-02-01", "3.0")]
    assert rows(s, "SELECT 0.5 + 1, d - INTERVAL 1 MONTH FROM t WHERE id = 1") == [("1.5", "2023-12-31")]


def test_month_arithmetic_clamps_and_keeps_time() -> None:
    assert temporal.date_add("2024-03-31 12:00:00.5", 1, "MONTH") == "2024-04-30 12:00:00.500000"
    assert temporal.date_add("2024-02-29", 1, "YEAR") == "2025-02-28"
    assert temporal.date_add("9999-12-31", 1, "DAY") is None


def test_now_follows_the_session_time_zone_and_is_one_value_per_statement() -> None:
    from datetime import datetime, timedelta

    node = Node()
    s = node.session
    run(s, "SET time_zone = '+00:00'")
    (utc,) = rows(s, "SELECT NOW()")[0]
    run(s, "SET time_zone = '+05:30'")
    (shifted, today, zone) = rows(s, "SELECT NOW(), CURDATE(), @@time_zone")[0]
    delta = datetime.fromisoformat(shifted) - datetime.fromisoformat(utc)
    assert timedelta(hours=5, minutes=29) <= delta <= timedelta(hours=5, minutes=31)
    assert today == shifted[:10] and zone == "+05:30"
    (same, frac3, frac6, frac0) = rows(s, "SELECT NOW() = CURRENT_TIMESTAMP, NOW(3), NOW(6), NOW(0)")[0]
    assert same == 1 and len(frac3) == 23 and len(frac6) == 26 and len(frac0) == 19
    result = run(s, "SELECT CURRENT_TIMESTAMP, CURTIME()")
    assert [c.name for c in result.columns] == ["CURRENT_TIMESTAMP", "CURTIME()"]


# MySQL's result type of date and time expressions (what drivers read the values as): DATE for DATE(x),
# MAX of a DATE column or a DATE plus days; DATETIME for FROM_UNIXTIME, NOW() or a DATE plus hours;
# TIME for CAST(x AS TIME); a string plus an INTERVAL stays a string (VARCHAR).
TYPES: list[tuple[str, int]] = [
    ("SELECT MAX(d) FROM t", 10),
    ("SELECT MIN(dt) FROM t", 12),
    ("SELECT DATE(dt) FROM t", 10),
    ("SELECT d + INTERVAL 1 DAY FROM t", 10),
    ("SELECT DATE_ADD(d, INTERVAL 1 HOUR) FROM t", 12),
    ("SELECT dt - INTERVAL 1 MONTH FROM t", 12),
    ("SELECT FROM_UNIXTIME(0)", 12),
    ("SELECT FROM_UNIXTIME(0, '%Y')", 253),  # with a format: a string (was typed DATETIME: drivers failed)
    ("SELECT MAKETIME(10, 20, 30)", 11),
    ("SELECT CONVERT_TZ('2024-01-01 12:00:00', '+00:00', '+05:30')", 12),
    ("SELECT NOW()", 12),
    ("SELECT CURDATE()", 10),
    ("SELECT CAST('10:00' AS TIME)", 11),
    ("SELECT CAST('2024-01-02' AS DATE) + INTERVAL 1 DAY", 10),
    ("SELECT IFNULL(NULL, d) FROM t", 10),
    ("SELECT '2024-01-01' + INTERVAL 1 DAY", 253),
    ("SELECT DATE_ADD('2024-01-01', INTERVAL 1 DAY)", 253),
    ("SELECT d FROM t", 10),
    ("SELECT STR_TO_DATE('03/15/2024', '%m/%d/%Y')", 10),
    ("SELECT STR_TO_DATE('2024-03-15 10:20', '%Y-%m-%d %H:%i')", 12),
    ("SELECT STR_TO_DATE('10:20', '%H:%i')", 11),
]


@pytest.mark.parametrize(("sql", "field_type"), TYPES)
def test_result_types_of_date_and_time_expressions(node: Node, sql: str, field_type: int) -> None:
    result = run(node.session, sql)
    assert [c.type for c in result.columns] == [field_type]
