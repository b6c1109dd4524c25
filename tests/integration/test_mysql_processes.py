"""Several processes serving the MySQL port (``--mysql-processes``, :mod:`p2pdb.sql.serving`).

Which process holds a connection is read from the kernel (``/proc``): the process whose file
descriptors include the server side of the client's TCP connection. The kernel deals connections
among the processes, so the tests open connections until they get one of the kind they need.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import mysql.connector
import pymysql
import pytest

from tests.integration.cluster import wait_until

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


def _server_inode(server_port: int, client_port: int) -> int | None:
    """The socket inode of the server side of 127.0.0.1:client_port -> 127.0.0.1:server_port."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], int(fields[9])
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return inode
    return None


def holder(pids: list[int], server_port: int, client: socket.socket) -> int | None:
    """Which of ``pids`` holds the server side of the TCP connection ``client``."""
    inode = _server_inode(server_port, client.getsockname()[1])
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == target:
                        return pid
    return None


class Processes:
    """A node started with ``--mysql-processes 2``: its main process and its reader's pid."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.port = node.port
        self.main = node.proc.pid
        self.reader = self.wait_reader()

    def wait_reader(self, other_than: int | None = None) -> int:
        found: list[int] = []

        def started() -> bool:
            pids = _children(self.main)
            found[:] = [p for p in pids if p != other_than]
            return bool(found) and _listens(found[0], self.port)

        wait_until(started, 30, "a reader process listening")
        return found[0]

    def holder_of(self, conn: Any) -> int | None:
        return holder([self.main, self.reader], self.port, _socket_of(conn))

    def connect(self, where: str, make: Callable[[], Any] | None = None) -> Any:
        """A connection that the ``where`` process ("reader" or "main") holds."""
        want = self.reader if where == "reader" else self.main
        for _ in range(200):
            conn = make() if make is not None else self.pymysql()
            if self.holder_of(conn) == want:
                return conn
            conn.close()
        raise AssertionError(f"no connection landed on the {where} process in 200 tries")

    def pymysql(self, **kwargs: Any) -> pymysql.Connection[Any]:
        kwargs.setdefault("user", "root")
        if "ssl" not in kwargs:
            kwargs["ssl_disabled"] = True  # PyMySQL takes TLS when offered
        return pymysql.connect(host="127.0.0.1", port=self.port, autocommit=True, read_timeout=30, **kwargs)


def _socket_of(conn: Any) -> socket.socket:
    if isinstance(conn, pymysql.connections.Connection):
        return cast(socket.socket, conn._sock)
    return cast(socket.socket, conn._socket.sock)  # mysql.connector's pure-Python connection


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def _listens(pid: int, port: int) -> bool:
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:  # LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


def unverified_tls() -> ssl.SSLContext:
    """A client TLS context that accepts the node's own certificate (made at its first start)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def rows(conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


@pytest.fixture
def served(start_node: Callable[..., NodeProcess]) -> Iterator[Processes]:
    yield Processes(start_node("--mysql-processes", "2"))


