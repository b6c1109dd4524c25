"""What a client statement may touch, how long it may run and how much it may produce (issue 10,
items 9 and 10), through the SQL layer in process: internal tables, cte_max_recursion_depth,
max_execution_time, p2pdb_max_write_time, KILL, PROCESSLIST, value and result size limits.

Sessions are driven as the MySQL server drives them; databases are on files (WAL, reader threads)
unless a test says otherwise. Timed bounds here are robustness checks, not benchmarks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from p2pdb.log import Identity
from p2pdb.sql.backend import Accounts, Limits, SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.protocol.results import OkResult, ResultSet
from p2pdb.sql.session import SQLSession
from p2pdb.store import Database
from p2pdb.store.registry import Registry

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


class Node:
    """A backend over its own registry (files in ``path``, or memory), with sessions."""

    def __init__(self, path: Path | None, limits: Limits | None = None) -> None:
        self.backend = SQLBackend(Registry(Identity.generate(), path), Accounts(None), limits=limits)
        self._ids = iter(range(1, 1000))
        self.session = self.open()

    def open(self, user: str = "root") -> SQLSession:
        info = ConnectInfo(next(self._ids), user, None, "127.0.0.1", False, False, 45)
        return asyncio.run(self.backend.open_session(info))

    def db(self, name: str = "app") -> Database:
        db = self.backend.registry.get(name)
        assert db is not None
        return db


def run(session: SQLSession, sql: str) -> Any:
    (result,) = asyncio.run(session.execute(sql, multi=False))
    return result


def rows(session: SQLSession, sql: str) -> list[tuple[Any, ...]]:
    result = run(session, sql)
    assert isinstance(result, ResultSet), result
    return [tuple(r) for r in result.rows]


def error(session: SQLSession, sql: str) -> tuple[int, str]:
    with pytest.raises(MySQLError) as caught:
        run(session, sql)
    return caught.value.code, caught.value.message


def setup_app(node: Node) -> SQLSession:
    s = node.session
    run(s, "CREATE DATABASE app")
    run(s, "USE app")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    run(s, "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    return s


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path)
    setup_app(node)
    yield node
    node.backend.shutdown()
    node.backend.registry.close()


@pytest.fixture
def memory_node() -> Iterator[Node]:
    node = Node(None)
    setup_app(node)
    yield node
    node.backend.shutdown()


# -- internal tables ------------------------------------------------------------------------------

HIDDEN_READS = [
    "SELECT * FROM _p2pdb_blocks",
    "SELECT count(*) FROM `_p2pdb_heads`",
    "SELECT * FROM _P2PDB_BLOCKS",
    "SELECT * FROM app._p2pdb_heads",
    "SELECT * FROM `app`.`_p2pdb_heads`",
    "SELECT * FROM main._p2pdb_rows",
    "SELECT * FROM t WHERE id IN (SELECT 1 FROM _p2pdb_blocks)",
    "SELECT * FROM t JOIN _p2pdb_heads ON 1 = 1",
    "SELECT (SELECT count(*) FROM _p2pdb_changes)",
    "WITH x AS (SELECT * FROM _p2pdb_schema) SELECT * FROM x",
    "SELECT * FROM t UNION ALL SELECT position, cid FROM _p2pdb_heads",
    "SELECT name FROM sqlite_master",
    "SELECT name FROM sqlite_schema",
    "SELECT * FROM pragma_table_info('_p2pdb_blocks')",
    "SELECT * FROM pragma_table_info('t')",
    "SELECT * FROM dbstat",
]
HIDDEN_WRITES = [
    "DELETE FROM _p2pdb_heads",
    "DELETE FROM _p2pdb_blocks WHERE 1 = 1",
    "UPDATE _p2pdb_heads SET position = 7",
    "INSERT INTO _p2pdb_heads VALUES ('x', 1, x'00')",
    "REPLACE INTO _p2pdb_blocks VALUES (x'00', x'00')",
    "INSERT INTO t SELECT position, cid FROM _p2pdb_heads",
    "UPDATE t SET v = (SELECT count(*) FROM _p2pdb_blocks)",
    "DELETE FROM t WHERE id IN (SELECT position FROM _p2pdb_heads)",
    "ALTER TABLE _p2pdb_heads ADD COLUMN z INT",
    "CREATE INDEX ix ON _p2pdb_blocks (data)",
    "TRUNCATE TABLE _p2pdb_blocks",
    "DELETE FROM sqlite_sequence",
]


@pytest.mark.parametrize("sql", HIDDEN_READS + HIDDEN_WRITES)
def test_internal_tables_do_not_exist_for_clients(node: Node, sql: str) -> None:
    s = node.session
    db = node.db()
    heads, entries = list(db.log.heads), len(db.log)
    code, message = error(s, sql)
    assert code == 1146, (code, message)
    assert "doesn't exist" in message and "sqlite" not in message.split("'")[0].lower()
    assert list(db.log.heads) == heads and len(db.log) == entries
    # the connection stays usable and the store keeps working
    run(s, "INSERT INTO t VALUES (10, 'after')")
    assert rows(s, "SELECT v FROM t WHERE id = 10") == [("after",)]
    assert len(db.log) == entries + 1


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("CREATE TABLE _p2pdb_x (a INT)", 1103),
        ("CREATE TABLE `_P2PDB_Y` (a INT PRIMARY KEY)", 1103),
        ("DROP TABLE _p2pdb_blocks", 1051),
        ("DROP TABLE IF EXISTS _p2pdb_heads, t", None),
        ("PRAGMA writable_schema = 1", 1064),
        ("ATTACH DATABASE '/tmp/x.db' AS x", 1064),
        ("DETACH DATABASE information_schema", 1064),
        ("SELECT load_extension('/tmp/evil')", 1305),
        ("CREATE VIEW vv AS SELECT * FROM _p2pdb_heads", 1146),
    ],
)
def test_statements_around_internal_tables_are_refused(node: Node, sql: str, code: int | None) -> None:
    s = node.session
    db = node.db()
    heads, blocks = list(db.log.heads), len(db.log)
    if code is None:  # IF EXISTS: the internal table is "unknown" (a warning), the user table goes
        result = run(s, sql)
        assert isinstance(result, OkResult) and result.warnings == 1
        assert [t.name for t in db.tables()] == [] and len(db.log) == blocks + 1
    else:
        assert error(s, sql)[0] == code
        assert list(db.log.heads) == heads and len(db.log) == blocks
        assert [t.name for t in db.tables()] == ["t"]
    assert all(not name.startswith("_") for name in db.catalog.tables)
    assert db.log.store.get(db.log.heads[0]) is not None


def test_catalog_never_shows_internal_tables(node: Node) -> None:
    s = node.session
    assert rows(s, "SHOW TABLES") == [("t",)]
    assert [r[0] for r in rows(s, "SHOW TABLE STATUS")] == ["t"]
    assert [r[0] for r in rows(s, "SHOW FULL TABLES")] == ["t"]
    for table in ("TABLES", "COLUMNS", "STATISTICS"):
        names = rows(
            s, f"SELECT DISTINCT TABLE_NAME FROM information_schema.{table} WHERE TABLE_SCHEMA = 'app'"
        )
        assert names == [("t",)], table
    assert error(s, "SHOW CREATE TABLE _p2pdb_blocks")[0] == 1146
    assert error(s, "DESCRIBE _p2pdb_heads")[0] == 1146
    assert error(s, "SHOW COLUMNS FROM _p2pdb_heads")[0] == 1146


def test_store_work_is_not_blocked_by_the_guard(node: Node) -> None:
    """Group commit, AUTO_INCREMENT ids drawn while INSERT ... SELECT runs (the allocator reads and
    writes internal tables inside the client's statement), DDL, transactions and a replica."""
    s = node.session
    run(s, "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
    run(s, "INSERT INTO a (v) SELECT v FROM t")
    assert rows(s, "SELECT id, v FROM a ORDER BY id") == [(1, "a"), (2, "b")]
    run(s, "CREATE INDEX iv ON a (v)")
    run(s, "ALTER TABLE a ADD COLUMN w INT")
    run(s, "BEGIN")
    run(s, "UPDATE a SET w = 5")
    run(s, "SAVEPOINT sp")
    run(s, "INSERT INTO a (v) VALUES ('c')")
    run(s, "ROLLBACK TO sp")
    run(s, "COMMIT")
    assert rows(s, "SELECT count(*), sum(w) FROM a") == [(2, "10")]  # SUM of an INT is DECIMAL
    replica = Node(None)
    replica.backend.registry.create("app")
    replica.db().join(e.block for e in node.db().log.traverse())
    assert replica.db().state_hash() == node.db().state_hash()


def test_a_user_table_may_not_take_an_internal_name_by_any_route(node: Node) -> None:
    s = node.session
    assert error(s, "CREATE TABLE _p2pdb_z AS SELECT 1 AS a")[0] == 1103
    assert error(s, "CREATE TABLE _p2pdb_z LIKE t")[0] == 1103
    assert error(s, "CREATE TABLE u AS SELECT * FROM _p2pdb_heads")[0] == 1146
    assert rows(s, "SHOW TABLES") == [("t",)]


# -- cte_max_recursion_depth ----------------------------------------------------------------------


def test_recursive_cte_depth_is_limited_like_mysql(node: Node) -> None:
    s = node.session
    base = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) SELECT count(*) FROM c"
    )
    assert rows(s, base.format(1001)) == [(1001,)]  # 1000 iterations: allowed
    code, message = error(s, base.format(1002))
    assert code == 3636
    assert message == (
        "Recursive query aborted after 1001 iterations. Try increasing @@cte_max_recursion_depth to a"
        " larger value."
    )
    assert error(s, RUNAWAY)[0] == 3636
    run(s, "SET SESSION cte_max_recursion_depth = 5000")
    assert rows(s, base.format(5001)) == [(5001,)]
    assert error(s, base.format(6000))[1].startswith("Recursive query aborted after 5001 iterations")
    assert rows(s, "SELECT @@cte_max_recursion_depth") == [(5000,)]
    # names, columns and LIMIT behave as before; a UNION (distinct) recursion is not rewritten
    assert rows(
        s, "WITH RECURSIVE c AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM c) SELECT * FROM c LIMIT 3"
    ) == [
        (1,),
        (2,),
        (3,),
    ]
    assert rows(s, "WITH RECURSIVE c(n) AS (SELECT 1 UNION SELECT n % 3 + 1 FROM c) SELECT * FROM c") == [
        (1,),
        (2,),
        (3,),
    ]
    run(s, "SET cte_max_recursion_depth = 10")
    assert (
        error(s, "INSERT INTO t SELECT x + 100, 'r' FROM (" + RUNAWAY.replace("count(*)", "x") + ") AS q")[0]
        == 3636
    )
    assert rows(s, "SELECT count(*) FROM t") == [(2,)]  # the write was rolled back whole


