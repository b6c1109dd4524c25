"""No query freezes a node, and SQL cannot reach its internal tables (issue 10, items 9 and 10),
against real ``p2pdb start`` processes through PyMySQL, mysql-connector and the mariadb CLI.

Bounds here are robustness checks ("answers within a second while another query runs"), not
performance targets.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mysql.connector
import pymysql
import pytest

from tests.integration.cluster import cluster, wait_until

if TYPE_CHECKING:
    from tests.integration.conftest import NodeFactory, NodeProcess

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
MARIADB = shutil.which("mariadb")


def connect(port: int, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1",
        port=port,
        user="root",
        password="",
        database=database,
        autocommit=True,
        connect_timeout=10,
        read_timeout=60,
        **kwargs,
    )


def query(port: int, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
    with contextlib.closing(connect(port, database)) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` in a thread; the dict gets its ``result`` or ``error`` and ``seconds``."""
    out: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            out["result"] = fn()
        except Exception as exc:
            out["error"] = exc
        out["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def processlist(port: int) -> list[tuple[Any, ...]]:
    return query(port, "SHOW FULL PROCESSLIST")


def running(port: int, text: str) -> int:
    """The connection id of the session running ``text`` (waits for it to show)."""
    found: list[int] = []

    def shows() -> bool:
        found[:] = [row[0] for row in processlist(port) if row[7] and text in row[7]]
        return bool(found)

    wait_until(shows, 10, f"{text!r} in SHOW PROCESSLIST")
    return found[0]


def error_code(exc: BaseException | None) -> int | None:
    if exc is None:
        return None
    args = getattr(exc, "args", ())
    if isinstance(exc, mysql.connector.Error):
        return exc.errno
    return args[0] if args and isinstance(args[0], int) else None


def test_long_queries_leave_clients_replication_and_http_running(tmp_path: Path) -> None:
    with cluster(tmp_path, 2, extra=["--http-port", "auto"]) as (a, b):
        a.query("CREATE DATABASE app")
        a.query("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", "app")
        wait_until(lambda: b.query("SELECT count(*) FROM t", "app") == [(0,)], 20, "table on b")

        runaway_conn = connect(a.mysql_port, "app")
        sleeper = mysql.connector.connect(host="127.0.0.1", port=a.mysql_port, user="root", database="app")

        def runaway() -> Any:
            with runaway_conn.cursor() as cur:
                cur.execute("SET cte_max_recursion_depth = 4000000000")
                cur.execute(RUNAWAY)
                return cur.fetchall()

        def sleep() -> Any:
            cur = sleeper.cursor()
            cur.execute("SELECT SLEEP(30)")
            return cur.fetchall()

        runaway_thread, runaway_out = in_background(runaway)
        sleep_thread, sleep_out = in_background(sleep)
        runaway_id = running(a.mysql_port, "WITH RECURSIVE")
        sleep_id = running(a.mysql_port, "SLEEP(30)")

        # While both run: point selects and writes on a, the HTTP API, replication both ways.
        latencies = []
        with contextlib.closing(connect(a.mysql_port, "app")) as conn, conn.cursor() as cur:
            for i in range(50):
                started = time.monotonic()
                cur.execute("INSERT INTO t VALUES (%s, 'from a')", (i,))
                cur.execute("SELECT v FROM t WHERE id = %s", (i,))
                assert cur.fetchall() == (("from a",),)
                latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0, latencies
        with urllib.request.urlopen(f"http://{a.http_address}/metrics", timeout=5) as response:
            assert response.status == 200
        b.query("INSERT INTO t VALUES (1000, 'from b')", "app")
        wait_until(lambda: a.query("SELECT v FROM t WHERE id = 1000", "app") == [("from b",)], 10, "b -> a")
        wait_until(lambda: b.query("SELECT count(*) FROM t", "app") == [(51,)], 10, "a -> b")
        assert runaway_thread.is_alive() and sleep_thread.is_alive()

        a.query(f"KILL QUERY {runaway_id}")
        runaway_thread.join(10)
        assert error_code(runaway_out.get("error")) == 1317, runaway_out
        with runaway_conn.cursor() as cur:  # the connection of a killed query stays usable
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchall() == ((51,),)
        runaway_conn.close()

        a.query(f"KILL CONNECTION {sleep_id}")
        sleep_thread.join(10)
        assert "error" in sleep_out and sleep_out["seconds"] < 10, sleep_out
        wait_until(
            lambda: all(row[0] != sleep_id for row in processlist(a.mysql_port)), 10, "connection gone"
        )
        with contextlib.suppress(Exception):
            sleeper.close()


def test_time_limits_and_kill_errors_through_drivers(node: NodeProcess) -> None:
    port = node.port
    query(port, "CREATE DATABASE limits_db")
    with contextlib.closing(connect(port, "limits_db")) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION max_execution_time = 200")
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as caught:
            cur.execute("SELECT SLEEP(10)")
        assert caught.value.args == (
            3024,
            "Query execution was interrupted, maximum statement execution time exceeded",
        )
        assert time.monotonic() - started < 5
        cur.execute("SET SESSION max_execution_time = 0")
        with pytest.raises(pymysql.err.OperationalError) as caught:
            cur.execute(RUNAWAY)
        assert caught.value.args[0] == 3636
        with pytest.raises(pymysql.err.OperationalError) as caught:
            cur.execute("KILL 424242")
        assert caught.value.args == (1094, "Unknown thread id: 424242")
        cur.execute("SELECT ID, COMMAND, INFO FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()")
        (row,) = cur.fetchall()
        assert row[1] == "Query" and "PROCESSLIST" in row[2]
    conn2 = mysql.connector.connect(host="127.0.0.1", port=port, user="root", database="limits_db")
    try:
        cur2 = conn2.cursor(prepared=True)
        with pytest.raises(mysql.connector.Error) as failed:
            cur2.execute("SELECT /*+ MAX_EXECUTION_TIME(100) */ SLEEP(?)", (10,))
            cur2.fetchall()
        assert failed.value.errno == 3024
        cur2.execute("SELECT 1 + ?", (1,))
        assert cur2.fetchall() == [(2,)]
    finally:
        conn2.close()


def test_internal_tables_are_out_of_reach_from_clients(node: NodeProcess) -> None:
    port = node.port
    query(port, "CREATE DATABASE inner_db")
    query(port, "CREATE TABLE t (id INT PRIMARY KEY)", "inner_db")
    query(port, "INSERT INTO t VALUES (1)", "inner_db")
    before = node.status()
    for sql in (
        "SELECT * FROM _p2pdb_blocks",
        "DELETE FROM _p2pdb_heads",
        "DELETE FROM `_P2PDB_BLOCKS`",
        "UPDATE inner_db._p2pdb_blocks SET data = x'00'",
        "SELECT * FROM t WHERE id IN (SELECT 1 FROM _p2pdb_rows)",
        "SELECT name FROM sqlite_master",
    ):
        with pytest.raises(pymysql.err.ProgrammingError) as caught:
            query(port, sql, "inner_db")
        assert caught.value.args[0] == 1146, (sql, caught.value.args)
    names = [r[0] for r in query(port, "SHOW TABLES", "inner_db")]
    assert names == ["t"]
    listed = query(port, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'inner_db'")
    assert listed == [("t",)]
    query(port, "INSERT INTO t VALUES (2)", "inner_db")
    after = node.status()
    (db_before,) = [d for d in before["databases"] if d["name"] == "inner_db"]
    (db_after,) = [d for d in after["databases"] if d["name"] == "inner_db"]
    assert db_after["entries"] == db_before["entries"] + 1  # the log lost nothing, the write came in
    if MARIADB is not None:
        result = subprocess.run(
            [
                MARIADB,
                "-h",
                "127.0.0.1",
                "-P",
                str(port),
                "-u",
                "root",
                "inner_db",
                "-e",
                "DELETE FROM _p2pdb_blocks",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode != 0
        assert "ERROR 1146" in result.stderr and "doesn't exist" in result.stderr, result.stderr


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_value_and_row_sizes_are_bounded(start_node: NodeFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(json.dumps({"max_packet": 1 << 20}))
    node = start_node(data_dir=data)
    port = node.port
    rss = _rss_kib(node.proc.pid)
    with contextlib.closing(connect(port)) as conn, conn.cursor() as cur:
        cur.execute("SELECT REPEAT('a', 100000000)")
        assert cur.fetchall() == ((None,),)
        cur.execute("SHOW WARNINGS")
        assert cur.fetchall() == (
            ("Warning", 1301, "Result of repeat() was larger than max_allowed_packet (1048576) - truncated"),
        )
        with pytest.raises(pymysql.err.OperationalError) as caught:  # each value fits, the row does not
            cur.execute("SELECT REPEAT('a', 700000), REPEAT('b', 700000)")
        assert caught.value.args[0] == 1153
        cur.execute("SELECT LENGTH(REPEAT('a', 700000))")
        assert cur.fetchall() == ((700000,),)
    assert _rss_kib(node.proc.pid) - rss < 100 * 1024  # MiB, not the 500 MB a 100 MB string costs


def test_sigterm_stops_a_busy_node_within_seconds(start_node: NodeFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(json.dumps({"max_write_time": 120000}))
    node = start_node(data_dir=data)
    port = node.port
    query(port, "CREATE DATABASE busy")
    query(port, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "busy")
    query(port, "INSERT INTO t VALUES (1, 0)", "busy")

    def long_read() -> Any:
        return query(port, "SELECT SLEEP(60)", "busy")

    def long_write() -> Any:  # holds the writer, on the event loop
        with contextlib.closing(connect(port, "busy")) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION p2pdb_max_write_time = 120000")
            cur.execute("UPDATE t SET v = SLEEP(60)")

    read_thread, _ = in_background(long_read)
    running(port, "SELECT SLEEP(60)")
    write_thread, write_out = in_background(long_write)
    time.sleep(1.0)  # the write is now holding the event loop
    assert write_thread.is_alive() and read_thread.is_alive()
    started = time.monotonic()
    code = node.stop(timeout=20)
    assert code == 0, node.stderr
    assert time.monotonic() - started < 10
    write_thread.join(10)
    read_thread.join(10)
    assert "error" in write_out
