"""The DEFAULT keyword in writes (issue 11): ``VALUES (DEFAULT, ...)``, ``VALUES ()``, ``SET c =
DEFAULT``, ``DEFAULT(c)``; the values replicate like any other."""

from __future__ import annotations

from test_sql_keyless_and_select import Node, app_node, error, replica_of, rows, run


def test_default_keyword_in_inserts_and_updates() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE app")
    run(s, "USE app")
    run(
        s,
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, a INT DEFAULT 5, b VARCHAR(5) DEFAULT 'x', c INT)",
    )
    assert run(s, "INSERT INTO t VALUES (DEFAULT, DEFAULT, 'y', DEFAULT)").last_insert_id == 1
    assert run(s, "INSERT INTO t (a, b) VALUES (DEFAULT, 'z'), (6, DEFAULT)").affected_rows == 2
    run(s, "INSERT INTO t () VALUES ()")
    run(s, "INSERT INTO t VALUES ()")
    assert rows(s, "SELECT * FROM t ORDER BY id") == [
        (1, 5, "y", None),
        (2, 5, "z", None),
        (3, 6, "x", None),
        (4, 5, "x", None),
        (5, 5, "x", None),
    ]
    run(s, "UPDATE t SET a = 9, c = 1")
    assert run(s, "UPDATE t SET a = DEFAULT, c = DEFAULT WHERE id = 1").affected_rows == 1
    run(s, "UPDATE t SET c = DEFAULT(a) + 1 WHERE id = 2")
    assert rows(s, "SELECT id, a, c FROM t WHERE id <= 2 ORDER BY id") == [(1, 5, None), (2, 9, 6)]
    run(s, "REPLACE INTO t VALUES (3, DEFAULT, DEFAULT, 7)")
    assert rows(s, "SELECT * FROM t WHERE id = 3") == [(3, 5, "x", 7)]
    replica = replica_of(node)
    assert rows(replica.session, "SELECT * FROM t ORDER BY id") == rows(s, "SELECT * FROM t ORDER BY id")


def test_on_update_current_timestamp_is_the_writers_time() -> None:
    import time

    node = Node()
    s = node.session
    run(s, "CREATE DATABASE app")
    run(s, "USE app")
    run(
        s,
        "CREATE TABLE t (id INT PRIMARY KEY, v INT,"
        " u DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)",
    )
    run(s, "INSERT INTO t (id, v) VALUES (1, 1), (2, 1)")
    (before,) = rows(s, "SELECT u FROM t WHERE id = 1")[0]
    time.sleep(1.05)
    run(s, "UPDATE t SET v = 2 WHERE id = 1")
    run(s, "UPDATE t SET v = 1 WHERE id = 2")  # changes nothing: the timestamp stays
    stamps = dict(rows(s, "SELECT id, u FROM t"))
    assert stamps[1] > before and stamps[2] == before
    create = rows(s, "SHOW CREATE TABLE t")[0][1]
    assert "DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP" in create
    assert "on update CURRENT_TIMESTAMP" in {r[0]: r for r in rows(s, "DESCRIBE t")}["u"][5]
    replica = replica_of(node)
    assert rows(replica.session, "SELECT * FROM t ORDER BY id") == rows(s, "SELECT * FROM t ORDER BY id")


def test_clock_defaults_are_the_statements_time_in_the_session_time_zone() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE clock")
    run(s, "USE clock")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, v INT, c DATETIME DEFAULT CURRENT_TIMESTAMP)")
    run(s, "SET time_zone = '+05:00'")
    run(s, "INSERT INTO t (id, v) VALUES (1, 1), (2, 2)")
    run(s, "INSERT INTO t (id, v, c) VALUES (3, 3, DEFAULT)")
    (now,) = rows(s, "SELECT NOW()")[0]
    run(s, "SET time_zone = '+00:00'")
    run(s, "INSERT INTO t (id, v) VALUES (4, 4)")
    (utc,) = rows(s, "SELECT NOW()")[0]
    stamps = [r[0] for r in rows(s, "SELECT c FROM t ORDER BY id")]
    assert stamps[0] == stamps[1]  # one value per statement
    assert stamps[0][:13] == stamps[2][:13] == now[:13]  # the +05:00 clock, not UTC
    assert stamps[3][:13] == utc[:13] and stamps[3][:13] != stamps[0][:13]


def test_a_not_null_column_left_out_has_no_default() -> None:
    """Leaving out a NOT NULL column without a default is MySQL's 1364; giving it NULL is 1048."""
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE nn")
    run(s, "USE nn")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL, m INT NOT NULL DEFAULT 3)")
    assert error(s, "INSERT INTO t (id) VALUES (1)") == (1364, "Field 'n' doesn't have a default value")
    assert error(s, "REPLACE INTO t (id, m) VALUES (1, 2)")[0] == 1364
    assert error(s, "INSERT INTO t SET id = 1")[0] == 1364
    assert error(s, "INSERT INTO t (id, n) VALUES (1, NULL)")[0] == 1048
    assert error(s, "INSERT INTO t VALUES (1, NULL, 1)")[0] == 1048
    run(s, "INSERT INTO t (id, n) VALUES (1, 1)")
    assert rows(s, "SELECT * FROM t") == [(1, 1, 3)]


def test_clock_defaults_keep_the_columns_fractional_digits() -> None:
    node = app_node(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT, d DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),"
        " e TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),"
        " f DATETIME DEFAULT CURRENT_TIMESTAMP)"
    )
    s = node.session
    run(s, "INSERT INTO t (id, v) VALUES (1, 1)")
    run(s, "INSERT INTO t VALUES (2, 2, DEFAULT, DEFAULT, DEFAULT)")
    # MySQL: CURRENT_TIMESTAMP(n) has the column's n digits (they were cut to whole seconds)
    lengths = "SELECT LENGTH(d), LENGTH(e), LENGTH(f), LEFT(d, 23) = e FROM t ORDER BY id"
    assert rows(s, lengths) == [(26, 23, 19, 1), (26, 23, 19, 1)]
    before = rows(s, "SELECT e FROM t WHERE id = 1")
    run(s, "DO SLEEP(0.01)")
    assert run(s, "UPDATE t SET v = 5 WHERE id = 1").affected_rows == 1
    (after,) = rows(s, "SELECT e FROM t WHERE id = 1")
    assert len(after[0]) == 23 and after != before[0]