# -- time limits, KILL, PROCESSLIST -------------------------------------------------------------


def test_max_execution_time_stops_selects_with_3024(node: Node) -> None:
    s = node.session
    run(s, "SET SESSION max_execution_time = 100")
    run(s, "SET cte_max_recursion_depth = 4000000000")
    started = time.monotonic()
    code, message = error(s, RUNAWAY)
    assert (code, message) == (
        3024,
        "Query execution was interrupted, maximum statement execution time exceeded",
    )
    assert time.monotonic() - started < 5
    assert error(s, "SELECT SLEEP(5)")[0] == 3024
    run(s, "SET SESSION max_execution_time = 0")
    assert rows(s, "SELECT SLEEP(0.05)") == [(0,)]
    assert error(s, "SELECT /*+ MAX_EXECUTION_TIME(50) */ SLEEP(5)")[0] == 3024
    assert rows(s, "SELECT v FROM t WHERE id = 1") == [("a",)]  # the session goes on


def test_long_reads_leave_the_event_loop_free(node: Node) -> None:
    """While one session runs a long read (on a reader thread), the loop serves other sessions."""
    slow, fast = node.session, node.open()
    run(fast, "USE app")
    run(slow, "SET cte_max_recursion_depth = 4000000000")

    async def scenario() -> tuple[list[float], Any]:
        task = asyncio.ensure_future(slow.execute(RUNAWAY, multi=False))
        await asyncio.sleep(0.2)
        latencies = []
        for i in range(20):
            started = time.monotonic()
            await fast.execute(f"SELECT v FROM t WHERE id = {i % 2 + 1}", multi=False)
            await fast.execute(f"INSERT INTO t VALUES ({100 + i}, 'w')", multi=False)
            latencies.append(time.monotonic() - started)
        listed = {row[0]: row for row in node.backend.processlist()}
        assert listed[slow.info.connection_id][7] == RUNAWAY
        assert listed[slow.info.connection_id][4] == "Query"
        await fast.execute(f"KILL QUERY {slow.info.connection_id}", multi=False)
        try:
            await asyncio.wait_for(task, 10)
        except MySQLError as exc:
            return latencies, exc
        return latencies, None

    latencies, stopped = asyncio.run(scenario())
    assert isinstance(stopped, MySQLError) and stopped.code == 1317
    assert stopped.message == "Query execution was interrupted"
    assert max(latencies) < 1.0, latencies  # robustness bound: it would be "never" if the loop were held
    assert rows(slow, "SELECT count(*) FROM t") == [(22,)]


