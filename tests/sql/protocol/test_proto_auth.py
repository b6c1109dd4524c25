"""Authentication: both plugins, RSA key exchange, TLS, refusals, the loopback rule for empty passwords."""

from __future__ import annotations

import asyncio
import ssl
import struct
from pathlib import Path
from typing import Any

import pymysql
import pytest
from conftest import ServerThread
from proto_backend import SqliteBackend

from p2pdb.sql.protocol import Credential, load_or_create_rsa_key
from p2pdb.sql.protocol.auth import check_native, check_sha2_scramble, new_scramble, sha2_stage2
from p2pdb.sql.protocol.connection import MySQLConnection
from p2pdb.sql.protocol.context import ServerContext, ServerOptions


def connect(port: int, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"host": "127.0.0.1", "port": port, "connect_timeout": 10, "read_timeout": 10}
    params.update(kwargs)
    return pymysql.connect(**params)


def scalar(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_root_with_empty_password_on_loopback(server: ServerThread) -> None:
    c = connect(server.port, user="root", password="")
    assert scalar(c, "SELECT 1") == 1
    c.close()


def test_native_password(server: ServerThread) -> None:
    c = connect(server.port, user="native", password="secret")
    assert scalar(c, "SELECT 2") == 2
    c.close()
    with pytest.raises(pymysql.OperationalError) as info:
        connect(server.port, user="native", password="wrong")
    assert info.value.args == (1045, "Access denied for user 'native'@'127.0.0.1' (using password: YES)")


def test_unknown_user_is_denied_like_a_wrong_password(server: ServerThread) -> None:
    with pytest.raises(pymysql.OperationalError) as info:
        connect(server.port, user="ghost", password="x")
    assert info.value.args[0] == 1045
    with pytest.raises(pymysql.OperationalError) as info:
        connect(server.port, user="ghost", password="")
    assert info.value.args[0] == 1045


def test_caching_sha2_rsa_exchange_then_fast_path(server: ServerThread) -> None:
    server.run(lambda: server.backend.add_user("py_rsa", "pässword"))
    server.clear_sha2_cache()
    # PyMySQL asks for the public key (0x02) and sends RSA-OAEP(password XOR scramble).
    # (It encodes str passwords as latin-1; pass UTF-8 bytes, as the account was created with.)
    c = connect(server.port, user="py_rsa", password="pässword".encode())
    assert scalar(c, "SELECT 3") == 3
    c.close()
    c = connect(server.port, user="py_rsa", password="pässword".encode())  # cached: scramble only
    c.close()
    server.clear_sha2_cache()
    with pytest.raises(pymysql.OperationalError) as info:
        connect(server.port, user="py_rsa", password="wrong")
    assert info.value.args[0] == 1045


def test_caching_sha2_over_tls(any_server: ServerThread, tls_files: tuple[Path, Path]) -> None:
    any_server.run(lambda: any_server.backend.add_user("py_tls", "tls-pw"))
    any_server.clear_sha2_cache()
    c = connect(any_server.port, user="py_tls", password="tls-pw", ssl={"ca": str(tls_files[0])})
    assert scalar(c, "SELECT 'tls'") == "tls"
    assert c._sock.version().startswith("TLS")
    c.close()


def test_tls_with_large_results(any_server: ServerThread, tls_files: tuple[Path, Path]) -> None:
    c = connect(any_server.port, user="root", ssl={"ca": str(tls_files[0])}, database="test")
    with c.cursor() as cur:
        cur.execute("CALL rows(20000)")
        assert len(cur.fetchall()) == 20000
    c.close()


def test_without_tls_or_rsa_full_auth_is_refused_clearly(bare_server: ServerThread) -> None:
    bare_server.run(lambda: bare_server.backend.add_user("bare_sha2", "pw"))
    with pytest.raises(pymysql.OperationalError) as info:
        connect(bare_server.port, user="bare_sha2", password="pw")
    assert info.value.args[0] == 1045
    assert "TLS" in info.value.args[1] and "RSA" in info.value.args[1]
    c = connect(bare_server.port, user="native", password="secret")  # native still works
    c.close()


def test_ssl_request_to_a_server_without_tls(bare_server: ServerThread) -> None:
    import socket

    sock = socket.create_connection(("127.0.0.1", bare_server.port), timeout=5)
    sock.recv(4096)
    body = struct.pack("<IIB23x", 0x200 | 0x800 | 0x8000, 1 << 24, 45)
    sock.sendall(struct.pack("<I", len(body) | (1 << 24)) + body)
    reply = sock.recv(4096)
    assert reply[4] == 0xFF and struct.unpack_from("<H", reply, 5)[0] == 1043
    sock.close()


def test_credential_encoding_round_trip() -> None:
    for plugin in ("mysql_native_password", "caching_sha2_password"):
        cred = Credential.from_password("s3cret", plugin)
        again = Credential.decode(cred.encode())
        assert again == cred
        assert again.check_password(b"s3cret") and not again.check_password(b"nope")
    empty = Credential.from_password("")
    assert Credential.decode(empty.encode()) == empty and empty.empty


def test_scramble_checks() -> None:
    import hashlib

    scramble = new_scramble()
    assert len(scramble) == 20 and 0 not in scramble and b"$" not in scramble
    cred = Credential.from_password("pw", "mysql_native_password")
    s1 = hashlib.sha1(b"pw").digest()
    resp = bytes(
        a ^ b for a, b in zip(s1, hashlib.sha1(scramble + hashlib.sha1(s1).digest()).digest(), strict=False)
    )
    assert check_native(cred, scramble, resp)
    assert not check_native(cred, scramble, resp[:-1] + bytes([resp[-1] ^ 1]))  # one bit off
    h1 = hashlib.sha256(b"pw").digest()
    stage2 = sha2_stage2(b"pw")
    resp = bytes(a ^ b for a, b in zip(h1, hashlib.sha256(stage2 + scramble).digest(), strict=False))
    assert check_sha2_scramble(stage2, scramble, resp)
    assert not check_sha2_scramble(stage2, new_scramble(), resp)


def test_rsa_key_is_created_once_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "mysql_rsa.pem"
    key = load_or_create_rsa_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_or_create_rsa_key(path)
    assert again.private_numbers() == key.private_numbers()


# --- sans-IO: a connection object driven with a fake transport --------------------------------------


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer = peer
        self.data = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _login_from(peer: str, user: str = "root") -> bytes:
    """Log in with an empty password from ``peer``; answer an auth switch with an empty response too."""
    backend = SqliteBackend()
    backend.add_user("anon", "", "mysql_native_password")  # empty password, any host allowed
    conn = MySQLConnection(ServerContext(backend, ServerOptions(), None, None))
    transport = FakeTransport((peer, 40000))
    conn.connection_made(transport)
    transport.data.clear()
    body = struct.pack("<IIB23x", 0x200 | 0x8000 | 0x80000, 1 << 24, 45) + user.encode() + b"\x00\x00"
    body += b"mysql_native_password\x00"
    conn.data_received(struct.pack("<I", len(body) | (1 << 24)) + body)
    for _ in range(10):
        await asyncio.sleep(0)
    if transport.data[4:5] == b"\xfe":  # auth switch request
        transport.data.clear()
        conn.data_received(struct.pack("<I", 3 << 24))
        for _ in range(10):
            await asyncio.sleep(0)
    conn.connection_lost(None)
    return bytes(transport.data)


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.8.9.10"])
@pytest.mark.parametrize("user", ["root", "anon"])
async def test_empty_password_accepted_from_loopback(peer: str, user: str) -> None:
    reply = await _login_from(peer, user)
    assert reply[4] == 0x00, reply


@pytest.mark.parametrize("peer", ["192.0.2.7", "2001:db8::1", "::ffff:10.1.2.3"])
@pytest.mark.parametrize("user", ["root", "anon"])
async def test_empty_password_refused_from_elsewhere(peer: str, user: str) -> None:
    # root: the backend disallows the host; anon: the protocol layer refuses empty passwords off loopback.
    reply = await _login_from(peer, user)
    assert reply[4] == 0xFF and struct.unpack_from("<H", reply, 5)[0] == 1045, reply


def test_server_side_tls_context_is_required_for_ssl_capability(server: ServerThread) -> None:
    assert server.server.context.ssl_context is not None
    assert isinstance(server.server.context.ssl_context, ssl.SSLContext)


def test_login_timeout_closes_silent_clients() -> None:
    import socket
    import time

    from conftest import ServerThread as Srv

    srv = Srv(options=ServerOptions(handshake_timeout=0.3))
    try:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        sock.recv(4096)  # the handshake; then say nothing
        start = time.monotonic()
        assert sock.recv(4096) == b""  # closed by the server
        assert 0.2 < time.monotonic() - start < 3
        sock.close()
        assert not srv.errors
    finally:
        srv.stop()


def test_garbage_instead_of_tls_handshake(server: ServerThread) -> None:
    import socket

    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.recv(4096)
    body = struct.pack("<IIB23x", 0x200 | 0x800 | 0x8000 | 0x80000, 1 << 24, 45)
    sock.sendall(struct.pack("<I", len(body) | (1 << 24)) + body + b"\x16\x03\x01\x00\x05hello, not TLS" * 3)
    data = b""
    while chunk := sock.recv(4096):  # maybe a TLS alert, then the server closes
        data += chunk
    sock.close()
    c = connect(server.port, user="root")
    c.close()
