"""Values written to DATE, DATETIME, TIMESTAMP, TIME and JSON columns, as MySQL 8's strict mode
stores them (p2pdb.sql.value_fit): dates must exist, a date written to a DATETIME gets its time,
fractions are rounded to the column's precision, other spellings are stored canonically, JSON must
parse."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sql_keyless_and_select import Node, app_node, error, rows, run

from p2pdb.sql.value_fit import fit_value


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE v (id INT PRIMARY KEY, d DATE, dt DATETIME, d3 DATETIME(3), tm TIME(2), j JSON)",
    )


def test_dates_and_datetimes_are_stored_as_mysql_stores_them(node: Node) -> None:
    s = node.session
    run(
        s,
        "INSERT INTO v (id, d, dt, d3) VALUES (1, '2024-1-2 10:00:00', '2024-01-01', '2024-01-02 03:04:05.12351')",
    )
    assert rows(s, "SELECT d, dt, d3 FROM v WHERE id = 1") == [
        ("2024-01-02", "2024-01-01 00:00:00", "2024-01-02 03:04:05.124")
    ]
    run(s, "INSERT INTO v (id, dt) VALUES (2, '2024-1-2 3:4:5.5')")  # rounded to the second
    assert rows(s, "SELECT id FROM v WHERE dt = '2024-01-02 03:04:06'") == [(2,)]
    run(s, "INSERT INTO v (id, dt) VALUES (3, 20240102030405)")
    assert rows(s, "SELECT dt FROM v WHERE id = 3") == [("2024-01-02 03:04:05",)]
    run(s, "INSERT INTO v (id, dt) VALUES (4, '0000-00-00 00:00:00')")  # legacy zero dates are kept
    code, message = error(s, "INSERT INTO v (id, dt) VALUES (5, '2024-02-30 00:00:00')")
    assert (code, message) == (
        1292,
        "Incorrect datetime value: '2024-02-30 00:00:00' for column 'dt' at row 1",
    )
    assert error(s, "INSERT INTO v (id, d) VALUES (5, 'soon')")[0] == 1292
    assert error(s, "UPDATE v SET d = '2023-02-29' WHERE id = 1")[0] == 1292
    run(s, "INSERT IGNORE INTO v (id, dt) VALUES (6, '2024-13-01')")
    assert [r[1] for r in rows(s, "SHOW WARNINGS")] == [1292]
    assert rows(s, "SELECT dt FROM v WHERE id = 6") == [("0000-00-00 00:00:00",)]


def test_times_and_json(node: Node) -> None:
    s = node.session
    run(s, "INSERT INTO v (id, tm, j) VALUES (1, '12:34:56.789', '{\"k\": [1, 2]}')")
    assert rows(s, "SELECT tm FROM v") == [("12:34:56.79",)]
    run(s, "INSERT INTO v (id, tm) VALUES (2, '838:59:59')")
    assert error(s, "INSERT INTO v (id, tm) VALUES (3, '839:00:00')")[0] == 1292
    code, message = error(s, "INSERT INTO v (id, j) VALUES (4, 'not json')")
    assert code == 3140 and message.startswith("Invalid JSON text:")
    assert error(s, "UPDATE v SET j = '{' WHERE id = 1")[0] == 3140
    # nothing invalid got in, so JSON functions over the whole column keep working
    assert rows(s, "SELECT id FROM v WHERE JSON_CONTAINS(j, '1', '$.k')") == [(1,)]


_MOMENTS = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30))


@settings(max_examples=300)
@given(
    a=_MOMENTS,
    b=_MOMENTS,
    fsp=st.integers(0, 6),
    padded=st.booleans(),
    digits=st.integers(0, 7),
)
def test_stored_datetimes_sort_and_compare_as_the_moments_do(
    a: dt.datetime, b: dt.datetime, fsp: int, padded: bool, digits: int
) -> None:
    """Invariant: whatever spelling a client writes, the stored text of DATETIME(fsp) values orders
    and compares (as text, which is how SQLite compares them) exactly as the rounded moments do."""

    def spelled(moment: dt.datetime) -> str:
        date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        if not padded:
            date = f"{moment.year:04d}-{moment.month}-{moment.day}"
        text = f"{date} {moment.hour}:{moment.minute:02d}:{moment.second:02d}"
        fraction = f"{moment.microsecond:06d}"
        return text + ("." + (fraction + "0")[:digits] if digits else "")

    def rounded(moment: dt.datetime) -> dt.datetime:
        micros = int(f"{moment.microsecond:06d}"[:digits].ljust(6, "0")) if digits else 0
        if digits == 7:
            micros = moment.microsecond
        step = 10 ** (6 - fsp)
        return moment.replace(microsecond=0) + dt.timedelta(microseconds=(micros + step // 2) // step * step)

    stored_a = fit_value(spelled(a), "datetime", fsp, "c", 1)
    stored_b = fit_value(spelled(b), "datetime", fsp, "c", 1)
    assert (stored_a < stored_b) == (rounded(a) < rounded(b))
    assert (stored_a == stored_b) == (rounded(a) == rounded(b))
    assert dt.datetime.fromisoformat(stored_a) == rounded(a)


def test_floats_and_bits_stay_in_range(node: Node) -> None:
    """FLOAT/DOUBLE out of range is 1264 (an infinity was refused before with an internal message
    about dag-cbor), text that is no number 1366, text with a tail 1265; BIT(n) takes n bits (1406).
    INSERT IGNORE clamps with the warning. A BIT reads as its number in arithmetic."""
    s = node.session
    run(s, "CREATE TABLE f (id INT PRIMARY KEY, fl FLOAT, d DOUBLE, b BIT(4))")
    assert error(s, "INSERT INTO f (id, fl) VALUES (1, 1e40)") == (
        1264,
        "Out of range value for column 'fl' at row 1",
    )
    assert error(s, "INSERT INTO f (id, d) VALUES (1, 1e308 * 10)")[0] == 1264
    assert error(s, "INSERT INTO f (id, d) VALUES (1, 'abc')") == (
        1366,
        "Incorrect double value: 'abc' for column 'd' at row 1",
    )
    assert error(s, "INSERT INTO f (id, fl) VALUES (1, '3.5x')")[0] == 1265
    assert error(s, "INSERT INTO f (id, b) VALUES (1, 16)") == (1406, "Data too long for column 'b' at row 1")
    assert error(s, "INSERT INTO f (id, b) VALUES (1, b'11111')")[0] == 1406
    run(s, "INSERT INTO f (id, fl, d, b) VALUES (1, '-3.5e2', '2.5', b'1010')")
    run(s, "INSERT IGNORE INTO f (id, fl, b) VALUES (2, 1e40, 255)")
    assert rows(s, "SELECT id, fl, d, b + 0 FROM f ORDER BY id") == [
        (1, -350.0, 2.5, 10),
        (2, 3.40282e38, None, 15),
    ]
    assert rows(s, "SELECT id FROM f WHERE b = 10") == [(1,)]


def test_text_too_long_fails_at_the_statement_also_in_a_transaction() -> None:
    node = app_node("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(3), c CHAR(3))")
    s = node.session
    run(s, "BEGIN")
    run(s, "INSERT INTO t VALUES (1, 'ok', 'ok')")
    assert error(s, "INSERT INTO t VALUES (2, 'toolong', 'ok')") == (
        1406,
        "Data too long for column 'v' at row 1",
    )
    assert error(s, "UPDATE t SET c = 'abcd' WHERE id = 1") == (1406, "Data too long for column 'c' at row 1")
    run(s, "INSERT INTO t VALUES (3, 'ab   ', 'x    ')")  # trailing spaces are cut, as MySQL cuts them
    assert rows(s, "SHOW WARNINGS") == [("Note", 1265, "Data truncated for column 'v' at row 1")]
    run(s, "COMMIT")  # the transaction keeps what succeeded
    assert rows(s, "SELECT id, v, LENGTH(v), LENGTH(c) FROM t ORDER BY id") == [
        (1, "ok", 2, 2),
        (3, "ab ", 3, 1),
    ]


def test_insert_select_checks_text_lengths_as_it_runs() -> None:
    node = app_node(
        "CREATE TABLE s (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO s VALUES (1, 'short'), (2, 'much longer')",
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))",
    )
    s = node.session
    run(s, "BEGIN")
    run(s, "INSERT INTO t SELECT id, v FROM s WHERE id = 1")
    assert error(s, "INSERT INTO t SELECT id + 1, v FROM s")[0] == 1406  # not at COMMIT
    run(s, "COMMIT")
    assert rows(s, "SELECT id, v FROM t") == [(1, "short")]
    ignored = run(s, "INSERT IGNORE INTO t SELECT id + 10, v FROM s")
    assert (ignored.affected_rows, ignored.warnings) == (2, 1)
    assert rows(s, "SELECT id, v FROM t ORDER BY id") == [(1, "short"), (11, "short"), (12, "much ")]
