"""A minimal blocking MySQL client over a raw socket, for tests that need exact control of the bytes."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from p2pdb.sql.protocol.constants import Capability, Command
from p2pdb.sql.protocol.packets import PayloadReader, lenenc_bytes

TIMEOUT = 5.0

BASE_CAPS = (
    Capability.LONG_PASSWORD
    | Capability.PROTOCOL_41
    | Capability.SECURE_CONNECTION
    | Capability.PLUGIN_AUTH
    | Capability.TRANSACTIONS
    | Capability.MULTI_RESULTS
    | Capability.PS_MULTI_RESULTS
)


@dataclass
class Ok:
    affected: int
    last_id: int
    status: int
    warnings: int
    info: bytes = b""


@dataclass
class Err:
    code: int
    sqlstate: str
    message: str


@dataclass
class Rows:
    columns: list[tuple[str, int, int]] = field(default_factory=list)  # name, type, flags
    rows: list[bytes] = field(default_factory=list)  # raw row payloads
    status: int = 0
    warnings: int = 0


def parse_ok(p: bytes) -> Ok:
    r = PayloadReader(p, 1)
    affected, last_id = r.lenenc_int(), r.lenenc_int()
    status, warnings = r.u16(), r.u16()
    return Ok(affected, last_id, status, warnings, r.lenenc_bytes() if r.remaining() else b"")


def parse_err(p: bytes) -> Err:
    code = struct.unpack_from("<H", p, 1)[0]
    return Err(code, p[4:9].decode(), p[9:].decode())


def parse_column(p: bytes) -> tuple[str, int, int]:
    r = PayloadReader(p)
    for _ in range(4):  # catalog, schema, table, org_table
        r.lenenc_bytes()
    name = r.lenenc_bytes().decode()
    r.lenenc_bytes()
    r.lenenc_int()
    r.u16()
    r.u32()
    ftype = r.u8()
    flags = r.u16()
    return name, ftype, flags


class RawClient:
    def __init__(self, port: int, *, connect: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.seq = 0
        self.caps = 0
        self.handshake = b""
        if connect:
            self.handshake = self.read()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- packets

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return buf

    def read(self) -> bytes:
        header = self._recv_exact(4)
        length = int.from_bytes(header[:3], "little")
        assert header[3] == self.seq, f"sequence id {header[3]}, expected {self.seq}"
        self.seq = (self.seq + 1) & 0xFF
        return self._recv_exact(length)

    def write(self, payload: bytes, seq: int | None = None) -> None:
        if seq is not None:
            self.seq = seq
        self.sock.sendall(struct.pack("<I", len(payload) | (self.seq << 24)) + payload)
        self.seq = (self.seq + 1) & 0xFF

    # --- phases

    def login(self, user: str = "root", caps: int = BASE_CAPS, database: str | None = None) -> Ok | Err:
        """Log in with an empty password (mysql_native_password)."""
        self.caps = caps | (Capability.CONNECT_WITH_DB if database else 0)
        body = struct.pack("<IIB23x", self.caps, 1 << 24, 45) + user.encode() + b"\x00" + b"\x00"
        if database:
            body += database.encode() + b"\x00"
        body += b"mysql_native_password\x00"
        self.write(body)
        return self.reply()

    def reply(self) -> Ok | Err:
        p = self.read()
        if p[0] == 0xFF:
            return parse_err(p)
        assert p[0] == 0x00, p
        return parse_ok(p)

    def command(self, cmd: int, body: bytes = b"") -> None:
        self.write(bytes((cmd,)) + body, seq=0)

    def query(self, sql: str) -> list[Ok | Err | Rows]:
        """COM_QUERY; returns every result of the reply (following SERVER_MORE_RESULTS_EXISTS)."""
        self.command(Command.QUERY, sql.encode())
        return self.results()

    def results(self, binary: bool = False) -> list[Ok | Err | Rows]:
        out: list[Ok | Err | Rows] = []
        while True:
            res = self.result(binary)
            out.append(res)
            if isinstance(res, Err) or not res.status & 0x08:
                return out

    def result(self, binary: bool = False) -> Ok | Err | Rows:
        p = self.read()
        if p[0] == 0xFF:
            return parse_err(p)
        if p[0] == 0x00:
            return parse_ok(p)
        ncols = PayloadReader(p).lenenc_int()
        rows = Rows([parse_column(self.read()) for _ in range(ncols)])
        deprecate_eof = bool(self.caps & Capability.DEPRECATE_EOF)
        if not deprecate_eof:
            eof = self.read()
            assert eof[0] == 0xFE and len(eof) == 5, eof
        while True:
            p = self.read()
            if p[0] == 0xFF:
                err = parse_err(p)
                raise AssertionError(f"error in rows: {err}")
            if p[0] == 0xFE and len(p) < 9:
                if deprecate_eof:
                    ok = parse_ok(p)
                    rows.status, rows.warnings = ok.status, ok.warnings
                else:
                    rows.warnings, rows.status = struct.unpack_from("<HH", p, 1)
                return rows
            rows.rows.append(p)


def text_row(payload: bytes) -> list[bytes | None]:
    r = PayloadReader(payload)
    values: list[bytes | None] = []
    while r.remaining():
        if payload[r.pos] == 0xFB:
            r.pos += 1
            values.append(None)
        else:
            values.append(r.lenenc_bytes())
    return values


def execute_body(stmt_id: int, params: list[tuple[int, bytes | None]], bound: bool = True) -> bytes:
    """COM_STMT_EXECUTE body for (type, encoded value or None) parameters."""
    body = struct.pack("<IBI", stmt_id, 0, 1)
    if params:
        bitmap = bytearray((len(params) + 7) // 8)
        for i, (_, value) in enumerate(params):
            if value is None:
                bitmap[i // 8] |= 1 << (i % 8)
        body += bytes(bitmap) + (b"\x01" if bound else b"\x00")
        if bound:
            body += b"".join(struct.pack("<BB", t & 0xFF, 0x80 if t & 0x100 else 0) for t, _ in params)
        body += b"".join(v for _, v in params if v is not None)
    return body


def lenenc_str(s: str | bytes) -> bytes:
    return lenenc_bytes(s.encode() if isinstance(s, str) else s)