def test_reads_on_a_reader_see_every_commit_at_once(served: Processes) -> None:
    writer = served.connect("main")
    rows(writer, "CREATE DATABASE shop")
    rows(writer, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
    reader = served.connect("reader", lambda: served.pymysql(database="shop"))
    for i in range(1, 31):
        rows(writer, "INSERT INTO shop.items VALUES (%s, %s)", (i, f"n{i}"))
        assert rows(reader, "SELECT count(*), max(id) FROM items") == [(i, i)]
        rows(writer, "UPDATE shop.items SET name = %s WHERE id = %s", (f"u{i}", i))
        assert rows(reader, "SELECT name FROM items WHERE id = %s", (i,)) == [(f"u{i}",)]
    assert served.holder_of(reader) == served.reader  # plain reads never moved it
    ids = {rows(c, "SELECT CONNECTION_ID()")[0][0] for c in (writer, reader)}
    assert len(ids) == 2


def test_schema_accounts_and_globals_reach_a_reader_before_the_next_statement(served: Processes) -> None:
    writer = served.connect("main")
    rows(writer, "CREATE DATABASE shop")
    reader = served.connect("reader", lambda: served.pymysql(database="shop"))
    rows(writer, "CREATE TABLE shop.t (id INT PRIMARY KEY)")
    rows(writer, "INSERT INTO shop.t VALUES (1)")
    assert rows(reader, "SELECT * FROM t") == [(1,)]
    rows(writer, "ALTER TABLE shop.t ADD COLUMN note VARCHAR(10) DEFAULT 'x'")
    assert rows(reader, "SELECT * FROM t") == [(1, "x")]
    rows(writer, "CREATE VIEW shop.v AS SELECT id * 10 AS big FROM shop.t")
    assert rows(reader, "SELECT big FROM v") == [(10,)]
    rows(writer, "DROP TABLE shop.t")
    with pytest.raises(pymysql.err.ProgrammingError) as gone:
        rows(reader, "SELECT * FROM t")
    assert gone.value.args[0] == 1146
    rows(writer, "CREATE DATABASE other")
    rows(writer, "CREATE TABLE other.o (id INT PRIMARY KEY)")
    rows(writer, "INSERT INTO other.o VALUES (7)")
    assert rows(reader, "SELECT * FROM other.o") == [(7,)]
    assert served.holder_of(reader) == served.reader

    rows(writer, "CREATE TABLE shop.s (id INT PRIMARY KEY)")
    rows(writer, "CREATE USER ada IDENTIFIED WITH mysql_native_password BY 'pw'")
    rows(writer, "GRANT SELECT ON shop.* TO ada")

    def as_ada() -> pymysql.Connection[Any]:
        return served.pymysql(user="ada", password="pw", database="shop")

    ada, ada_main = served.connect("reader", as_ada), served.connect("main", as_ada)
    assert rows(ada, "SELECT count(*) FROM s") == [(0,)]
    rows(writer, "REVOKE SELECT ON shop.* FROM ada")
    codes = []
    for conn in (ada, ada_main):  # the reader answers as the main process does
        with pytest.raises(pymysql.err.OperationalError) as denied:
            rows(conn, "SELECT count(*) FROM s")
        codes.append(denied.value.args[0])
    assert codes[0] == codes[1] in (1044, 1142)
    assert served.holder_of(ada) == served.reader

    rows(writer, "SET GLOBAL max_execution_time = 1234")
    fresh = served.connect("reader")
    assert rows(fresh, "SELECT @@max_execution_time") == [(1234,)]
    assert served.holder_of(fresh) == served.reader


def test_a_statement_the_reader_does_not_run_moves_the_connection_whole(served: Processes) -> None:
    setup = served.connect("main")
    rows(setup, "CREATE DATABASE shop")
    rows(setup, "CREATE TABLE shop.items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20))")
    conn = served.connect("reader")
    conn.select_db("shop")  # COM_INIT_DB runs on the reader
    first_id = rows(conn, "SELECT CONNECTION_ID()")[0][0]
    assert rows(conn, "SET NAMES utf8mb4 COLLATE utf8mb4_bin") == []  # session SETs run here too
    assert rows(conn, "SELECT 1/0") == [(None,)]  # leaves a warning
    assert rows(conn, "SHOW WARNINGS")[0][1] == 1365
    assert served.holder_of(conn) == served.reader
    assert rows(conn, "SHOW STATUS LIKE 'Uptime'")  # node state: the main process answers
    assert served.holder_of(conn) == served.main
    assert rows(conn, "SHOW WARNINGS")[0][1] == 1365  # the warning came along
    assert rows(conn, "SELECT @@collation_connection") == [("utf8mb4_bin",)]
    assert rows(conn, "SELECT CONNECTION_ID(), DATABASE()") == [(first_id, "shop")]
    rows(conn, "INSERT INTO items (name) VALUES ('tea')")
    assert rows(conn, "SELECT LAST_INSERT_ID()")[0][0] >= 1
    conn.begin()
    rows(conn, "INSERT INTO items (name) VALUES ('cake')")
    conn.commit()
    assert [r[0] for r in rows(conn, "SELECT name FROM items ORDER BY id")] == ["tea", "cake"]

    # Commands sent together: the reader hands over the write and the bytes behind it.
    moved = served.connect("reader", lambda: served.pymysql(database="shop", client_flag=1 << 16))
    with moved.cursor() as cur:
        cur.execute("SELECT 1; INSERT INTO items (name) VALUES ('jam'); SELECT count(*) FROM items")
        assert cur.fetchall() == ((1,),)
        assert cur.nextset() and cur.nextset()
        assert cur.fetchall() == ((3,),)
    assert served.holder_of(moved) == served.main


def test_prepared_statements_move_with_their_connection(served: Processes) -> None:
    setup = served.connect("main")
    rows(setup, "CREATE DATABASE shop")
    rows(setup, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
    rows(setup, "INSERT INTO shop.items VALUES (1, 'tea')")

    def connector() -> Any:
        return mysql.connector.connect(
            host="127.0.0.1", port=served.port, user="root", database="shop", autocommit=True,
            use_pure=True, ssl_disabled=True,
        )  # fmt: skip

    conn = served.connect("reader", connector)
    select = conn.cursor(prepared=True)
    insert = conn.cursor(prepared=True)
    select.execute("SELECT name FROM items WHERE id = ?", (1,))
    assert select.fetchall() == [("tea",)]
    insert.execute("INSERT INTO items VALUES (?, ?)", (2, "cake"))  # prepared here, then moves
    assert served.holder_of(conn) == served.main
    select.execute("SELECT name FROM items WHERE id = ?", (2,))  # same statement id, main process
    assert select.fetchall() == [("cake",)]
    insert.execute("INSERT INTO items VALUES (?, ?)", (3, "jam"))
    assert rows(setup, "SELECT count(*) FROM shop.items") == [(3,)]
    conn.close()


def test_a_tls_connection_is_served_where_it_lands_and_relayed_once_it_moves(served: Processes) -> None:
    setup = served.connect("main")
    rows(setup, "CREATE USER carol IDENTIFIED BY 's3cret'")  # caching_sha2_password: full login over TLS
    rows(setup, "GRANT ALL ON *.* TO carol")
    rows(setup, "CREATE DATABASE shop")
    rows(setup, "CREATE TABLE shop.t (id INT PRIMARY KEY, v TEXT)")
    context = unverified_tls()

    def tls() -> pymysql.Connection[Any]:
        return served.pymysql(ssl=context, user="carol", password="s3cret", database="shop")

    for where in ("main", "reader"):
        conn = served.connect(where, tls)
        assert isinstance(conn._sock, ssl.SSLSocket) and conn._sock.cipher()
        assert rows(conn, "SELECT USER(), count(*) FROM t")[0][0].startswith("carol@")
        assert served.holder_of(conn) == (served.main if where == "main" else served.reader)
        conn_id = rows(conn, "SELECT CONNECTION_ID()")[0][0]
        base = 0 if where == "main" else 1000
        rows(
            conn, "INSERT INTO t VALUES " + ", ".join(f"({base + i}, REPEAT('x', 500))" for i in range(1000))
        )
        big = rows(conn, "SELECT id, v FROM t WHERE id >= %s ORDER BY id", (base,))  # ~0.5 MB back
        assert len(big) == 1000 and big[-1] == (base + 999, "x" * 500)
        listed = [r[0] for r in rows(setup, "SHOW PROCESSLIST")]
        assert conn_id in listed  # the main process serves it now, wherever its socket is
        assert served.holder_of(conn) == (served.main if where == "main" else served.reader)
        conn.close()

        def ended(conn_id: int = conn_id) -> bool:
            return conn_id not in [r[0] for r in rows(setup, "SHOW PROCESSLIST")]

        wait_until(ended, 10, "the session to end")


def test_a_reader_that_dies_is_replaced_and_a_killed_node_takes_its_readers_along(
    served: Processes,
) -> None:
    writer = served.connect("main")
    rows(writer, "CREATE DATABASE shop")
    rows(writer, "CREATE TABLE shop.t (id INT PRIMARY KEY)")
    old = served.reader
    os.kill(old, signal.SIGKILL)
    served.reader = served.wait_reader(other_than=old)
    conn = served.connect("reader", lambda: served.pymysql(database="shop"))
    rows(writer, "INSERT INTO shop.t VALUES (1)")
    assert rows(conn, "SELECT * FROM t") == [(1,)]
    status = json.loads((served.node.data_dir / "node.json").read_text())
    assert status["pid"] == served.main

    os.kill(served.main, signal.SIGKILL)
    served.node.proc.wait(10)
    wait_until(lambda: not Path(f"/proc/{served.reader}").exists(), 15, "the reader to end with its node")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served.port), timeout=2).close()


