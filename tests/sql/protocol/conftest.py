"""Fixtures: MySQL protocol servers on 127.0.0.1 port 0, each running its own event loop in a thread.

Blocking drivers (PyMySQL, mysql-connector, the mariadb CLI) talk to them from the test thread; aiomysql
from pytest-asyncio's loop. Every server records exceptions reaching its loop's exception handler and
tests fail if any appear (a crash in a callback would otherwise only be logged).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from proto_backend import SqliteBackend

from p2pdb.sql.protocol import MySQLServer, ServerOptions

T = TypeVar("T")
TIMEOUT = 10.0


class ServerThread:
    """A MySQLServer over a SqliteBackend, in a daemon thread with its own loop (uvloop or asyncio's)."""

    def __init__(self, *, use_uvloop: bool = False, **kwargs: Any) -> None:
        self.backend = SqliteBackend()
        self.errors: list[dict[str, Any]] = []
        self.loop = uvloop.new_event_loop() if use_uvloop else asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, context: self.errors.append(context))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="mysql-server")
        self._thread.start()
        self.server = MySQLServer(self.backend, **kwargs)
        self.call(self.server.start("127.0.0.1", 0))
        self.port = self.server.port

    def call(self, coro: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(TIMEOUT)

    def run(self, fn: Callable[[], T]) -> T:
        async def wrap() -> T:
            return fn()

        return self.call(wrap())

    @property
    def connection_count(self) -> int:
        return self.run(lambda: self.server.connection_count)

    def clear_sha2_cache(self) -> None:
        self.run(lambda: self.server.context.sha2_cache._entries.clear())

    def stop(self) -> None:
        # On the loop's thread: closing uvloop transports from another thread crashes the process.
        self.run(self.server.close)
        self.call(self.server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def server_ctx(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*tls_files)
    return ctx


@pytest.fixture(scope="session")
def server(server_ctx: ssl.SSLContext, rsa_key: rsa.RSAPrivateKey) -> Iterator[ServerThread]:
    """The main server: uvloop, TLS and RSA enabled, max_allowed_packet 1 MiB."""
    srv = ServerThread(
        use_uvloop=True, ssl_context=server_ctx, rsa_key=rsa_key, options=ServerOptions(max_packet=1 << 20)
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def asyncio_server(server_ctx: ssl.SSLContext, rsa_key: rsa.RSAPrivateKey) -> Iterator[ServerThread]:
    """Like ``server`` but on asyncio's own event loop."""
    srv = ServerThread(ssl_context=server_ctx, rsa_key=rsa_key, options=ServerOptions(max_packet=1 << 20))
    yield srv
    srv.stop()


@pytest.fixture(params=["uvloop", "asyncio"])
def any_server(request: pytest.FixtureRequest) -> ServerThread:
    """The main server on each event loop in turn."""
    name = "server" if request.param == "uvloop" else "asyncio_server"
    srv: ServerThread = request.getfixturevalue(name)
    return srv


@pytest.fixture(scope="module")
def bare_server() -> Iterator[ServerThread]:
    """A server without TLS or RSA key, on asyncio's own event loop."""
    srv = ServerThread()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _no_loop_errors(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test when a server's loop saw an unhandled exception or the layer logged an error."""
    names = ("server", "asyncio_server", "bare_server")
    servers = [request.getfixturevalue(name) for name in names if name in request.fixturenames]
    if "any_server" in request.fixturenames:
        servers.append(request.getfixturevalue("any_server"))
    yield
    for srv in servers:
        errors, srv.errors[:] = list(srv.errors), []
        assert not errors, f"server loop reported errors: {errors}"
    logged = [r for r in caplog.records if r.name.startswith("p2pdb") and r.levelno >= logging.ERROR]
    assert not logged, f"errors logged: {[r.getMessage() for r in logged]}"
