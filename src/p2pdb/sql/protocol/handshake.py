"""The connection-phase packets: Initial Handshake v10, SSLRequest, HandshakeResponse41, auth switch."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .constants import AUTH_MORE_DATA, AUTH_SWITCH, Capability
from .errors import MalformedPacket
from .packets import PayloadReader

#: Connection attributes are limited like MySQL's (64 KiB in all).
MAX_ATTRIBUTES_BYTES = 65536


def build_handshake(
    *,
    server_version: str,
    connection_id: int,
    scramble: bytes,
    capabilities: int,
    collation: int,
    status: int,
    plugin: str,
) -> bytes:
    """Protocol::HandshakeV10 with a 20-byte scramble split 8 + 12 (+ NUL)."""
    if len(scramble) != 20:
        raise ValueError("scramble must be 20 bytes")
    return b"".join(
        (
            b"\x0a",
            server_version.encode() + b"\x00",
            struct.pack("<I", connection_id & 0xFFFFFFFF),
            scramble[:8],
            b"\x00",
            struct.pack("<HBHH", capabilities & 0xFFFF, collation & 0xFF, status, capabilities >> 16),
            bytes((len(scramble) + 1,)),
            b"\x00" * 10,
            scramble[8:] + b"\x00",
            plugin.encode() + b"\x00",
        )
    )


@dataclass(slots=True)
class HandshakeResponse:
    """Protocol::HandshakeResponse41 (or the SSLRequest prefix when ``ssl_request``)."""

    capabilities: int
    max_packet: int
    collation: int
    ssl_request: bool = False
    user: str = ""
    auth_response: bytes = b""
    database: str | None = None
    plugin: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def parse_handshake_response(payload: bytes) -> HandshakeResponse:
    """Parse an SSLRequest (32 bytes with CLIENT_SSL) or a full HandshakeResponse41.

    Raises MalformedPacket for anything else, including pre-4.1 clients.
    """
    r = PayloadReader(payload)
    caps = r.u32()
    if not caps & Capability.PROTOCOL_41:
        raise MalformedPacket("client does not speak protocol 4.1")
    max_packet = r.u32()
    collation = r.u8()
    r.fixed(23)  # filler (MariaDB clients may put extended capabilities in its last 4 bytes)
    resp = HandshakeResponse(caps, max_packet, collation)
    if r.remaining() == 0:
        if not caps & Capability.SSL:
            raise MalformedPacket("truncated handshake response")
        resp.ssl_request = True
        return resp
    resp.user = _text(r.nul_bytes())
    if caps & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA:
        resp.auth_response = r.lenenc_bytes()
    elif caps & Capability.SECURE_CONNECTION:
        resp.auth_response = r.fixed(r.u8())
    else:
        resp.auth_response = r.nul_bytes()
    if caps & Capability.CONNECT_WITH_DB and r.remaining():
        db = _text(r.nul_bytes())
        resp.database = db or None
    if caps & Capability.PLUGIN_AUTH and r.remaining():
        resp.plugin = _text(r.nul_bytes())
    if caps & Capability.CONNECT_ATTRS and r.remaining():
        total = r.lenenc_int()
        if total > MAX_ATTRIBUTES_BYTES:
            raise MalformedPacket("connection attributes too large")
        attrs = PayloadReader(r.fixed(total))
        while attrs.remaining():
            key = _text(attrs.lenenc_bytes())
            resp.attributes[key] = _text(attrs.lenenc_bytes())
    return resp


def auth_switch_request(plugin: str, data: bytes) -> bytes:
    """Protocol::AuthSwitchRequest: ask the client to answer with ``plugin`` over ``data`` (scramble+NUL)."""
    return bytes((AUTH_SWITCH,)) + plugin.encode() + b"\x00" + data


def auth_more_data(data: bytes) -> bytes:
    return bytes((AUTH_MORE_DATA,)) + data


#: caching_sha2_password status bytes sent as AuthMoreData.
SHA2_FAST_AUTH_OK = b"\x03"
SHA2_PERFORM_FULL_AUTH = b"\x04"
#: The client's request for the server's RSA public key.
SHA2_REQUEST_PUBLIC_KEY = b"\x02"
