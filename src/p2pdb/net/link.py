"""Encrypted, authenticated links between peers over TCP (asyncio streams).

:func:`connect` dials a peer and :func:`serve` accepts them; both run the handshake below and
hand back a :class:`Link` only once both sides have accepted each other.

Handshake (``docs/protocol.md``, "Links"): Noise XX (XXpsk3 with a network key) with a fresh
X25519 static key per connection. Messages 2 and 3 carry a :class:`HandshakePayload`: link
version, network id, the sender's Ed25519 identity key and its signature of
``b"noise-libp2p-static-key:" + noise_static_key``. The responder then sends a
:class:`HandshakeVerdict` as its first transport message, so a rejected initiator learns why.
Any failure raises :class:`HandshakeError` with a one-line reason.

Backpressure: each link queues at most ``send_buffer`` bytes of outgoing messages (one message
is always admitted into an empty queue). :meth:`Link.send` waits for room; :meth:`Link.try_send`
returns ``False`` instead. One writer task per link drains its queue into the socket, so a peer
that stops reading stalls only its own link. Incoming bytes are read only when :meth:`Link.recv`
asks for a message, so a busy receiver pushes back on its sender through TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import msgspec

from p2pdb.log import Identity, peer_id, verify
from p2pdb.net import messages
from p2pdb.net.frames import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FrameDecoder,
    FrameEncoder,
    HandshakeError,
    LinkClosed,
    LinkError,
    ProtocolError,
    length_prefixed,
)
from p2pdb.net.messages import HandshakePayload, HandshakeVerdict, Message
from p2pdb.net.noise import CipherState, HandshakeState, NoiseError, generate_private_key, public_key

__all__ = [
    "HandshakeError",
    "Link",
    "LinkClosed",
    "LinkError",
    "ProtocolError",
    "connect",
    "serve",
]

log = logging.getLogger("p2pdb.net")

LINK_VERSION = 1
PROLOGUE = b"p2pdb-link/1"
SIGNATURE_PREFIX = b"noise-libp2p-static-key:"
NETWORK_KEY_LENGTH = 32
DEFAULT_TIMEOUT = 10.0
DEFAULT_SEND_BUFFER = 4 * 1024 * 1024
_READ_SIZE = 64 * 1024
_WRITE_BATCH = 256 * 1024  # bytes of queued messages written before each drain

OnLink = Callable[["Link"], Awaitable[None]]
OnError = Callable[[tuple[str, int], LinkError], None]


@dataclass(frozen=True, slots=True)
class _Session:
    send: CipherState
    receive: CipherState
    remote_key: bytes  # the peer's Ed25519 identity key
    decoder: FrameDecoder
    pending: list[bytes]  # messages that arrived with the verdict


async def connect(
    host: str,
    port: int,
    identity: Identity,
    *,
    network_id: str,
    network_key: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    send_buffer: int = DEFAULT_SEND_BUFFER,
) -> Link:
    """Dial ``host:port`` and complete the handshake within ``timeout`` seconds.

    Raises ``OSError`` (including ``TimeoutError``) if the TCP connection fails, and
    :class:`HandshakeError` if the handshake does.
    """
    _check_network_key(network_key)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with asyncio.timeout_at(deadline):
        reader, writer = await asyncio.open_connection(host, port)
    try:
        session = await _handshake_within(
            reader, writer, identity, True, network_id, network_key, deadline, max_message_size
        )
    except BaseException:
        writer.close()
        raise
    return Link(
        reader, writer, session, outbound=True, max_message_size=max_message_size, send_buffer=send_buffer
    )


async def serve(
    host: str,
    port: int,
    identity: Identity,
    on_link: OnLink,
    *,
    network_id: str,
    network_key: bytes | None = None,
    handshake_timeout: float = DEFAULT_TIMEOUT,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    send_buffer: int = DEFAULT_SEND_BUFFER,
    on_error: OnError | None = None,
    admit: Callable[[bytes], str | None] | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0 = any free port); ``await on_link(link)`` for each accepted peer.

    ``on_link`` runs in the connection's task; the link stays open after it returns (the callee
    owns it) and is closed if it raises. A failed handshake is logged as one warning line and
    reported to ``on_error(address, error)`` if given; the server keeps accepting others.
    ``admit(identity_key)`` may refuse an authenticated peer (a ban): it returns the reason, which the
    peer receives in the verdict, or None to accept.
    """
    _check_network_key(network_key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = _peer_address(writer)
        loop = asyncio.get_running_loop()
        try:
            session = await _handshake_within(
                reader,
                writer,
                identity,
                False,
                network_id,
                network_key,
                loop.time() + handshake_timeout,
                max_message_size,
                admit,
            )
        except HandshakeError as exc:
            writer.close()
            log.warning("link from %s:%d rejected: %s", address[0], address[1], exc.reason)
            if on_error is not None:
                on_error(address, exc)
            return
        except OSError as exc:
            writer.close()
            log.warning("link from %s:%d failed during the handshake: %s", address[0], address[1], exc)
            return
        except BaseException:  # cancelled (the loop is shutting down) or a bug: never leak the socket
            writer.close()
            raise
        link = Link(
            reader,
            writer,
            session,
            outbound=False,
            max_message_size=max_message_size,
            send_buffer=send_buffer,
        )
        try:
            await on_link(link)
        except Exception:
            log.exception("on_link failed for %r; closing the link", link)
            link.close()

    return await asyncio.start_server(handle, host, port)


def _check_network_key(network_key: bytes | None) -> None:
    if network_key is not None and len(network_key) != NETWORK_KEY_LENGTH:
        raise ValueError(f"a network key is {NETWORK_KEY_LENGTH} bytes, not {len(network_key)}")


def _peer_address(writer: asyncio.StreamWriter) -> tuple[str, int]:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return ("?", 0)


# -- handshake ------------------------------------------------------------------------------------


async def _handshake_within(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: Identity,
    initiator: bool,
    network_id: str,
    network_key: bytes | None,
    deadline: float,
    max_message_size: int,
    admit: Callable[[bytes], str | None] | None = None,
) -> _Session:
    try:
        async with asyncio.timeout_at(deadline):
            return await _handshake(
                reader, writer, identity, initiator, network_id, network_key, max_message_size, admit
            )
    except TimeoutError:
        raise HandshakeError("handshake timed out") from None
    except asyncio.IncompleteReadError:
        raise HandshakeError(
            "peer closed the connection during the handshake (a different network id or network key?)"
        ) from None
    except OSError as exc:
        raise HandshakeError(f"connection lost during the handshake: {exc}") from None
    except NoiseError as exc:  # e.g. a low-order ephemeral key, found when we compute ee
        raise HandshakeError(f"handshake failed: {exc}") from None


async def _handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: Identity,
    initiator: bool,
    network_id: str,
    network_key: bytes | None,
    max_message_size: int,
    admit: Callable[[bytes], str | None] | None = None,
) -> _Session:
    """The three Noise messages and the verdict, numbered as on the wire."""
    static = generate_private_key()
    noise = HandshakeState(initiator, static, psk=network_key, prologue=PROLOGUE)
    own_payload = messages.encode_handshake(
        HandshakePayload(
            version=LINK_VERSION,
            network_id=network_id,
            identity_key=identity.public_key,
            identity_sig=identity.sign(SIGNATURE_PREFIX + public_key(static)),
        )
    )
    if initiator:
        # 1. -> e (empty payload: nothing is encrypted yet in XX)
        writer.write(length_prefixed(noise.write_message(b"")))
        # 2. <- e, ee, s, es + the responder's payload
        payload = _read_noise(noise, await _read_handshake_message(reader), "second")
        remote_key = _check_payload(payload, noise, identity, network_id)
        # 3. -> s, se[, psk] + our payload
        writer.write(length_prefixed(noise.write_message(own_payload)))
        send, receive = noise.split()
        decoder = FrameDecoder(receive, max_message_size)
        # 4. <- verdict, the responder's first transport message
        received = await _read_messages(reader, decoder)
        verdict = _decode_verdict(received[0])
        if not verdict.accepted:
            raise HandshakeError(f"peer rejected us: {verdict.reason!r}")
        return _Session(send, receive, remote_key, decoder, received[1:])
    # 1. <- e
    if _read_noise(noise, await _read_handshake_message(reader), "first"):
        raise HandshakeError(
            "unexpected payload in the first handshake message (the peer uses a network key?)"
        )
    # 2. -> e, ee, s, es + our payload
    writer.write(length_prefixed(noise.write_message(own_payload)))
    # 3. <- s, se[, psk] + the initiator's payload
    payload = _read_noise(noise, await _read_handshake_message(reader), "third")
    send, receive = noise.split()
    encoder = FrameEncoder(send, max_message_size)
    try:
        remote_key = _check_payload(payload, noise, identity, network_id)
        refusal = admit(remote_key) if admit is not None else None
        if refusal is not None:
            raise HandshakeError(refusal)
    except HandshakeError as exc:
        # 4. -> verdict: rejected, with the reason
        writer.writelines(
            encoder.encode(messages.encode_handshake(HandshakeVerdict(False, exc.reason[:200])))
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        raise
    # 4. -> verdict: accepted
    writer.writelines(encoder.encode(messages.encode_handshake(HandshakeVerdict(True))))
    await writer.drain()
    return _Session(send, receive, remote_key, FrameDecoder(receive, max_message_size), [])


async def _read_handshake_message(reader: asyncio.StreamReader) -> bytes:
    length = int.from_bytes(await reader.readexactly(2), "big")
    return await reader.readexactly(length)


def _read_noise(noise: HandshakeState, message: bytes, which: str) -> bytes:
    try:
        return noise.read_message(message)
    except NoiseError as exc:
        hint = " (a different network key?)" if which != "second" else ""
        raise HandshakeError(f"{which} handshake message rejected: {exc}{hint}") from None


async def _read_messages(reader: asyncio.StreamReader, decoder: FrameDecoder) -> list[bytes]:
    """Read until the decoder yields at least one message."""
    while True:
        data = await reader.read(_READ_SIZE)
        if not data:
            raise asyncio.IncompleteReadError(b"", None)
        try:
            received = decoder.feed(data)
        except ProtocolError as exc:
            raise HandshakeError(f"malformed handshake verdict: {exc}") from None
        if received:
            return received


def _decode_verdict(data: bytes) -> HandshakeVerdict:
    try:
        return messages.decode_verdict(data)
    except msgspec.DecodeError as exc:
        raise HandshakeError(f"malformed handshake verdict: {exc}") from None


def _check_payload(data: bytes, noise: HandshakeState, identity: Identity, network_id: str) -> bytes:
    """The remote identity key, once its payload proves it holds the Noise static key it used."""
    try:
        payload = messages.decode_payload(data)
    except msgspec.DecodeError as exc:
        raise HandshakeError(f"malformed handshake payload: {exc}") from None
    if payload.version != LINK_VERSION:
        raise HandshakeError(f"peer speaks link version {payload.version}, we speak {LINK_VERSION}")
    if payload.network_id != network_id:
        raise HandshakeError(f"peer is in network {payload.network_id!r}, we are in {network_id!r}")
    assert noise.remote_static is not None  # set by the 's' token before the payload
    if not verify(payload.identity_key, payload.identity_sig, SIGNATURE_PREFIX + noise.remote_static):
        raise HandshakeError("peer's identity signature over its Noise static key is invalid")
    if payload.identity_key == identity.public_key:
        raise HandshakeError("connected to ourselves")
    return payload.identity_key


# -- the link ---------------------------------------------------------------------------------------


class Link:
    """An open, authenticated link to one peer. Create with :func:`connect` or :func:`serve`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: _Session,
        *,
        outbound: bool,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        send_buffer: int = DEFAULT_SEND_BUFFER,
    ) -> None:
        self.remote_public_key: bytes = session.remote_key
        self.remote_peer_id: str = peer_id(session.remote_key)
        self.remote_address: tuple[str, int] = _peer_address(writer)
        self.outbound = outbound  # True if we dialed
        self.send_buffer = send_buffer
        self.max_message_size = max_message_size
        self.error: LinkError | None = None  # why the link closed, if not by close()
        self._reader = reader
        self._writer = writer
        self._encoder = FrameEncoder(session.send, max_message_size)
        self._decoder = session.decoder
        self._incoming: deque[bytes] = deque(session.pending)
        self._outgoing: deque[bytes] = deque()
        self._queued = 0  # bytes in _outgoing plus the batch being written
        self._room = asyncio.Event()
        self._room.set()
        self._work = asyncio.Event()
        self._receiving = False
        self._closed = False
        #: Bytes this link wrote to and read from its socket after the handshake (frames, with
        #: their length prefixes and authentication tags).
        self.bytes_sent = 0
        self.bytes_received = 0
        self._writer_task = asyncio.get_running_loop().create_task(self._write_loop())

    def __repr__(self) -> str:
        host, port = self.remote_address
        return f"Link({self.remote_peer_id} at {host}:{port}, {'out' if self.outbound else 'in'})"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued_bytes(self) -> int:
        """Bytes of outgoing messages not yet handed to the socket."""
        return self._queued

    # -- sending

    async def send(self, message: Message) -> None:
        """Queue ``message``, waiting while the send buffer is full.

        Raises :class:`LinkClosed` if the link is or becomes closed, ``ValueError`` if the
        encoded message is over ``max_message_size``. Returning means queued, not delivered.
        """
        data = self._encode(message)
        while not self._admit(data):
            self._room.clear()
            await self._room.wait()

    def try_send(self, message: Message) -> bool:
        """Queue ``message`` if the send buffer has room; ``False`` if it is full (nothing queued)."""
        return self._admit(self._encode(message))

    def _encode(self, message: Message) -> bytes:
        data = messages.encode(message)
        if len(data) > self.max_message_size:
            raise ValueError(
                f"message of {len(data)} bytes is over the limit of {self.max_message_size} bytes"
            )
        return data

    def _admit(self, data: bytes) -> bool:
        if self._closed:
            raise LinkClosed(f"{self!r} is closed") from self.error
        if self._queued and self._queued + len(data) > self.send_buffer:
            return False
        self._outgoing.append(data)
        self._queued += len(data)
        self._work.set()
        return True

    async def _write_loop(self) -> None:
        writer = self._writer
        try:
            while True:
                while not self._outgoing:
                    self._work.clear()
                    await self._work.wait()
                batch = 0
                frames: list[bytes] = []
                while self._outgoing and batch < _WRITE_BATCH:
                    data = self._outgoing.popleft()
                    frames.extend(self._encoder.iter_encode(data))
                    batch += len(data)
                # One write (one system call) for every message queued meanwhile.
                if frames:
                    payload = frames[0] if len(frames) == 1 else b"".join(frames)
                    writer.write(payload)
                    self.bytes_sent += len(payload)
                await writer.drain()
                self._queued -= batch
                self._room.set()
        except OSError as exc:
            self._fail(LinkClosed(f"connection lost while sending: {exc}"))
        except Exception as exc:  # a bug or an exhausted nonce: never leave a dead writer behind
            log.exception("writer of %r failed", self)
            self._fail(LinkClosed(f"writer failed: {exc!r}"))

    async def drain(self) -> None:
        """Wait until every queued message has been handed to the socket (or the link closed)."""
        while self._queued and not self._closed:
            self._room.clear()
            await self._room.wait()

    # -- receiving

    async def recv(self) -> Message:
        """The next message. Raises :class:`LinkClosed` once the link is closed (cleanly or not)
        and :class:`ProtocolError` (closing the link) if the peer sends anything malformed."""
        if self._receiving:
            raise RuntimeError("recv() is already waiting on this link")
        self._receiving = True
        try:
            while not self._incoming:
                await self._fill()
            try:
                return messages.decode(self._incoming.popleft())
            except ProtocolError as exc:
                self._fail(exc)
                raise
        finally:
            self._receiving = False

    async def _fill(self) -> None:
        if self._closed:
            raise LinkClosed(f"{self!r} is closed") from self.error
        try:
            data = await self._reader.read(_READ_SIZE)
        except OSError as exc:
            self._fail(LinkClosed(f"connection lost: {exc}"))
            raise LinkClosed(f"{self!r} lost its connection: {exc}") from None
        if self._closed:  # closed on this side while the read waited (e.g. a silent link)
            raise LinkClosed(f"{self!r} is closed") from self.error
        self.bytes_received += len(data)
        if not data:
            if self._decoder.buffered:
                # A peer killed while sending, or a connection cut: not proof of bad intent (a
                # forged or garbled frame fails its authentication instead), so no ban follows.
                self._fail(LinkClosed("connection lost in the middle of a message"))
                raise LinkClosed(f"{self!r} lost its connection in the middle of a message")
            self._fail(LinkClosed("closed by the peer"))
            raise LinkClosed(f"{self!r} was closed by the peer")
        try:
            self._incoming.extend(self._decoder.feed(data))
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        """Messages until the link closes; a :class:`ProtocolError` still propagates."""
        while True:
            try:
                yield await self.recv()
            except LinkClosed:
                return

    # -- closing

    def _fail(self, error: LinkError) -> None:
        if not self._closed:
            self.error = error
            log.debug("closing %r: %s", self, error)  # the caller of recv() logs what matters to it
        self.close()

    def close(self) -> None:
        """Close now: queued messages are dropped, waiting senders get :class:`LinkClosed`."""
        if self._closed:
            return
        self._closed = True
        self._outgoing.clear()
        self._room.set()
        self._writer_task.cancel()
        self._writer.close()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed (call :meth:`close` first)."""
        await asyncio.wait([self._writer_task])
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
