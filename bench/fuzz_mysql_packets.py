"""Fuzzer of the MySQL packet decoder: generated and mutated packets, as a hostile client sends them.

    python bench/fuzz_mysql_packets.py [--count N] [--socket-count M] [--seed S] [--port P]
                                       [--bound-ms MS]

Seeds are valid packets of every kind the server reads (HandshakeResponse41 and SSLRequest with
several capability sets, COM_QUERY, COM_INIT_DB, COM_FIELD_LIST, COM_STMT_PREPARE, COM_STMT_EXECUTE
with parameter blocks of every binary type, COM_STMT_SEND_LONG_DATA/RESET/CLOSE, COM_SET_OPTION,
COM_PING...). Mutations: bit flips, byte changes, truncation, insertion, deletion, splices, random
tails, interesting integers (0xFB..0xFF length prefixes, 2^64-1 lengths, huge dates and times),
bad parameter-type blocks, and corrupted packet headers (lengths that overflow or lie, 0xFFFFFF
continuation chunks, sequence ids out of order, truncated headers).

``--count`` inputs go, in process, to the decoding functions and to a real ``MySQLConnection`` on a
fake transport (login, then command packets) over a stub backend:

- ``framing``: :class:`~p2pdb.sql.protocol.packets.PacketReader`, the byte stream split at random;
- ``handshake``: :func:`~p2pdb.sql.protocol.handshake.parse_handshake_response`;
- ``execute``: the COM_STMT_EXECUTE parameter block
  (:func:`~p2pdb.sql.protocol.prepared.decode_execute`) and COM_STMT_SEND_LONG_DATA;
- ``payload``: length-encoded values (:class:`~p2pdb.sql.protocol.packets.PayloadReader`);
- ``query``: the SQL lexer on COM_QUERY text (:func:`p2pdb.sql.lexer.lex`, ``split_statements``);
- ``connection``: whole byte streams to a logged-in connection (login too, for some).

Only the protocol's own error types may come out of the functions (``MalformedPacket``,
``MySQLError``, ``PacketTooLarge``, ``ProtocolViolation``); a connection must never log an
unexpected exception, and must answer (or close) every complete command.

``--socket-count`` inputs (default: a tenth of ``--count``, at most 20,000) go over real sockets to a
running server: the node at ``--port`` if given (root, empty password, on 127.0.0.1), else a server
started here over the real SQL backend (in-memory databases). After each batch a connection opened
at the start and a fresh one must still answer ``SELECT 1``.

It prints inputs/s per target and overall, the slowest input (time, target, bytes), and exits 1 on
any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from p2pdb.sql.lexer import lex, split_statements
from p2pdb.sql.protocol import handshake as hs
from p2pdb.sql.protocol.backend import Account, ConnectInfo
from p2pdb.sql.protocol.constants import Capability, Command, FieldType
from p2pdb.sql.protocol.context import ServerContext, ServerOptions
from p2pdb.sql.protocol.errors import MalformedPacket, MySQLError, ProtocolViolation
from p2pdb.sql.protocol.packets import PacketReader, PacketTooLarge, PayloadReader, lenenc_bytes
from p2pdb.sql.protocol.prepared import StatementRegistry, StatementState, decode_execute, statement_id
from p2pdb.sql.protocol.results import Column, OkResult, Result, ResultSet, SqlValue

ALLOWED = (MalformedPacket, MySQLError, PacketTooLarge, ProtocolViolation)
CLIENT_CAPS = (
    Capability.LONG_PASSWORD
    | Capability.PROTOCOL_41
    | Capability.SECURE_CONNECTION
    | Capability.PLUGIN_AUTH
    | Capability.TRANSACTIONS
    | Capability.MULTI_RESULTS
    | Capability.MULTI_STATEMENTS
    | Capability.PS_MULTI_RESULTS
    | Capability.DEPRECATE_EOF
)
INTERESTING = [0, 1, 0x7F, 0x80, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF]
TYPES = [int(t) for t in FieldType] + [0x13, 0x14, 0x20, 0x7F, 0xFF]
QUERIES = [
    "SELECT 1",
    "SELECT ?, ?",
    "SELECT * FROM t WHERE id = 1",
    "INSERT INTO t VALUES (1, 'a', x'00ff', 1.5e3, NULL)",
    "select 'it''s', \"q\\\"\", `b``q`, @@version, @u := 1 -- c\n/* x */ # y",
    "SELECT /*+ MAX_EXECUTION_TIME(10) */ 1; SELECT 2",
    "SET NAMES utf8mb4",
    "KILL QUERY 99999",
    "SHOW PROCESSLIST",
    "USE db",
    "CREATE TABLE x (a INT PRIMARY KEY)",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3) SELECT * FROM c",
    "SELECT _binary'\\0\\x', b'0101', 0x1f, .5e-3, 12345678901234567890",
]


# -- seeds ----------------------------------------------------------------------------------------


def packet(payload: bytes, seq: int = 0) -> bytes:
    return struct.pack("<I", len(payload) | (seq << 24)) + payload


def handshake_response(rng: random.Random, *, database: str | None = None) -> bytes:
    caps = CLIENT_CAPS | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA | Capability.CONNECT_ATTRS
    if database is not None:
        caps |= Capability.CONNECT_WITH_DB
    parts = [struct.pack("<IIB", caps, 1 << 24, 45), b"\x00" * 23, b"root\x00", lenenc_bytes(b"")]
    if database is not None:
        parts.append(database.encode() + b"\x00")
    parts.append(b"caching_sha2_password\x00")
    attrs = b"".join(lenenc_bytes(k) + lenenc_bytes(v) for k, v in ((b"_client_name", b"fuzz"), (b"x", b"y")))
    parts.append(lenenc_bytes(attrs))
    return b"".join(parts)


def handshake_seeds(rng: random.Random) -> list[bytes]:
    ssl = struct.pack("<IIB", CLIENT_CAPS | Capability.SSL, 1 << 24, 45) + b"\x00" * 23
    old = struct.pack("<IIB", CLIENT_CAPS & ~Capability.PLUGIN_AUTH, 1 << 24, 33) + b"\x00" * 23
    return [
        handshake_response(rng),
        handshake_response(rng, database="test"),
        ssl,
        old + b"root\x00\x14" + b"x" * 20,
    ]


def param_value(rng: random.Random, ftype: int) -> bytes:
    """A value of binary type ``ftype`` (sometimes a wrong one)."""
    if ftype in (FieldType.TINY,):
        return bytes([rng.randrange(256)])
    if ftype in (FieldType.SHORT, FieldType.YEAR):
        return rng.randbytes(2)
    if ftype in (FieldType.LONG, FieldType.INT24, FieldType.FLOAT):
        return rng.randbytes(4)
    if ftype in (FieldType.LONGLONG, FieldType.DOUBLE):
        return rng.randbytes(8)
    if ftype in (FieldType.DATE, FieldType.DATETIME, FieldType.TIMESTAMP):
        n = rng.choice([0, 4, 7, 11, 3, 255])
        return bytes([n]) + rng.randbytes(min(n, 11))
    if ftype == FieldType.TIME:
        n = rng.choice([0, 8, 12, 5])
        body = bytes([rng.randrange(2)]) + struct.pack("<I", rng.choice([0, 1, 34, 2**32 - 1]))
        return bytes([n]) + (body + rng.randbytes(7))[:n]
    if ftype in (FieldType.DECIMAL, FieldType.NEWDECIMAL):
        return lenenc_bytes(rng.choice([b"1.5", b"-0", b"NaN", b"1e999999999", b"abc", b"\xff"]))
    return lenenc_bytes(rng.randbytes(rng.choice([0, 1, 10, 250, 251, 300])))


def execute_payload(rng: random.Random, stmt_id: int, count: int) -> bytes:
    types = [rng.choice(TYPES) for _ in range(count)]
    bitmap = bytes(rng.randrange(256) if rng.random() < 0.3 else 0 for _ in range((count + 7) // 8))
    head = struct.pack("<BIBI", Command.STMT_EXECUTE, stmt_id, 0, 1)
    if not count:
        return head
    bound = rng.random() < 0.9
    body = bitmap + (
        b"\x01" + b"".join(bytes([t, rng.choice([0, 0x80])]) for t in types) if bound else b"\x00"
    )
    return head + body + b"".join(param_value(rng, t) for t in types)


def command_seeds(rng: random.Random) -> list[bytes]:
    seeds = [bytes([Command.QUERY]) + q.encode() for q in QUERIES]
    seeds += [
        bytes([Command.INIT_DB]) + b"test",
        bytes([Command.PING]),
        bytes([Command.STATISTICS]),
        bytes([Command.FIELD_LIST]) + b"t\x00%",
        bytes([Command.FIELD_LIST]),
        bytes([Command.SET_OPTION]) + struct.pack("<H", 0),
        bytes([Command.SET_OPTION]) + struct.pack("<H", 1),
        bytes([Command.STMT_PREPARE]) + b"SELECT ?, ?, ?",
        bytes([Command.STMT_SEND_LONG_DATA]) + struct.pack("<IH", 1, 0) + b"long data",
        bytes([Command.STMT_RESET]) + struct.pack("<I", 1),
        bytes([Command.STMT_CLOSE]) + struct.pack("<I", 2),
        bytes([Command.STMT_FETCH]) + struct.pack("<II", 1, 10),
        bytes([Command.RESET_CONNECTION]),
        bytes([0x11]) + b"root\x00",  # COM_CHANGE_USER
        bytes([0x20, 0xFF]),
    ]
    seeds += [execute_payload(rng, rng.choice([1, 1, 2, 7]), 3) for _ in range(8)]
    return seeds


# -- mutations ------------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, others: Sequence[bytes]) -> tuple[bytes, str]:
    buf = bytearray(data)
    how = rng.choice(
        ["flip", "byte", "truncate", "insert", "delete", "splice", "tail", "interesting", "none"]
    )
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if how == "flip" and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif how == "byte" and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif how == "truncate" and buf:
            del buf[rng.randrange(len(buf)) :]
        elif how == "insert":
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = rng.randbytes(rng.choice([1, 2, 8, 64]))
        elif how == "delete" and buf:
            i = rng.randrange(len(buf))
            del buf[i : i + rng.choice([1, 2, 8])]
        elif how == "splice" and others:
            other = rng.choice(others)
            i, j = rng.randrange(len(buf) + 1), rng.randrange(len(other) + 1)
            buf = buf[:i] + other[j:]
        elif how == "tail":
            buf += rng.randbytes(rng.choice([1, 9, 300]))
        elif how == "interesting" and buf:
            i = rng.randrange(len(buf))
            value = rng.choice(INTERESTING)
            if value == 0xFE and rng.random() < 0.5:  # a length-encoded 2^64 - 1
                buf[i : i + 9] = b"\xfe" + b"\xff" * 8
            else:
                buf[i] = value
    return bytes(buf), how


def frame_stream(rng: random.Random, payloads: Sequence[bytes]) -> tuple[bytes, str]:
    """Packets with sometimes corrupted headers."""
    out = bytearray()
    how = "framed"
    for number, payload in enumerate(payloads):
        seq = number
        length = len(payload)
        roll = rng.random()
        if roll < 0.05:
            length, how = 0xFFFFFF, "max-length header"
        elif roll < 0.1:
            length, how = rng.randrange(1 << 24), "lying length"
        elif roll < 0.15:
            seq, how = rng.randrange(256), "bad sequence id"
        out += struct.pack("<I", (length & 0xFFFFFF) | ((seq & 0xFF) << 24)) + payload
    if rng.random() < 0.1:
        del out[rng.randrange(len(out) + 1) :]
        how = "truncated stream"
    return bytes(out), how


# -- in-process targets ---------------------------------------------------------------------------


class _Stmt:
    def __init__(self, count: int) -> None:
        self._params = [Column("?", FieldType.VAR_STRING) for _ in range(count)]

    @property
    def params(self) -> Sequence[Column]:
        return self._params

    @property
    def columns(self) -> Sequence[Column]:
        return [Column("a", FieldType.LONGLONG)]

    async def execute(self, params: Sequence[SqlValue]) -> Sequence[Result]:
        return [ResultSet([Column("a", FieldType.LONGLONG)], [(len(params),)])]

    def close(self) -> None:
        return None


class _Session:
    autocommit = True
    in_transaction = False

    async def execute(self, sql: str, *, multi: bool) -> Sequence[Result]:
        statements = split_statements(sql)
        if len(statements) > 1 and not multi:
            raise MySQLError(1064, "multi-statements are off")
        if sql.upper().startswith("SELECT"):
            return [ResultSet([Column("x")], [(s[:20],) for s in statements])]
        return [OkResult()]

    async def prepare(self, sql: str) -> _Stmt:
        return _Stmt(len(lex(sql).placeholders))

    async def use(self, database: str) -> None:
        if database != "test":
            raise MySQLError(1049, f"Unknown database '{database}'")

    async def field_list(self, table: str, wildcard: str) -> Sequence[Column]:
        return [Column("a")]

    async def reset(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Backend:
    def lookup_account(self, user: str, peer_host: str) -> Account | None:
        from p2pdb.sql.protocol.auth import Credential

        return Account(Credential.from_password(""))

    async def open_session(self, info: ConnectInfo) -> _Session:
        return _Session()


class _Transport:
    """Enough of an asyncio transport for MySQLConnection."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closed = True


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    slowest: dict[str, tuple[float, bytes]] = field(default_factory=dict)

    def note(self, target: str, elapsed: float, data: bytes) -> None:
        self.counts[target] += 1
        self.seconds[target] += elapsed
        if elapsed > self.slowest.get(target, (0.0, b""))[0]:
            self.slowest[target] = (elapsed, data)

    def fail(self, target: str, data: bytes, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(f"{target}: {what}\n  input ({len(data)} bytes): {data[:200].hex()}")
        self.outcomes["FAILURE"] += 1


def _call(report: Report, target: str, data: bytes, fn: Callable[[], Any]) -> None:
    start = time.perf_counter()
    try:
        fn()
        report.outcomes[f"{target}: ok"] += 1
    except ALLOWED as exc:
        report.outcomes[f"{target}: {type(exc).__name__}"] += 1
    except Exception:
        report.fail(target, data, traceback.format_exc(limit=4))
    report.note(target, time.perf_counter() - start, data)


def fuzz_framing(rng: random.Random, data: bytes) -> Callable[[], None]:
    def run() -> None:
        reader = PacketReader(rng.choice([16, 1024, 1 << 20]))
        reader.skip_oversized = rng.random() < 0.5
        pos = 0
        while pos < len(data):
            step = rng.randrange(1, len(data) - pos + 1)
            reader.feed(data[pos : pos + step])
            pos += step
            while reader.next_packet() is not None:
                pass

    return run


def fuzz_execute(rng: random.Random, data: bytes) -> Callable[[], None]:
    def run() -> None:
        registry = StatementRegistry(4, 1 << 16)
        stmt = cast(Any, _Stmt(3))
        registry.add(stmt, rng.choice([0, 1, 3, 9]))
        if rng.random() < 0.3:
            registry.send_long_data(bytes([Command.STMT_SEND_LONG_DATA]) + data[1:])
        state: StatementState = registry.get(1, "fuzz")
        if rng.random() < 0.3:
            state.types = [(rng.choice(TYPES), False) for _ in range(state.param_count)]
        statement_id(data)
        decode_execute(state, data)

    return run


def fuzz_payload(data: bytes) -> Callable[[], None]:
    def run() -> None:
        reader = PayloadReader(data)
        while reader.remaining():
            reader.lenenc_bytes()
            reader.nul_bytes()

    return run


def fuzz_query(data: bytes) -> Callable[[], None]:
    def run() -> None:
        text = data[1:].decode("utf-8", "surrogateescape")
        for statement in split_statements(text):
            lex(statement).kind  # noqa: B018

    return run


class ConnectionTarget:
    """A real MySQLConnection on a fake transport, kept logged in across inputs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        from p2pdb.sql.protocol.connection import MySQLConnection

        self.loop = loop
        self.ctx = ServerContext(cast(Any, _Backend()), ServerOptions(max_packet=1 << 20), None, None)
        self.cls = MySQLConnection
        self.conn: Any = None
        self.transport = _Transport()

    async def fresh(self, rng: random.Random, login_bytes: bytes | None = None) -> None:
        self.transport = _Transport()
        self.conn = self.cls(self.ctx)
        self.conn.connection_made(self.transport)
        self.conn.data_received(
            login_bytes if login_bytes is not None else packet(handshake_response(rng), 1)
        )
        for _ in range(4):
            await asyncio.sleep(0)
        if login_bytes is None and not self.transport.closed:
            self.conn.data_received(packet(bytes([Command.STMT_PREPARE]) + b"SELECT ?, ?, ?"))

    async def feed(self, data: bytes, complete: bool) -> str | None:
        """Feed ``data``; return a problem, or None. ``complete``: whole command packets."""
        before = self.transport.written
        complete = complete and not self.conn._reader.partial()  # else it completes an earlier packet
        self.conn.data_received(data)
        for _ in range(3):
            if self.conn._task is None:
                break
            await asyncio.sleep(0)
        if self.conn._task is not None:
            return "a command did not finish"
        silent = (bytes([Command.STMT_CLOSE]), bytes([Command.STMT_SEND_LONG_DATA]))
        answered = self.transport.written > before or self.transport.closed
        if complete and data and not answered and data[4:5] not in silent:
            return "no reply to a complete command"
        return None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.connection_lost(None)
            timer = self.conn._read_timer
            if timer is not None:
                timer.cancel()


async def run_in_process(count: int, seed: int, report: Report) -> None:
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    errors = _Errors()
    logging.getLogger("p2pdb").addHandler(errors)
    handshakes = handshake_seeds(rng)
    commands = command_seeds(rng)
    corpus = handshakes + commands
    target = ConnectionTarget(loop)
    await target.fresh(rng)
    for number in range(count):
        roll = number % 20
        if roll < 3:
            data, _ = frame_stream(
                rng, [mutate(rng, rng.choice(corpus), corpus)[0] for _ in range(rng.randint(1, 3))]
            )
            _call(report, "framing", data, fuzz_framing(rng, data))
        elif roll < 5:
            data, _ = mutate(rng, rng.choice(handshakes), corpus)
            _call(report, "handshake", data, lambda data=data: hs.parse_handshake_response(data))
        elif roll < 9:
            seed_packet = execute_payload(rng, 1, rng.choice([0, 1, 3, 9]))
            data, _ = mutate(rng, seed_packet, commands)
            _call(report, "execute", data, fuzz_execute(rng, data))
        elif roll < 10:
            data, _ = mutate(rng, rng.choice(corpus), corpus)
            _call(report, "payload", data, fuzz_payload(data))
        elif roll < 11:
            data, _ = mutate(rng, rng.choice(commands[: len(QUERIES)]), commands)
            _call(report, "query", data, fuzz_query(data))
        else:
            start = time.perf_counter()
            if roll == 19 and rng.random() < 0.2:  # a mutated login
                login, _ = frame_stream(rng, [mutate(rng, rng.choice(handshakes), corpus)[0]])
                login = login[:3] + b"\x01" + login[4:] if len(login) >= 4 else login
                target.close()
                await target.fresh(rng, login)
                problem = None
                data = login
            else:
                payloads = [mutate(rng, rng.choice(commands), commands)[0] for _ in range(rng.randint(1, 3))]
                data, how = frame_stream(rng, payloads)
                complete = how == "framed"
                problem = await target.feed(data, complete)
            report.outcomes["connection: " + ("closed" if target.transport.closed else "open")] += 1
            if problem:
                report.fail("connection", data, problem)
            if errors.records or loop_errors:
                what = "; ".join(
                    r.getMessage() + (f" {r.exc_info[1]!r}" if r.exc_info else "") for r in errors.records
                )
                report.fail("connection", data, f"unexpected error: {what} {loop_errors}")
                errors.records.clear()
                loop_errors.clear()
            report.note("connection", time.perf_counter() - start, data)
            if target.transport.closed or target.conn.phase != 1 or rng.random() < 0.01:
                target.close()
                await target.fresh(rng)
    target.close()
    logging.getLogger("p2pdb").removeHandler(errors)


# -- over sockets ---------------------------------------------------------------------------------


class _LocalServer:
    """A MySQL server over the real SQL backend (in-memory databases), in a thread."""

    def __init__(self) -> None:
        from p2pdb.log import Identity
        from p2pdb.sql.backend import Accounts, SQLBackend
        from p2pdb.sql.protocol import MySQLServer
        from p2pdb.store.registry import Registry

        self.errors = _Errors()
        logging.getLogger("p2pdb").addHandler(self.errors)
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        registry = Registry(Identity.generate(), None)
        registry.create("test")
        self.backend = SQLBackend(registry, Accounts(None))
        self.server = MySQLServer(self.backend, options=ServerOptions(max_packet=1 << 20, read_timeout=2.0))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(10)
        self.port = self.server.port

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.backend.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        logging.getLogger("p2pdb").removeHandler(self.errors)


class _Client:
    """A blocking client that logs in as root with an empty password (mysql_native_password)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    def read_packet(self) -> tuple[int, bytes]:
        head = self._read(4)
        length = head[0] | head[1] << 8 | head[2] << 16
        return head[3], self._read(length)

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def login(self) -> None:
        self.read_packet()
        caps = CLIENT_CAPS | Capability.CONNECT_WITH_DB
        body = (
            struct.pack("<IIB", caps, 1 << 24, 45)
            + b"\x00" * 23
            + b"root\x00\x00test\x00mysql_native_password\x00"
        )
        self.sock.sendall(packet(body, 1))
        seq, reply = self.read_packet()
        if reply[:1] == b"\xfe":  # auth switch: answer with an empty password
            self.sock.sendall(packet(b"", seq + 1))
            seq, reply = self.read_packet()
        if reply[:1] != b"\x00":
            raise ConnectionError(f"login failed: {reply!r}")

    def query_one(self, sql: str) -> bytes:
        """The first row of a one-column result (CLIENT_DEPRECATE_EOF is on)."""
        self.sock.sendall(packet(bytes([Command.QUERY]) + sql.encode()))
        _, first = self.read_packet()
        if first[:1] == b"\xff":
            raise ConnectionError(f"ERR {first!r}")
        for _ in range(first[0]):
            self.read_packet()
        rows = []
        while True:
            _, p = self.read_packet()
            if p[:1] == b"\xff":
                raise ConnectionError(f"ERR {p!r}")
            if p[:1] == b"\xfe" and len(p) < 0xFFFFFF:
                return rows[0] if rows else b""
            rows.append(p)

    def close(self) -> None:
        self.sock.close()


def _drain(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (TimeoutError, OSError):
        return False
    return True


def run_sockets(count: int, seed: int, port: int | None, report: Report) -> None:
    rng = random.Random(seed + 1)
    local = _LocalServer() if port is None else None
    target_port = port if port is not None else cast(_LocalServer, local).port
    corpus = command_seeds(rng)
    handshakes = handshake_seeds(rng)
    canary = _Client(target_port)
    canary.login()
    try:
        for number in range(count):
            start = time.perf_counter()
            before_login = number % 4 == 0
            try:
                client = _Client(target_port)
                if before_login:
                    client.read_packet()
                    data, _ = frame_stream(rng, [mutate(rng, rng.choice(handshakes), corpus)[0]])
                    data = data[:3] + b"\x01" + data[4:] if len(data) > 4 and rng.random() < 0.7 else data
                else:
                    client.login()
                    client.sock.sendall(packet(bytes([Command.STMT_PREPARE]) + b"SELECT ?, ?, ?"))
                    client.read_packet()
                    payloads = [mutate(rng, rng.choice(corpus), corpus)[0] for _ in range(rng.randint(1, 3))]
                    data, _ = frame_stream(rng, payloads)
                client.sock.sendall(data)
                client.sock.shutdown(socket.SHUT_WR)
                if not _drain(client.sock, 5.0):
                    report.fail("socket", data, "the server kept a half-closed connection open for 5 s")
                client.close()
            except ConnectionError:
                data = b""
            report.note("socket", time.perf_counter() - start, data)
            report.outcomes["socket: sent"] += 1
            if number % 50 == 49 or number == count - 1:
                try:
                    if canary.query_one("SELECT 1") == b"":
                        raise ConnectionError("no row")
                    fresh = _Client(target_port)
                    fresh.login()
                    fresh.query_one("SELECT 1")
                    fresh.close()
                except (ConnectionError, OSError) as exc:
                    report.fail("socket", data, f"the server stopped answering: {exc!r}")
                    return
            if local is not None and (local.errors.records or local.loop_errors):
                what = "; ".join(r.getMessage() for r in local.errors.records)
                report.fail("socket", data, f"unexpected server error: {what} {local.loop_errors}")
                local.errors.records.clear()
                local.loop_errors.clear()
    finally:
        canary.close()
        if local is not None:
            local.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="in-process inputs (default 20,000)")
    parser.add_argument("--socket-count", type=int, default=None, help="inputs over sockets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=None, help="fuzz a running node's MySQL port")
    parser.add_argument("--bound-ms", type=float, default=100.0, help="slowest in-process input allowed")
    args = parser.parse_args(argv)
    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)  # mutated SQL makes it talk
    sockets = args.socket_count if args.socket_count is not None else min(args.count // 10, 20_000)
    report = Report()
    started = time.perf_counter()
    asyncio.run(run_in_process(args.count, args.seed, report))
    in_process = time.perf_counter() - started
    socket_start = time.perf_counter()
    if sockets:
        run_sockets(sockets, args.seed, args.port, report)
    socket_time = time.perf_counter() - socket_start
    total = sum(report.counts.values())
    print(f"{total} inputs in {in_process + socket_time:.1f} s")
    for name in sorted(report.counts):
        rate = report.counts[name] / report.seconds[name] if report.seconds[name] else 0.0
        print(f"  {name:<11} {report.counts[name]:>9} inputs  {rate:>12,.0f} inputs/s (decoder time)")
    print(f"in process: {args.count / in_process:,.0f} inputs/s wall")
    if sockets:
        print(f"sockets:    {sockets / socket_time:,.0f} inputs/s wall")
    inner = {k: v for k, v in report.slowest.items() if k != "socket"}
    name, (elapsed, data) = max(inner.items(), key=lambda item: item[1][0])
    print(f"slowest in-process input: {elapsed * 1000:.2f} ms ({name}, {len(data)} bytes): {data[:48].hex()}")
    if "socket" in report.slowest:
        slow, sample = report.slowest["socket"]
        print(
            f"slowest socket input: {slow * 1000:.1f} ms (connect, send, server closes; {len(sample)} bytes)"
        )
    for outcome, number in sorted(report.outcomes.items()):
        print(f"  {outcome}: {number}")
    if report.failures:
        print(f"{report.outcomes['FAILURE']} FAILURES")
        for failure in report.failures:
            print(failure)
        return 1
    if elapsed * 1000 > args.bound_ms:
        print(f"FAILURE: an in-process input took {elapsed * 1000:.1f} ms (bound {args.bound_ms} ms)")
        return 1
    print("no failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
