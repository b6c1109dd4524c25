"""Packet framing (3-byte length + sequence id), length-encoded values, and a bounds-checked payload reader.

A MySQL packet is ``len:3 LE | seq:1 | payload``. Payloads of 16 MiB - 1 bytes or more are split into
chunks of exactly ``0xFFFFFF`` bytes followed by a shorter (possibly empty) chunk; :class:`PacketReader`
joins them and enforces ``max_allowed_packet`` as soon as a header announces too much, before buffering it.
"""

from __future__ import annotations

import struct

from .constants import MAX_PACKET_CHUNK
from .errors import MalformedPacket

_pack_u32 = struct.Struct("<I").pack
_pack_u16 = struct.Struct("<H").pack
_unpack_u16 = struct.Struct("<H").unpack_from
_unpack_u32 = struct.Struct("<I").unpack_from
_unpack_u64 = struct.Struct("<Q").unpack_from

#: ``_LENENC_SMALL[n]`` is the one-byte length prefix for ``n < 251``.
_LENENC_SMALL = [bytes((i,)) for i in range(251)]
NULL_VALUE = b"\xfb"


def lenenc_int(n: int) -> bytes:
    """Encode a length-encoded integer."""
    if n < 251:
        return _LENENC_SMALL[n]
    if n < 0x10000:
        return b"\xfc" + _pack_u16(n)
    if n < 0x1000000:
        return b"\xfd" + _pack_u32(n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_bytes(b: bytes) -> bytes:
    """Encode a length-encoded string."""
    n = len(b)
    if n < 251:
        return _LENENC_SMALL[n] + b
    return lenenc_int(n) + b


def frame(payload: bytes, seq: int) -> tuple[bytes, int]:
    """Frame ``payload`` as packet(s) starting at sequence id ``seq``; return the bytes and the next seq."""
    n = len(payload)
    if n < MAX_PACKET_CHUNK:
        return _pack_u32(n | (seq << 24)) + payload, (seq + 1) & 0xFF
    parts: list[bytes] = []
    view = memoryview(payload)
    pos = 0
    while True:
        chunk = view[pos : pos + MAX_PACKET_CHUNK]
        parts.append(_pack_u32(len(chunk) | (seq << 24)))
        parts.append(bytes(chunk))
        seq = (seq + 1) & 0xFF
        pos += len(chunk)
        if len(chunk) < MAX_PACKET_CHUNK:
            return b"".join(parts), seq


class PacketTooLarge(Exception):
    """A packet header announced a payload above the configured limit."""

    def __init__(self, size: int, seq: int) -> None:
        super().__init__(f"packet of {size} bytes exceeds the limit")
        self.size = size
        self.seq = seq


class PacketReader:
    """Accumulates received bytes and yields complete logical packets as ``(seq, payload)``.

    ``seq`` is the sequence id of the first chunk; ids of continuation chunks are checked to follow on.
    ``max_payload`` may be changed at any time (it is smaller before authentication).

    With ``skip_oversized`` the reader does not fail on the header of an oversized packet but discards
    the packet's bytes as they arrive (never buffering them) and raises :class:`PacketTooLarge` after
    its last chunk, whose sequence id lets the server answer in sequence.
    """

    __slots__ = (
        "_buf",
        "_parts",
        "_parts_len",
        "_pos",
        "_seq",
        "_skip_left",
        "_skip_more",
        "_skip_total",
        "max_payload",
        "skip_oversized",
    )

    def __init__(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self.skip_oversized = False
        self._buf = bytearray()
        self._pos = 0
        self._parts: list[bytes] = []
        self._parts_len = 0
        self._seq = -1
        self._skip_left = -1  # bytes of the oversized chunk still to discard; -1 when not skipping
        self._skip_more = False
        self._skip_total = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def take_buffered(self) -> bytes:
        """Return and drop every unparsed byte (used when switching to TLS)."""
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return rest

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def partial(self) -> bool:
        """A packet has begun to arrive and is not complete yet."""
        return self._pos < len(self._buf) or self._skip_left >= 0 or bool(self._parts)

    def next_packet(self) -> tuple[int, bytes] | None:
        """Return the next complete packet, or None if more bytes are needed.

        Raises :class:`PacketTooLarge` when a header exceeds ``max_payload`` and :class:`MalformedPacket`
        when the sequence ids of a split payload do not follow on.
        """
        buf = self._buf
        while True:
            if self._skip_left >= 0 and not self._skip():
                return None
            pos = self._pos
            avail = len(buf) - pos
            if avail < 4:
                return None
            length = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            seq = buf[pos + 3]
            if self._parts_len + length > self.max_payload or self._skip_total:
                total = self._parts_len + self._skip_total + length
                if not self.skip_oversized:
                    raise PacketTooLarge(total, seq)
                self._parts, self._parts_len = [], 0
                self._skip_total, self._skip_left = total, length
                self._skip_more, self._seq = length == MAX_PACKET_CHUNK, seq
                self._pos = pos + 4
                continue
            end = pos + 4 + length
            if len(buf) < end:
                return None
            payload = bytes(buf[pos + 4 : end])
            if end == len(buf):
                buf.clear()
                self._pos = 0
            elif end > 65536:
                del buf[:end]
                self._pos = 0
            else:
                self._pos = end
            if self._parts and seq != (self._seq + len(self._parts)) & 0xFF:
                raise MalformedPacket("sequence id of a continuation packet does not follow on")
            if length == MAX_PACKET_CHUNK:
                if not self._parts:
                    self._seq = seq
                self._parts.append(payload)
                self._parts_len += length
                continue
            if self._parts:
                self._parts.append(payload)
                first_seq = self._seq
                payload = b"".join(self._parts)
                self._parts = []
                self._parts_len = 0
                return first_seq, payload
            return seq, payload

    def _skip(self) -> bool:
        """Discard the oversized packet's bytes; False while more are needed."""
        buf = self._buf
        take = min(len(buf) - self._pos, self._skip_left)
        self._skip_left -= take
        del buf[: self._pos + take]
        self._pos = 0
        if self._skip_left:
            return False
        self._skip_left = -1
        if self._skip_more:
            return True  # the next chunk header follows; it is skipped too (``_skip_total`` is set)
        total, self._skip_total = self._skip_total, 0
        raise PacketTooLarge(total, self._seq)


class PayloadReader:
    """Reads protocol fields from one payload, raising :class:`MalformedPacket` past its end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _need(self, n: int) -> int:
        pos = self.pos
        if n < 0 or pos + n > len(self.data):
            raise MalformedPacket(f"need {n} bytes at offset {pos}, payload has {len(self.data)}")
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        return self.data[self._need(1)]

    def u16(self) -> int:
        return int(_unpack_u16(self.data, self._need(2))[0])

    def u24(self) -> int:
        pos = self._need(3)
        return int.from_bytes(self.data[pos : pos + 3], "little")

    def u32(self) -> int:
        return int(_unpack_u32(self.data, self._need(4))[0])

    def u64(self) -> int:
        return int(_unpack_u64(self.data, self._need(8))[0])

    def fixed(self, n: int) -> bytes:
        pos = self._need(n)
        return self.data[pos : pos + n]

    def rest(self) -> bytes:
        pos = self.pos
        self.pos = len(self.data)
        return self.data[pos:]

    def lenenc_int(self) -> int:
        first = self.u8()
        if first < 251:
            return first
        if first == 0xFC:
            return self.u16()
        if first == 0xFD:
            return self.u24()
        if first == 0xFE:
            return self.u64()
        raise MalformedPacket(f"invalid length-encoded integer prefix 0x{first:02x}")

    def lenenc_bytes(self) -> bytes:
        return self.fixed(self.lenenc_int())

    def nul_bytes(self) -> bytes:
        """A NUL-terminated string; a missing terminator reads to the end of the payload."""
        data = self.data
        end = data.find(b"\x00", self.pos)
        if end < 0:
            return self.rest()
        value = data[self.pos : end]
        self.pos = end + 1
        return value
