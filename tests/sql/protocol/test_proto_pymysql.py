"""PyMySQL against the server: multi-statements, status flags, errors mid-result, limits, disconnects."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from conftest import ServerThread
from pymysql.constants import CLIENT
from pymysql.constants import SERVER_STATUS as ST


def connect(port: int, **kwargs: Any) -> pymysql.connections.Connection[Any]:
    params: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "user": "root",
        "database": "test",
        "autocommit": True,
        "connect_timeout": 10,
        "read_timeout": 10,
        "write_timeout": 10,
    }
    params.update(kwargs)
    return pymysql.connect(**params)


@pytest.fixture
def conn(server: ServerThread) -> Iterator[pymysql.connections.Connection[Any]]:
    c = connect(server.port, client_flag=CLIENT.MULTI_STATEMENTS)
    yield c
    c.close()


def test_multi_statement_results(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1), (2); SELECT x FROM a ORDER BY x; SELECT 'z'"
    )
    assert cur.rowcount == 0
    assert cur.nextset()
    assert cur.rowcount == 2  # the INSERT's OK packet
    assert cur.nextset()
    assert cur.fetchall() == ((1,), (2,))
    assert cur.nextset()
    assert cur.fetchall() == (("z",),)
    assert not cur.nextset()


def test_multi_statement_error_after_results(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute("SELECT 1; SELECT * FROM nope; SELECT 3")
    assert cur.fetchall() == ((1,),)
    with pytest.raises(pymysql.ProgrammingError) as info:
        cur.nextset()
    assert info.value.args[0] == 1146
    cur.execute("SELECT 4")
    assert cur.fetchall() == ((4,),)


def test_multi_statements_refused_without_capability(server: ServerThread) -> None:
    c = connect(server.port)
    with pytest.raises(pymysql.ProgrammingError) as info:
        c.cursor().execute("SELECT 1; SELECT 2")
    assert info.value.args[0] == 1064
    c.close()


def test_status_flags_autocommit_and_transaction(server: ServerThread) -> None:
    c = connect(server.port)
    cur = c.cursor()
    cur.execute("CREATE TABLE st (x INTEGER)")
    c.autocommit(False)
    assert not c.get_autocommit()
    cur.execute("INSERT INTO st VALUES (1)")  # PyMySQL updates server_status from OK packets
    assert c.server_status & ST.SERVER_STATUS_IN_TRANS
    c.commit()
    assert not c.server_status & ST.SERVER_STATUS_IN_TRANS
    c.autocommit(True)
    assert c.server_status & ST.SERVER_STATUS_AUTOCOMMIT
    cur.execute("BEGIN")
    assert c.server_status & ST.SERVER_STATUS_IN_TRANS
    c.rollback()
    c.close()


def test_select_db_ping_and_empty_query(conn: Any) -> None:
    conn.select_db("other")
    conn.ping(reconnect=False)
    with pytest.raises(pymysql.OperationalError) as info:
        conn.select_db("missing")
    assert info.value.args[0] == 1049
    with pytest.raises(pymysql.MySQLError) as info2:
        conn.cursor().execute("   ")
    assert info2.value.args[0] == 1065
    cur = conn.cursor()
    cur.execute("SELECT DATABASE()")
    assert cur.fetchall() == (("other",),)


def test_error_in_the_middle_of_rows(conn: Any) -> None:
    cur = conn.cursor()
    with pytest.raises(pymysql.OperationalError) as info:
        cur.execute("CALL bad_rows()")
    assert info.value.args[0] == 1317
    cur.execute("SELECT 5")
    assert cur.fetchall() == ((5,),)


def test_binary_literal_that_is_not_utf8(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute("CREATE TABLE bin (b BLOB)")
    data = bytes(range(256))
    cur.execute("INSERT INTO bin VALUES (%s)", (data,))  # PyMySQL sends _binary'...' with raw bytes
    cur.execute("SELECT b FROM bin")
    assert cur.fetchall() == ((data,),)


def test_large_result_is_streamed(conn: Any) -> None:
    cur = conn.cursor(pymysql.cursors.SSCursor)
    cur.execute("CALL rows(50000)")
    count = sum(1 for _ in cur)
    assert count == 50000


def test_unknown_database_at_connect(server: ServerThread) -> None:
    with pytest.raises(pymysql.OperationalError) as info:
        connect(server.port, database="nowhere")
    assert info.value.args[0] == 1049


def test_packet_too_large_closes_only_that_connection(server: ServerThread, conn: Any) -> None:
    big = connect(server.port)
    with pytest.raises(pymysql.MySQLError) as info:
        big.cursor().execute("SELECT '" + "x" * (1 << 20) + "'")
    assert info.value.args[0] in (1153, 2006, 2013)
    if info.value.args[0] == 1153:
        assert "max_allowed_packet" in info.value.args[1]
    with pytest.raises(pymysql.MySQLError):
        big.cursor().execute("SELECT 1")
    cur = conn.cursor()
    cur.execute("SELECT 'still here'")
    assert cur.fetchall() == (("still here",),)


def test_query_just_under_the_limit(conn: Any) -> None:
    cur = conn.cursor()
    text = "y" * ((1 << 20) - 100)
    cur.execute("SELECT '" + text + "'")
    assert cur.fetchall() == ((text,),)


def test_client_vanishing_mid_result(server: ServerThread, conn: Any) -> None:
    before = server.connection_count
    for _ in range(3):
        raw = pymysql_raw_login(server.port)
        payload = b"\x03CALL rows(300000)"
        raw.sendall(struct.pack("<I", len(payload)) + payload)
        raw.recv(1000)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()  # RST while the server is still sending
    deadline = time.monotonic() + 5
    while server.connection_count > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.connection_count <= before
    cur = conn.cursor()
    cur.execute("SELECT 6")
    assert cur.fetchall() == ((6,),)


def test_suspending_command_with_pipelined_commands(server: ServerThread) -> None:
    sock = pymysql_raw_login(server.port)
    queries = [b"\x03DO SLEEP", b"\x03SELECT 1", b"\x0e"]
    sock.sendall(b"".join(struct.pack("<I", len(q)) + q for q in queries))
    data = b""
    deadline = time.monotonic() + 5
    while data.count(b"\x07\x00\x00") < 2 and time.monotonic() < deadline:  # two 7-byte OK packets
        data += sock.recv(65536)
    assert data.startswith(b"\x07\x00\x00\x01\x00")  # OK for DO SLEEP
    assert b"\x01\x00\x00\x01\x01" in data  # the SELECT's column count
    sock.close()


def pymysql_raw_login(port: int) -> socket.socket:
    """Log in as root with a raw socket (mysql_native_password, empty password)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.recv(4096)
    caps = CLIENT.PROTOCOL_41 | CLIENT.SECURE_CONNECTION | CLIENT.PLUGIN_AUTH | CLIENT.LONG_PASSWORD
    body = struct.pack("<IIB23x", caps, 1 << 24, 45) + b"root\x00\x00mysql_native_password\x00"
    sock.sendall(struct.pack("<I", len(body) | (1 << 24)) + body)
    reply = sock.recv(4096)
    assert reply[4] == 0, reply
    return sock