def test_kill_errors_and_processlist(node: Node) -> None:
    s = node.session
    other = node.open(user="bob")
    assert error(s, "KILL 99999") == (1094, "Unknown thread id: 99999")
    assert error(s, f"KILL QUERY {s.info.connection_id}")[0] == 1317
    assert error(other, f"KILL QUERY {s.info.connection_id}")[0] == 1095  # not bob's
    run(s, f"KILL QUERY {other.info.connection_id}")  # idle: nothing to stop
    shown = rows(s, "SHOW PROCESSLIST")
    assert [r[0] for r in shown] == [s.info.connection_id, other.info.connection_id]
    mine = shown[0]
    assert mine[1:5] == ("root", "127.0.0.1", "app", "Query") and mine[7] == "SHOW PROCESSLIST"
    assert shown[1][4] == "Sleep" and shown[1][7] is None
    full = rows(s, "SHOW FULL PROCESSLIST")
    assert len(full) == 2
    listed = rows(s, "SELECT ID, USER, COMMAND, INFO FROM information_schema.PROCESSLIST ORDER BY ID")
    assert listed[0][:3] == (s.info.connection_id, "root", "Query") and "PROCESSLIST" in listed[0][3]
    assert listed[1][:3] == (other.info.connection_id, "bob", "Sleep")
    closed: list[int] = []
    target = node.backend.sessions[other.info.connection_id]
    object.__setattr__(target.info, "closer", lambda: closed.append(1))
    run(s, f"KILL CONNECTION {other.info.connection_id}")
    assert closed == [1]