def test_the_mariadb_cli_works_whichever_process_it_lands_on(served: Processes) -> None:
    writer = served.connect("main")
    rows(writer, "CREATE DATABASE shop")
    rows(writer, "CREATE TABLE shop.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
    for i in range(20):
        result = subprocess.run(
            ["mariadb", "-h", "127.0.0.1", "-P", str(served.port), "-u", "root", "-N", "shop", "-e",
             f"SELECT count(*) FROM t; INSERT INTO t (v) VALUES ({i}); SELECT count(*) FROM t"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [str(i), str(i + 1)]
    time.sleep(0)


def test_processlist_and_kill_reach_the_sessions_of_readers(served: Processes) -> None:
    admin = served.connect("main")
    rows(admin, "CREATE DATABASE shop")
    rows(admin, "CREATE TABLE shop.t (id INT PRIMARY KEY)")
    rows(admin, "INSERT INTO shop.t VALUES " + ", ".join(f"({i})" for i in range(400)))
    victim = served.connect("reader", lambda: served.pymysql(database="shop"))
    victim_id = rows(victim, "SELECT CONNECTION_ID()")[0][0]
    listed = {r[0]: r for r in rows(admin, "SHOW PROCESSLIST")}
    assert listed[victim_id][3] == "shop"
    in_schema = rows(admin, "SELECT ID FROM information_schema.PROCESSLIST ORDER BY ID")
    assert (victim_id,) in in_schema

    outcome: list[Any] = []

    def long_read() -> None:
        try:
            outcome.append(rows(victim, "SELECT count(*) FROM t a, t b, t c"))
        except pymysql.err.MySQLError as exc:
            outcome.append(exc.args[0])

    worker = threading.Thread(target=long_read)
    worker.start()
    wait_until(
        lambda: any(r[0] == victim_id and r[7] for r in rows(admin, "SHOW PROCESSLIST")),
        10,
        "the query to run",
    )
    rows(admin, f"KILL QUERY {victim_id}")
    worker.join(30)
    assert outcome == [1317]  # ER_QUERY_INTERRUPTED
    assert rows(victim, "SELECT count(*) FROM t") == [(400,)]
    assert served.holder_of(victim) == served.reader

    rows(admin, f"KILL {victim_id}")
    with pytest.raises(pymysql.err.OperationalError):
        rows(victim, "SELECT 1")
    unknown = victim_id + 2 * 1000  # a reader's residue, never given out
    with pytest.raises(pymysql.err.OperationalError) as missing:
        rows(admin, f"KILL {unknown}")
    assert missing.value.args[0] == 1094


def test_a_full_login_anywhere_gives_the_fast_path_everywhere(served: Processes) -> None:
    setup = served.connect("main")
    rows(setup, "CREATE USER dave IDENTIFIED BY 'pw'")  # caching_sha2_password
    context = unverified_tls()
    served.pymysql(user="dave", password="pw", ssl=context).close()  # full authentication, over TLS
    seen = set()
    for _ in range(40):
        # Without TLS: PyMySQL fetches the server's RSA key only for a full authentication.
        conn = served.pymysql(user="dave", password="pw")
        assert conn.server_public_key is None, "a full authentication again"
        seen.add(served.holder_of(conn))
        conn.close()
        if len(seen) == 2:
            break
    assert seen == {served.main, served.reader}


@pytest.mark.parametrize("wait", [0.0, 3.0])
def test_a_node_stopped_early_or_late_stops_its_reader_quietly(
    start_node: Callable[..., NodeProcess], wait: float
) -> None:
    node = start_node("--mysql-processes", "2")
    time.sleep(wait)  # at once: the reader is still starting
    readers = _children(node.proc.pid)
    assert node.stop(signal.SIGINT) == 0
    for pid in readers:
        proc_dir = Path(f"/proc/{pid}")

        def ended(proc_dir: Path = proc_dir) -> bool:
            return not proc_dir.exists()

        wait_until(ended, 15, "the reader to end")
    time.sleep(0.5)  # what the reader wrote on its way out
    assert "Traceback" not in node.stderr, node.stderr
