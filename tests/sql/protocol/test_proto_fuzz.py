"""Hostile input: random, truncated and oversized packets before and after the handshake.

After every example a connection opened before the fuzzing (the canary) and a fresh connection must
both still get answers: the server may answer garbage with ERR or close that connection, nothing more.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from conftest import ServerThread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proto_rawclient import RawClient

from p2pdb.sql.protocol import Command

FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def packet(payload: bytes, seq: int = 0) -> bytes:
    return struct.pack("<I", len(payload) | (seq << 24)) + payload


@st.composite
def garbage(draw: st.DrawFn) -> bytes:
    """Byte streams that look more or less like MySQL packets."""
    kind = draw(st.sampled_from(["random", "framed", "truncated", "oversized", "command", "many"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=300))
    if kind == "framed":
        return packet(draw(st.binary(max_size=300)), draw(st.integers(0, 255)))
    if kind == "truncated":
        whole = packet(draw(st.binary(min_size=1, max_size=300)), draw(st.integers(0, 3)))
        return whole[: draw(st.integers(1, len(whole) - 1))]
    if kind == "oversized":
        return struct.pack("<I", draw(st.integers(0x100000, 0xFFFFFF))) + draw(st.binary(max_size=100))
    if kind == "command":
        cmd = draw(st.sampled_from([int(c) for c in Command] + [0x20, 0x7F, 0xFF]))
        body = draw(st.binary(max_size=64))
        if cmd in (Command.STMT_EXECUTE, Command.STMT_SEND_LONG_DATA, Command.STMT_RESET, Command.STMT_CLOSE):
            body = struct.pack("<I", draw(st.integers(0, 3))) + body  # sometimes a real statement id
        return packet(bytes((cmd,)) + body)
    parts = draw(st.lists(st.binary(max_size=40), min_size=2, max_size=10))
    return b"".join(packet(p, i) for i, p in enumerate(parts))


@pytest.fixture
def canary(any_server: ServerThread) -> Iterator[Any]:
    conn = pymysql.connect(host="127.0.0.1", port=any_server.port, user="root", read_timeout=10)
    yield conn
    conn.close()


def drain(sock: socket.socket, timeout: float) -> bool:
    """Read whatever the server answers; True if it closed the connection within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def assert_responsive(server: ServerThread, canary: Any) -> None:
    with canary.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    fresh = pymysql.connect(
        host="127.0.0.1", port=server.port, user="root", connect_timeout=5, read_timeout=5
    )
    fresh.ping(reconnect=False)
    fresh.close()


def send(sock: socket.socket, data: bytes, half_close: bool) -> None:
    """Send ``data``; then either half-close (the server must close too) or read briefly and drop."""
    try:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
    except ConnectionError:
        return
    if half_close:
        assert drain(sock, 5.0), "the server kept a half-closed connection open"
    else:
        drain(sock, 0.02)


@FUZZ_SETTINGS
@given(data=garbage(), read_handshake=st.booleans(), half_close=st.booleans())
def test_garbage_instead_of_handshake_response(
    any_server: ServerThread, canary: Any, data: bytes, read_handshake: bool, half_close: bool
) -> None:
    sock = socket.create_connection(("127.0.0.1", any_server.port), timeout=5)
    try:
        if read_handshake:
            sock.recv(4096)
        send(sock, data, half_close or not read_handshake)
    finally:
        sock.close()
    assert_responsive(any_server, canary)


@FUZZ_SETTINGS
@given(data=st.lists(garbage(), min_size=1, max_size=4), half_close=st.booleans())
def test_garbage_after_login(
    any_server: ServerThread, canary: Any, data: list[bytes], half_close: bool
) -> None:
    client = RawClient(any_server.port)
    try:
        client.login(database="test")
        client.command(Command.STMT_PREPARE, b"SELECT ?, ?")  # statement 1 exists for the fuzzed commands
        send(client.sock, b"".join(data), half_close)
    finally:
        client.close()
    assert_responsive(any_server, canary)


def test_server_survives_slow_partial_packets(any_server: ServerThread, canary: Any) -> None:
    """A header and part of a body, then silence: the other clients are not held up."""
    sockets = []
    for _ in range(20):
        client = RawClient(any_server.port)
        client.login()
        client.sock.sendall(struct.pack("<I", 1000) + b"\x03SELECT")
        sockets.append(client)
    assert_responsive(any_server, canary)
    for c in sockets:
        c.close()