def test_writes_on_the_event_loop_are_bounded_and_fail_alone(tmp_path: Path) -> None:
    node = Node(tmp_path, Limits(max_write_time=300))
    s = setup_app(node)
    db = node.db()
    entries = len(db.log)
    started = time.monotonic()
    code, message = error(s, "UPDATE t SET v = SLEEP(5)")
    assert code == 3024 and "p2pdb_max_write_time: 300 ms" in message
    assert time.monotonic() - started < 3
    assert rows(s, "SELECT v FROM t ORDER BY id") == [("a",), ("b",)] and len(db.log) == entries
    # interrupted inside a group commit: the other statements of the batch still commit
    other = node.open()
    run(other, "USE app")
    run(s, "SET cte_max_recursion_depth = 4000000000")

    async def batch() -> list[Any]:
        return await asyncio.gather(
            other.execute("INSERT INTO t VALUES (3, 'c')", multi=False),
            s.execute(
                "INSERT INTO t SELECT x + 100, 'r' FROM (" + RUNAWAY.replace("count(*)", "x") + ") q",
                multi=False,
            ),
            other.execute("INSERT INTO t VALUES (4, 'd')", multi=False),
            return_exceptions=True,
        )

    first, runaway, last = asyncio.run(batch())
    assert isinstance(runaway, MySQLError) and runaway.code == 3024
    assert not isinstance(first, BaseException) and not isinstance(last, BaseException)
    assert rows(s, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,), (4,)]
    # in a transaction: the statement fails, the transaction and session go on
    run(s, "BEGIN")
    run(s, "INSERT INTO t VALUES (5, 'e')")
    assert error(s, "UPDATE t SET v = SLEEP(5) WHERE id = 5")[0] == 3024
    run(s, "COMMIT")
    assert rows(s, "SELECT v FROM t WHERE id = 5") == [("e",)]
    assert error(s, "SET SESSION p2pdb_max_write_time = 10000")[0] == 1231  # above the node's limit
    run(s, "SET SESSION p2pdb_max_write_time = 100")
    node.backend.shutdown()
    node.backend.registry.close()


def test_in_memory_databases_are_interruptible_too(memory_node: Node) -> None:
    s = memory_node.session
    run(s, "SET cte_max_recursion_depth = 4000000000")
    run(s, "SET max_execution_time = 200")
    started = time.monotonic()
    assert error(s, RUNAWAY)[0] == 3024
    assert time.monotonic() - started < 5
    run(s, "SET max_execution_time = 0")
    run(s, "SET p2pdb_max_write_time = 200")  # on the event loop: bounded even without a deadline
    assert error(s, RUNAWAY)[0] == 3024


