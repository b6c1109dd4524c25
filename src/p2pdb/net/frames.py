"""Length-prefixed, encrypted frames after the handshake, free of I/O so that it can be fuzzed.

Wire format (all integers big-endian; see ``docs/protocol.md``, "Links"):

- A **frame** is ``u16 length`` followed by ``length`` bytes of one Noise transport message
  (ChaCha20-Poly1305 ciphertext with its 16-byte tag), so ``16 <= length <= 65535``. Handshake
  messages use the same two-byte prefix, unencrypted prefix included (as libp2p-noise does).
- An application **message** (one msgspec-encoded struct) is carried by one or more frames. The
  plaintext of its first frame starts with ``u32 total_length``, followed by the first bytes of the
  message; the plaintexts of the following frames continue it until ``total_length`` bytes have
  arrived. Only the last frame of a message may be shorter than the maximum, and no frame is empty.

:class:`FrameDecoder` raises :class:`ProtocolError` for a frame that fails to decrypt, a message
length over the limit, or any other malformed input; it refuses all further input afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

from p2pdb.net.noise import MAX_MESSAGE, TAGLEN, CipherState, NoiseError

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_FRAME_PLAINTEXT = MAX_MESSAGE - TAGLEN  # 65519 bytes of plaintext per frame
_HEADER = 4  # u32 total length at the start of a message's first frame
_PREFIX = 2  # u16 frame length


class LinkError(Exception):
    """Base class of the errors of ``p2pdb.net`` links."""


class LinkClosed(LinkError, ConnectionError):
    """The link is closed (by us, by the peer, or after an error): nothing more can be sent or received.

    Also a ``ConnectionError``, so code that handles lost connections handles it too.
    """


class ProtocolError(LinkError):
    """The peer sent something that breaks the link protocol; the link is closed."""


class HandshakeError(ProtocolError):
    """The handshake failed; ``reason`` says why in one line (wrong network, bad signature, timeout...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def length_prefixed(payload: bytes) -> bytes:
    """``u16 length || payload`` (one handshake message or one frame)."""
    if len(payload) > MAX_MESSAGE:
        raise ValueError(f"a frame holds at most {MAX_MESSAGE} bytes, not {len(payload)}")
    return len(payload).to_bytes(_PREFIX, "big") + payload


class FrameEncoder:
    """Splits messages into encrypted frames; owns the sending cipher state (and so its nonce)."""

    __slots__ = ("_cipher", "max_message_size")

    def __init__(self, cipher: CipherState, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._cipher = cipher
        self.max_message_size = max_message_size

    def encode(self, message: bytes) -> list[bytes]:
        """The wire frames of one message, in order; ``ValueError`` if it is over the size limit."""
        return list(self.iter_encode(message))

    def iter_encode(self, message: bytes) -> Iterator[bytes]:
        """Like :meth:`encode`, one frame at a time (a large message need not be encrypted at once)."""
        size = len(message)
        if size > self.max_message_size:
            raise ValueError(f"message of {size} bytes is over the limit of {self.max_message_size} bytes")
        view = memoryview(message)
        first = MAX_FRAME_PLAINTEXT - _HEADER
        yield self._frame(size.to_bytes(_HEADER, "big") + view[:first])
        for start in range(first, size, MAX_FRAME_PLAINTEXT):
            yield self._frame(view[start : start + MAX_FRAME_PLAINTEXT].tobytes())

    def _frame(self, plaintext: bytes) -> bytes:
        return length_prefixed(self._cipher.encrypt(b"", plaintext))


class FrameDecoder:
    """Feed it bytes as they arrive, get whole messages back (plaintext bytes, in order)."""

    __slots__ = ("_buffer", "_cipher", "_failed", "_parts", "_remaining", "max_message_size")

    def __init__(self, cipher: CipherState, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._cipher = cipher
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._parts: list[bytes] = []
        self._remaining = 0  # bytes still due for the message in progress; 0 = expecting a new message
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held: an incomplete frame plus the parts of an incomplete message."""
        return len(self._buffer) + sum(len(p) for p in self._parts)

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data``; return the messages it completes. ``ProtocolError`` on malformed input."""
        if self._failed:
            raise ProtocolError("the frame decoder already failed; the link must be closed")
        try:
            return self._feed(data)
        except ProtocolError:
            self._failed = True
            self._buffer.clear()
            self._parts.clear()
            raise

    def _feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        messages: list[bytes] = []
        pos = 0
        while len(buffer) - pos >= _PREFIX:
            length = int.from_bytes(buffer[pos : pos + _PREFIX], "big")
            if length <= TAGLEN:
                raise ProtocolError(f"frame of {length} bytes cannot hold an authenticated message")
            end = pos + _PREFIX + length
            if end > len(buffer):
                break
            try:
                plaintext = self._cipher.decrypt(b"", bytes(buffer[pos + _PREFIX : end]))
            except NoiseError as exc:
                raise ProtocolError(f"frame failed to decrypt: {exc}") from None
            pos = end
            message = self._take(plaintext)
            if message is not None:
                messages.append(message)
        del buffer[:pos]
        return messages

    def _take(self, plaintext: bytes) -> bytes | None:
        """Add one frame's plaintext to the message in progress; the message once it is whole."""
        if self._remaining == 0:
            if len(plaintext) < _HEADER:
                raise ProtocolError("first frame of a message is shorter than its length header")
            total = int.from_bytes(plaintext[:_HEADER], "big")
            if total > self.max_message_size:
                raise ProtocolError(
                    f"message of {total} bytes is over the limit of {self.max_message_size} bytes"
                )
            body = plaintext[_HEADER:]
            if len(body) > total:
                raise ProtocolError("frame carries more bytes than its message length")
            if len(body) == total:
                return body
            if len(body) < MAX_FRAME_PLAINTEXT - _HEADER:
                raise ProtocolError("a frame other than a message's last one is not full")
            self._parts = [body]
            self._remaining = total - len(body)
            return None
        size = len(plaintext)
        if size > self._remaining:
            raise ProtocolError("frame carries more bytes than its message length")
        if size < min(self._remaining, MAX_FRAME_PLAINTEXT):
            raise ProtocolError("a frame other than a message's last one is not full")
        self._parts.append(plaintext)
        self._remaining -= size
        if self._remaining:
            return None
        message = b"".join(self._parts)
        self._parts = []
        return message
