"""TLS over memory BIOs, so a connection can switch to TLS mid-stream without losing buffered bytes.

MySQL upgrades a plain connection after the client's SSLRequest; the client starts its TLS handshake
at once, so its ClientHello may arrive in the same read as the SSLRequest. ``loop.start_tls`` would
drop those bytes; driving an ``ssl.SSLObject`` ourselves lets the connection hand them over.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable


class TlsClosed(Exception):
    """The peer sent a TLS close_notify."""


class TlsLayer:
    """Server side of a TLS session: decrypts received bytes, encrypts sent bytes via ``write_raw``."""

    __slots__ = ("_incoming", "_obj", "_outgoing", "_write_raw", "handshake_done")

    def __init__(self, context: ssl.SSLContext, write_raw: Callable[[bytes], None]) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._write_raw = write_raw
        self.handshake_done = False

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._write_raw(data)

    def receive(self, data: bytes) -> bytes:
        """Feed received ciphertext; return the plaintext now available (maybe empty).

        Raises ``ssl.SSLError`` on a failed handshake or corrupt record, :class:`TlsClosed` on close_notify.
        """
        if data:
            self._incoming.write(data)
        if not self.handshake_done:
            try:
                self._obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return b""
            finally:
                # The failed-handshake alert also goes out before the error propagates.
                self._flush()
            self.handshake_done = True
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._obj.read(262144)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError as exc:
                raise TlsClosed from exc
            if not chunk:
                break
            chunks.append(chunk)
        self._flush()
        return b"".join(chunks)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._obj.write(view)
            view = view[written:]
            self._flush()

    @property
    def version(self) -> str | None:
        return self._obj.version()