def test_shutdown_stops_running_statements(node: Node) -> None:
    s = node.session
    result: list[Any] = []

    def client() -> None:
        try:
            result.append(run(s, "SELECT SLEEP(30)"))
        except MySQLError as exc:
            result.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while s.running is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    started = time.monotonic()
    node.backend.shutdown()
    thread.join(10)
    assert time.monotonic() - started < 5
    assert isinstance(result[0], MySQLError) and result[0].code == 1053


# -- sizes ----------------------------------------------------------------------------------------


def test_large_values_are_null_with_warning_1301(node: Node) -> None:
    s = node.session
    result = run(s, "SELECT REPEAT('a', 100000000), LENGTH(REPEAT('a', 1000))")
    assert isinstance(result, ResultSet) and [tuple(r) for r in result.rows] == [(None, 1000)]
    assert result.warnings == 1
    assert rows(s, "SHOW WARNINGS") == [
        ("Warning", 1301, "Result of repeat() was larger than max_allowed_packet (67108864) - truncated")
    ]
    assert rows(s, "SELECT LPAD('x', 70000000, 'ab'), RPAD('x', 3, 'ab'), SPACE(70000000) IS NULL") == [
        (None, "xab", 1)
    ]
    assert error(s, "SELECT length(printf('%.*c', 100000000, 'x'))")[0] == 1301
    assert error(s, "SELECT length(zeroblob(100000000))")[0] == 1301
    assert rows(s, "SELECT length(zeroblob(1000))") == [(1000,)]


def test_result_size_is_capped(tmp_path: Path) -> None:
    node = Node(tmp_path, Limits(max_result_size=1_000_000))
    s = setup_app(node)
    query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 900) SELECT x, REPEAT('z', 2000) FROM c"
    code, message = error(s, query)
    assert code == 3170 and "p2pdb_max_result_size" in message
    run(s, "SET p2pdb_max_result_size = 500000")
    assert error(s, query.replace("900", "300"))[0] == 3170
    assert len(rows(s, query.replace("900", "100"))) == 100
    node.backend.shutdown()
    node.backend.registry.close()


def test_variables_are_checked(node: Node) -> None:
    s = node.session
    assert error(s, "SET max_execution_time = 'soon'")[0] == 1232
    assert error(s, "SET cte_max_recursion_depth = 1.5")[0] == 1232
    run(s, "SET max_execution_time = -5")  # clamped, as MySQL does
    assert rows(s, "SELECT @@max_execution_time") == [(0,)]
    assert error(s, "SET p2pdb_max_write_time = 0")[0] == 1231  # "no limit" is the node's choice
    assert error(s, "SET max_allowed_packet = 1024")[0] == 1231
    run(s, "SET GLOBAL max_execution_time = 1234")
    later = node.open()
    assert rows(later, "SELECT @@max_execution_time") == [(1234,)]


# -- the guard itself, on a bare connection ---------------------------------------------------------


def test_guard_checks_only_client_statements(tmp_path: Path) -> None:
    """SQL that reaches SQLite inside a client window is checked, whatever it is (triggers,
    transaction control smuggled into a statement, PRAGMA); the store's work outside is not."""
    import apsw

    from p2pdb.sql.guard import Running, guard_of

    conn = apsw.Connection(str(tmp_path / "g.sqlite"))
    guard = guard_of(conn)
    conn.execute("CREATE TABLE _p2pdb_heads (cid TEXT)")  # the store's own work: allowed
    conn.execute("CREATE TABLE t (a INT)")
    for sql, code in [
        ("CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM _p2pdb_heads; END", 1235),
        ("CREATE TEMP TABLE x (a INT)", 1235),
        ("BEGIN", 1064),
        ("SELECT 1; COMMIT", 1064),
        ("PRAGMA journal_mode = DELETE", 1064),
        ("PRAGMA table_info(_p2pdb_heads)", 1146),
        ("ATTACH DATABASE ':memory:' AS x", 1064),
        ("SELECT cid FROM _p2pdb_heads", 1146),
    ]:
        with pytest.raises(MySQLError) as caught, guard.client(Running(sql, database="app")):
            list(conn.execute(sql))
        assert caught.value.code == code, (sql, caught.value)
    assert conn.getautocommit()
    with guard.client(Running("ok")):
        assert list(conn.execute("SELECT count(*) FROM t")) == [(0,)]
    assert list(conn.execute("SELECT count(*) FROM _p2pdb_heads")) == [(0,)]  # outside: the store's
    conn.close()