def test_client_not_reading_its_replies_is_throttled(server: ServerThread) -> None:
    sock = pymysql_raw_login(server.port)
    query = b"\x03CALL typed_row()"
    n = 20000
    sock.sendall((struct.pack("<I", len(query)) + query) * n)
    time.sleep(0.5)  # the server answers until the socket buffers and its write buffer are full

    def largest_write_buffer() -> int:
        conns = server.server.context.connections
        return max(c._transport.get_write_buffer_size() for c in conns if c._transport is not None)

    assert server.run(largest_write_buffer) < 256 * 1024
    # Now read everything: every query gets its complete reply.
    sock.settimeout(10)
    buf = bytearray()
    ends = 0
    while ends < n:
        chunk = sock.recv(1 << 20)
        assert chunk, "server closed the connection"
        buf += chunk
        pos = 0
        while len(buf) - pos >= 4:
            length = int.from_bytes(buf[pos : pos + 3], "little")
            if len(buf) - pos - 4 < length:
                break
            # typed_row(): column count (seq 1), 24 definitions, EOF (26), one row (27), EOF (28)
            if buf[pos + 4] == 0xFE and length < 9 and buf[pos + 3] == 28:
                ends += 1
            pos += 4 + length
        del buf[:pos]
    assert ends == n
    sock.close()


def test_non_utf8_bytes_in_names_and_messages(conn: Any) -> None:
    cur = conn.cursor()
    with pytest.raises(pymysql.ProgrammingError) as info:
        cur.execute(b"SELECT * FROM t\xff")  # the error message echoes the raw byte
    assert info.value.args[0] == 1064 and info.value.args[1].endswith("t?")
    cur.execute("CALL weird_name()")  # metadata stays valid UTF-8, which drivers decode strictly
    assert cur.fetchall() == ((1,),)
    assert cur.description[0][0] == "n?m"
