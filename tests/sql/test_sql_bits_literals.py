"""Hexadecimal and bit literals (``0xFF``, ``X'FF'``, ``0b101``, ``b'101'``): binary strings that MySQL
reads as big-endian unsigned integers where a number is expected. They were bound as bytes
everywhere, which SQLite reads as the number 0: ``flags & 0x04`` was 0, ``UPDATE ... SET flags =
flags | 0x08`` changed nothing, ``INSERT ... VALUES (0x20)`` into an INT column was error 1366.
Expected values are MySQL's (checked against MariaDB 10.11)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sql_keyless_and_select import Node, app_node, rows, run


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE f (id INT PRIMARY KEY, flags INT, b VARBINARY(8), d DECIMAL(10,2), s VARCHAR(10))",
        "INSERT INTO f VALUES (1, 6, 0x0102, 0x10, 0x41), (2, 1, x'ff', 1, 'B')",
    )


def test_arithmetic_and_bitwise_operands_are_numbers(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT 0xFF + 0, 0x10 * 2, 5 & 0x04, -1 & 0xFF, 0x0A + 0x0B") == [(255, 32, 4, 255, 21)]
    assert rows(s, "SELECT b'101' + 0, b'101' | 0, 0b101 + 1, BIT_COUNT(0xFF), 0xFF DIV 2") == [
        (5, 5, 6, 8, 127)
    ]
    assert rows(s, "SELECT CAST(0xFF AS UNSIGNED), CAST(0x10 AS SIGNED), 0x7FFFFFFFFFFFFFFF + 0") == [
        (255, 16, 9223372036854775807)
    ]


def test_conditions_and_writes_read_them_as_numbers(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT id FROM f WHERE flags & 0x04") == [(1,)]
    assert rows(s, "SELECT id FROM f WHERE id = 0x01") == [(1,)]
    assert rows(s, "SELECT id FROM f WHERE id IN (0x01, 0x02) ORDER BY id") == [(1,), (2,)]
    run(s, "UPDATE f SET flags = flags | 0x08 WHERE id = 1")
    run(s, "INSERT INTO f (id, flags) VALUES (3, 0x20)")
    run(s, "INSERT INTO f (id, flags) VALUES (0x04, 0b11)")
    assert rows(s, "SELECT id, flags FROM f ORDER BY id") == [(1, 14), (2, 1), (3, 32), (4, 3)]
    assert rows(s, "SELECT d FROM f WHERE id = 1") == [("16.00",)]


def test_they_stay_binary_strings_elsewhere(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT id FROM f WHERE b = 0x0102") == [(1,)]
    assert rows(s, "SELECT HEX(b) FROM f ORDER BY id") == [("0102",), ("FF",)]
    assert rows(s, "SELECT CONCAT(0x41, 'b'), LENGTH(0x4142), HEX(0x41)") == [(b"Ab", 2, "41")]
    assert rows(s, "SELECT s FROM f WHERE id = 1") == [("A",)]


def test_a_plan_is_not_shared_between_a_hex_and_a_decimal_literal(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT flags & 4 FROM f WHERE id = 1") == [(4,)]
    assert rows(s, "SELECT flags & 0x04 FROM f WHERE id = 1") == [(4,)]
    assert rows(s, "SELECT flags & 0x02 FROM f WHERE id = 1") == [(2,)]
    assert rows(s, "SELECT flags & 2 FROM f WHERE id = 1") == [(2,)]


def test_a_binary_string_written_to_a_character_column_is_its_text(node: Node) -> None:
    """0x41 and PyMySQL's ``_binary'...'`` (how it sends Python bytes) into a VARCHAR are stored as
    text, as MySQL stores them: they were blobs, which ``s = 'A'`` never matched."""
    s = node.session
    run(s, "INSERT INTO f (id, s) VALUES (5, 0x5A), (6, _binary'café')")
    run(s, "UPDATE f SET s = x'4243' WHERE id = 2")
    assert rows(s, "SELECT id FROM f WHERE s IN ('Z', 'BC', 'café') ORDER BY id") == [(2,), (5,), (6,)]
    assert rows(s, "SELECT id FROM f WHERE s = 0x5A") == [(5,)]
    assert rows(s, "SELECT 0x41 = 'A', 'A' = 0x41, 0x41 = 65") == [(1, 1, 1)]


def test_bitwise_operators_work_on_64_unsigned_bits(node: Node) -> None:
    """MySQL's ``~ & | ^ << >>`` give a BIGINT UNSIGNED and ``>>`` shifts zeros in: ``~0`` was -1 and
    ``~0 >> 1`` -1 (SQLite's signed integers, its arithmetic shift)."""
    s = node.session
    assert rows(s, "SELECT ~0, ~0 >> 1, ~5, 1 << 63, 1 << 64") == [
        (18446744073709551615, 9223372036854775807, 18446744073709551610, 9223372036854775808, 0)
    ]
    assert rows(s, "SELECT -1 >> 60, -8 >> 1, 8 >> 0, 8 >> 64, 2.5 >> 0, '17' >> 1, NULL >> 1") == [
        (15, 9223372036854775804, 8, 0, 3, 8, None)
    ]
    run(s, "CREATE TABLE bw (id INT PRIMARY KEY, v BIGINT)")
    run(s, "INSERT INTO bw VALUES (1, -1), (2, 12)")
    assert rows(s, "SELECT id, v >> 1, ~v, v & 4 FROM bw ORDER BY id") == [
        (1, 9223372036854775807, 0, 4),
        (2, 6, 18446744073709551603, 4),
    ]
    assert rows(s, "SELECT id FROM bw WHERE v >> 62 = 3") == [(1,)]


def test_unsigned_values_past_bigint_are_numbers(node: Node) -> None:
    """An integer literal in [2^63, 2^64) and CAST(... AS UNSIGNED) are BIGINT UNSIGNED in MySQL:
    they came back as strings of digits typed VARCHAR."""
    s = node.session
    result = run(s, "SELECT 18446744073709551615, CAST(-1 AS UNSIGNED), CAST(5 AS UNSIGNED)")
    assert [list(r) for r in result.rows] == [[18446744073709551615, 18446744073709551615, 5]]
    assert all(c.flags & 32 for c in result.columns)  # UNSIGNED_FLAG


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.integers(0, 2**63 - 1), mask=st.integers(0, 2**16))
def test_any_hex_literal_is_its_number_in_arithmetic(node: Node, number: int, mask: int) -> None:
    """Invariant: ``0x<digits>`` in arithmetic, bitwise operations and comparisons is the integer its
    digits spell (any length, odd digit counts too), and the plan of one literal kind never serves
    the other (the same shape is run with a decimal literal in between)."""
    s = node.session
    digits = f"{number:x}"
    assert rows(s, f"SELECT 0x{digits} + 0, 0x{digits} & {mask}, 0x{digits} = {number}") == [
        (number, number & mask, 1)
    ]
    assert rows(s, f"SELECT {number} + 0, {number} & {mask}, {number} = {number}") == [
        (number, number & mask, 1)
    ]
