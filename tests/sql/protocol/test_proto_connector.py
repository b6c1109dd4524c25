"""mysql-connector-python (pure Python): prepared statements, utility commands, caching_sha2 over TLS."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import mysql.connector
import pytest
from conftest import ServerThread
from mysql.connector.connection import MySQLConnection


def connect(port: int, **kwargs: Any) -> MySQLConnection:
    params: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "user": "root",
        "database": "test",
        "use_pure": True,
        "ssl_disabled": True,
        "connection_timeout": 10,
        "autocommit": True,
    }
    params.update(kwargs)
    conn = mysql.connector.connect(**params)
    assert isinstance(conn, MySQLConnection)
    return conn


@pytest.fixture
def conn(server: ServerThread) -> Iterator[MySQLConnection]:
    c = connect(server.port)
    yield c
    c.close()


def test_prepared_reexecution_with_different_params_and_nulls(conn: MySQLConnection) -> None:
    cur = conn.cursor(prepared=True)
    cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, born DATE)")
    insert = "INSERT INTO t (id, name, score, born) VALUES (?, ?, ?, ?)"
    rows = [
        (1, "ann", 1.5, datetime.date(1990, 1, 2)),
        (2, None, 2.25, None),
        (3, "cé", None, datetime.date(2000, 12, 31)),
        (4, None, None, None),
    ]
    for row in rows:
        cur.execute(insert, row)
        assert cur.rowcount == 1
    select = "SELECT id, name, score, born FROM t WHERE id >= ? ORDER BY id"
    for low in (1, 3, 5):
        cur.execute(select, (low,))
        assert [tuple(r) for r in cur.fetchall()] == [r for r in rows if r[0] >= low]
    cur.close()


def test_prepared_statement_metadata(conn: MySQLConnection) -> None:
    conn.cmd_query("CREATE TABLE m (a INTEGER, b TEXT)")
    stmt = conn.cmd_stmt_prepare(b"SELECT a, b FROM m WHERE a = ? AND b = ?")
    assert stmt["num_params"] == 2
    assert [c[0] for c in stmt["columns"]] == ["a", "b"]
    assert len(stmt["parameters"]) == 2
    conn.cmd_stmt_close(stmt["statement_id"])
    stmt = conn.cmd_stmt_prepare(b"SELECT 1")
    assert stmt["num_params"] == 0
    conn.cmd_stmt_close(stmt["statement_id"])


def test_prepared_error_keeps_connection(conn: MySQLConnection) -> None:
    cur = conn.cursor(prepared=True)
    with pytest.raises(mysql.connector.Error) as info:
        cur.execute("SELECT * FROM missing WHERE id = ?", (1,))
    assert info.value.errno == 1146
    assert info.value.sqlstate == "42S02"
    cur.execute("SELECT ?", (7,))
    assert cur.fetchall() == [(7,)]


def test_prepared_decimal_time_and_big_unsigned(conn: MySQLConnection) -> None:
    cur = conn.cursor(prepared=True)
    cur.execute("CREATE TABLE v (d DECIMAL, t TIME, u INTEGER, dt DATETIME)")
    values = (
        Decimal("-0.000123"),
        datetime.timedelta(hours=25, minutes=3, seconds=4),
        2**63 - 1,
        datetime.datetime(2021, 1, 1, 0, 0),
    )
    cur.execute("INSERT INTO v VALUES (?, ?, ?, ?)", values)
    cur.execute("SELECT d, t, u, dt FROM v")
    assert tuple(cur.fetchone()) == values  # type: ignore[arg-type]


def test_send_long_data(conn: MySQLConnection) -> None:
    cur = conn.cursor(prepared=True)
    cur.execute("CREATE TABLE blobs (id INTEGER, data BLOB)")
    payload = bytes(range(256)) * 2000  # 512 KB, sent in 128 KB COM_STMT_SEND_LONG_DATA chunks
    params: Any = (1, io.BytesIO(payload))
    cur.execute("INSERT INTO blobs VALUES (?, ?)", params)
    cur.execute("SELECT LENGTH(data), data FROM blobs WHERE id = ?", (1,))
    length, data = cur.fetchone()  # type: ignore[misc]
    assert length == len(payload)
    assert data == payload


def test_utility_commands(conn: MySQLConnection) -> None:
    assert int(conn.cmd_ping()["status_flag"] or 0) & 0x02  # autocommit
    stats = conn.cmd_statistics()
    assert stats["Uptime"] >= 1 and stats["Threads"] >= 1
    conn.cmd_init_db("other")
    assert conn.database == "other"
    with pytest.raises(mysql.connector.Error) as info:
        conn.cmd_init_db("nope")
    assert info.value.errno == 1049
    assert conn.cmd_reset_connection()
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [(1,)]


def test_transaction_status_flags(conn: MySQLConnection) -> None:
    cur = conn.cursor()
    cur.execute("CREATE TABLE tx (id INTEGER)")
    conn.autocommit = False
    assert not conn.in_transaction
    cur.execute("INSERT INTO tx VALUES (1)")
    assert conn.in_transaction
    conn.rollback()
    assert not conn.in_transaction
    cur.execute("SELECT COUNT(*) FROM tx")
    assert cur.fetchall() == [(0,)]
    conn.autocommit = True


def test_multi_statements(conn: MySQLConnection) -> None:
    cur = conn.cursor()
    cur.execute("CREATE TABLE ms (id INTEGER); INSERT INTO ms VALUES (1), (2); SELECT id FROM ms; SELECT 'x'")
    sets = []
    while True:
        if cur.with_rows:
            sets.append(cur.fetchall())
        if not cur.nextset():
            break
    assert sets == [[(1,), (2,)], [("x",)]]


# --- caching_sha2_password --------------------------------------------------------------------------


def test_caching_sha2_full_auth_over_tls_then_fast_auth(
    server: ServerThread, tls_files: tuple[Path, Path]
) -> None:
    server.run(lambda: server.backend.add_user("conn_sha2", "pw-1"))
    server.clear_sha2_cache()
    # No TLS and nothing cached: connector sends the password in clear, which the server refuses.
    with pytest.raises(mysql.connector.Error) as info:
        connect(server.port, user="conn_sha2", password="pw-1")
    assert info.value.errno == 1045
    # Over TLS the full authentication succeeds and fills the cache ...
    c = connect(server.port, user="conn_sha2", password="pw-1", ssl_disabled=False, ssl_ca=str(tls_files[0]))
    cur = c.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [(1,)]
    c.close()
    # ... so a plain connection now passes by the scramble alone.
    c = connect(server.port, user="conn_sha2", password="pw-1")
    assert c.is_connected()
    c.close()
    with pytest.raises(mysql.connector.Error) as info:
        connect(server.port, user="conn_sha2", password="wrong")
    assert info.value.errno == 1045


def test_native_password_and_auth_switch(server: ServerThread) -> None:
    # The server proposes caching_sha2_password; the "native" account makes it switch the client.
    c = connect(server.port, user="native", password="secret")
    assert c.is_connected()
    c.close()
    # A client insisting on mysql_native_password against a caching_sha2 account gets switched too.
    server.run(lambda: server.backend.add_user("conn_sw", "pw-2"))
    c = connect(
        server.port,
        user="conn_sw",
        password="pw-2",
        auth_plugin="mysql_native_password",
        ssl_disabled=False,
        ssl_verify_cert=False,
    )
    assert c.is_connected()
    c.close()
