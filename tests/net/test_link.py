"""Links over real TCP on 127.0.0.1 (port 0): handshake outcomes, hostile input, large messages, backpressure."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from p2pdb.log import Identity
from p2pdb.net import (
    Blocks,
    HandshakeError,
    Hello,
    Link,
    LinkClosed,
    LinkError,
    Ping,
    Pong,
    ProtocolError,
    Publish,
    connect,
    serve,
)
from p2pdb.net import link as link_module
from p2pdb.net.frames import length_prefixed

T = TypeVar("T")
WAIT = 5.0  # seconds: the bound on every wait in this file
NET = "test-net"
KEY = b"n" * 32

ALICE = Identity.from_seed(b"a" * 32)
BOB = Identity.from_seed(b"b" * 32)
CAROL = Identity.from_seed(b"c" * 32)


async def within(awaitable: Awaitable[T], seconds: float = WAIT) -> T:
    return await asyncio.wait_for(awaitable, seconds)


@dataclass
class Server:
    """A listening peer: accepted links and handshake failures arrive on queues."""

    server: asyncio.Server
    links: asyncio.Queue[Link] = field(default_factory=asyncio.Queue)
    errors: asyncio.Queue[LinkError] = field(default_factory=asyncio.Queue)

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def start() -> AsyncIterator[Any]:
    servers: list[Server] = []
    links: list[Link] = []

    async def _start(identity: Identity = ALICE, **options: Any) -> Server:
        options.setdefault("network_id", NET)
        holder: list[Server] = []

        async def on_link(link: Link) -> None:
            links.append(link)
            await holder[0].links.put(link)

        def on_error(address: tuple[str, int], error: LinkError) -> None:
            holder[0].errors.put_nowait(error)

        server = Server(await serve("127.0.0.1", 0, identity, on_link, on_error=on_error, **options))
        holder.append(server)
        servers.append(server)
        return server

    _start.links = links  # type: ignore[attr-defined]
    yield _start
    for link in links:
        link.close()
    for server in servers:
        server.server.close()
        await within(server.server.wait_closed())


async def dial(server: Server, identity: Identity = BOB, **options: Any) -> Link:
    options.setdefault("network_id", NET)
    options.setdefault("timeout", WAIT)
    return await within(connect("127.0.0.1", server.port, identity, **options))


async def pair(start: Any, **options: Any) -> tuple[Link, Link]:
    """(dialer's link, listener's link) between BOB and ALICE."""
    server = await start(ALICE, **options)
    outbound = await dial(server, BOB, **options)
    start.links.append(outbound)
    return outbound, await within(server.links.get())


# -- handshake ------------------------------------------------------------------------------------


@pytest.mark.parametrize("network_key", [None, KEY], ids=["open", "private"])
async def test_handshake_authenticates_both_sides(start: Any, network_key: bytes | None) -> None:
    outbound, inbound = await pair(start, network_key=network_key)
    assert outbound.remote_peer_id == ALICE.peer_id and outbound.remote_public_key == ALICE.public_key
    assert inbound.remote_peer_id == BOB.peer_id and inbound.remote_public_key == BOB.public_key
    assert outbound.outbound and not inbound.outbound
    assert outbound.remote_address[0] == inbound.remote_address[0] == "127.0.0.1"
    await within(outbound.send(Ping(nonce=1)))
    assert await within(inbound.recv()) == Ping(nonce=1)
    await within(inbound.send(Pong(nonce=1)))
    assert await within(outbound.recv()) == Pong(nonce=1)


async def test_messages_sent_right_after_the_handshake_are_not_lost() -> None:
    # the listener's first messages may arrive in the same read as its verdict
    hello = Hello(peer_id=ALICE.peer_id, listen=["127.0.0.1:1"], databases=["shop"], version=1)
    accepted: list[Link] = []

    async def greet(link: Link) -> None:
        accepted.append(link)
        for i in range(50):
            assert link.try_send(Ping(nonce=i))
        await link.send(hello)

    server = await serve("127.0.0.1", 0, ALICE, greet, network_id=NET)
    try:
        outbound = await within(connect("127.0.0.1", server.sockets[0].getsockname()[1], BOB, network_id=NET))
        received = [await within(outbound.recv()) for _ in range(51)]
        assert received == [Ping(nonce=i) for i in range(50)] + [hello]
        outbound.close()
    finally:
        for link in accepted:
            link.close()
        server.close()
        await within(server.wait_closed())


async def test_wrong_network_id_fails_on_both_sides(start: Any) -> None:
    server = await start(ALICE, network_id="shop-net")
    with pytest.raises(HandshakeError, match="network 'shop-net'"):
        await dial(server, network_id="other-net")
    assert isinstance(await within(server.errors.get()), HandshakeError)
    assert server.links.empty()


@pytest.mark.parametrize(
    ("server_key", "client_key"),
    [(KEY, None), (None, KEY), (KEY, b"m" * 32)],
    ids=["server-only", "client-only", "different-keys"],
)
async def test_network_key_mismatch_fails_on_both_sides(
    start: Any, server_key: bytes | None, client_key: bytes | None
) -> None:
    server = await start(ALICE, network_key=server_key)
    with pytest.raises(HandshakeError):
        await dial(server, network_key=client_key)
    assert isinstance(await within(server.errors.get()), HandshakeError)
    assert server.links.empty()


class Forger:
    """Claims ``victim``'s identity key but can only sign with its own."""

    def __init__(self, victim: Identity, own: Identity) -> None:
        self.public_key = victim.public_key
        self.peer_id = victim.peer_id
        self.sign = own.sign


async def test_forged_identity_signature_fails_on_both_sides(start: Any) -> None:
    # 1. a forging dialer: the listener rejects it and tells it why
    server = await start(ALICE)
    with pytest.raises(HandshakeError, match=r"rejected us.*signature"):
        await dial(server, Forger(CAROL, BOB))  # type: ignore[arg-type]
    error = await within(server.errors.get())
    assert isinstance(error, HandshakeError) and "signature" in error.reason
    # 2. a forging listener: the dialer rejects it and the listener sees the connection drop
    forger = await start(Forger(CAROL, ALICE))  # type: ignore[arg-type]
    with pytest.raises(HandshakeError, match="signature"):
        await dial(forger)
    assert isinstance(await within(forger.errors.get()), HandshakeError)


async def test_connecting_to_ourselves_fails(start: Any) -> None:
    server = await start(ALICE)
    with pytest.raises(HandshakeError, match="ourselves"):
        await dial(server, ALICE)


async def test_handshake_timeout_on_both_sides(start: Any) -> None:
    # 1. a listener facing a silent client gives up after its handshake timeout
    server = await start(ALICE, handshake_timeout=0.3)
    _, writer = await within(asyncio.open_connection("127.0.0.1", server.port))
    error = await within(server.errors.get())
    assert isinstance(error, HandshakeError) and "timed out" in error.reason
    writer.close()
    # 2. a dialer facing a silent listener gives up after its timeout
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    try:
        port = silent.sockets[0].getsockname()[1]
        with pytest.raises(HandshakeError, match="timed out"):
            await within(connect("127.0.0.1", port, BOB, network_id=NET, timeout=0.3))
    finally:
        for accepted_writer in accepted:
            accepted_writer.close()
        silent.close()
        await within(silent.wait_closed())


def test_bad_network_key_size_is_refused() -> None:
    with pytest.raises(ValueError):
        asyncio.run(connect("127.0.0.1", 1, BOB, network_id=NET, network_key=b"short"))


# -- hostile input from a raw TCP socket --------------------------------------------------------------


async def raw_session(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Any]:
    """A raw TCP client that completes a genuine handshake, then writes whatever a test wants."""
    reader, writer = await within(asyncio.open_connection("127.0.0.1", server.port))
    session = await within(link_module._handshake(reader, writer, BOB, True, NET, None, 1 << 24))
    return reader, writer, session


async def assert_still_serving(server: Server) -> None:
    link = await dial(server, CAROL)
    await within(link.send(Ping(nonce=9)))
    inbound = await within(server.links.get())
    assert await within(inbound.recv()) == Ping(nonce=9)
    link.close()


@pytest.mark.parametrize(
    "junk",
    [os.urandom(64), b"\xff\xff" + os.urandom(100), b"\x00\x20" + bytes(10), b"\x00"],
    ids=["garbage", "long-length-then-eof", "truncated", "one-byte"],
)
async def test_junk_before_the_handshake_is_rejected(start: Any, junk: bytes) -> None:
    server = await start(ALICE)
    _, writer = await within(asyncio.open_connection("127.0.0.1", server.port))
    writer.write(junk)
    await within(writer.drain())
    writer.write_eof()
    assert isinstance(await within(server.errors.get()), ProtocolError)
    writer.close()
    await assert_still_serving(server)


def _frame(session: Any, plaintext: bytes) -> bytes:
    return length_prefixed(session.send.encrypt(b"", plaintext))


@pytest.mark.parametrize(
    ("attack", "match"),
    [
        ("garbage", "decrypt"),
        ("oversize-length", "over the limit"),
        ("short-frame", "cannot hold"),
        ("bad-message", "malformed message"),
    ],
)
async def test_hostile_frames_close_the_link_with_protocol_error(start: Any, attack: str, match: str) -> None:
    server = await start(ALICE)
    _, writer, session = await raw_session(server)
    inbound = await within(server.links.get())
    if attack == "garbage":
        writer.write(b"\x01\x00" + os.urandom(256))
    elif attack == "oversize-length":
        writer.write(_frame(session, (16 * 1024 * 1024 + 1).to_bytes(4, "big") + b"x"))
    elif attack == "short-frame":
        writer.write(b"\x00\x05hello")
    else:
        writer.write(_frame(session, (4).to_bytes(4, "big") + b"\xc1\xc1\xc1\xc1"))
    with pytest.raises(ProtocolError, match=match):
        await within(inbound.recv())
    assert inbound.closed and isinstance(inbound.error, ProtocolError)
    with pytest.raises(LinkClosed):
        await within(inbound.recv())
    writer.close()
    await assert_still_serving(server)


async def test_a_stream_cut_in_the_middle_of_a_message_is_a_lost_connection(start: Any) -> None:
    """A peer killed while it sends leaves half a message: the link is lost, but that proves no bad
    intent (a garbled frame fails authentication instead), so it is not a ProtocolError (a ban)."""
    server = await start(ALICE)
    _, writer, session = await raw_session(server)
    inbound = await within(server.links.get())
    writer.write(_frame(session, (100_000).to_bytes(4, "big") + bytes(65515))[:1000])
    writer.write_eof()
    with pytest.raises(LinkClosed, match="middle of a message"):
        await within(inbound.recv())
    assert inbound.closed and isinstance(inbound.error, LinkClosed)
    writer.close()
    await assert_still_serving(server)


async def test_a_link_closed_here_while_a_message_arrives_ends_as_closed(start: Any) -> None:
    """Closing a link (e.g. a silent one) while half a message is buffered is our decision, not
    the peer's misbehaviour: the waiting recv() ends with LinkClosed, not ProtocolError."""
    server = await start(ALICE)
    _, writer, session = await raw_session(server)
    inbound = await within(server.links.get())
    writer.write(_frame(session, (100_000).to_bytes(4, "big") + bytes(65515))[:1000])
    await within(writer.drain())
    receiving = asyncio.ensure_future(inbound.recv())
    await asyncio.sleep(0.05)
    inbound.close()
    with pytest.raises(LinkClosed):
        await within(receiving)
    writer.close()
    await assert_still_serving(server)


# -- messages, closing ------------------------------------------------------------------------------


async def test_five_mebibyte_message_round_trip(start: Any) -> None:
    outbound, inbound = await pair(start)
    big = Blocks(db="shop", blocks=[os.urandom(1024 * 1024) for _ in range(5)])

    async def receive_two() -> list[Any]:
        return [await inbound.recv(), await inbound.recv()]

    receiving = asyncio.ensure_future(receive_two())
    await within(outbound.send(big))  # over the send buffer alone: admitted into the empty queue
    await within(outbound.send(Ping(nonce=1)))  # waits for room until the receiver reads
    assert await within(receiving) == [big, Ping(nonce=1)]


async def test_message_over_the_limit_is_refused_before_sending(start: Any) -> None:
    outbound, inbound = await pair(start, max_message_size=1000)
    with pytest.raises(ValueError):
        await within(outbound.send(Publish(db="shop", block=bytes(2000))))
    with pytest.raises(ValueError):
        outbound.try_send(Publish(db="shop", block=bytes(2000)))
    await within(outbound.send(Ping(nonce=3)))
    assert await within(inbound.recv()) == Ping(nonce=3)


async def test_close_ends_the_peers_iteration_and_refuses_sends(start: Any) -> None:
    outbound, inbound = await pair(start)
    for i in range(3):
        await within(outbound.send(Ping(nonce=i)))
    await within(outbound.drain())
    outbound.close()
    await within(outbound.wait_closed())

    async def drain() -> list[Any]:
        return [message async for message in inbound]

    assert await within(drain()) == [Ping(nonce=i) for i in range(3)]
    assert inbound.closed and isinstance(inbound.error, LinkClosed)
    with pytest.raises(LinkClosed):
        await within(outbound.send(Ping(nonce=9)))
    with pytest.raises(LinkClosed):
        inbound.try_send(Ping(nonce=9))


async def test_concurrent_recv_is_refused(start: Any) -> None:
    outbound, inbound = await pair(start)
    waiting = asyncio.ensure_future(inbound.recv())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError):
        await within(inbound.recv())
    await within(outbound.send(Ping(nonce=5)))
    assert await within(waiting) == Ping(nonce=5)


# -- backpressure -----------------------------------------------------------------------------------


async def test_a_peer_that_never_reads_does_not_block_other_links(start: Any) -> None:
    buffer = 256 * 1024
    sender = await start(ALICE, send_buffer=buffer)
    # BOB never reads; CAROL does
    stuck = await dial(sender, BOB)
    stuck_out = await within(sender.links.get())
    reader = await dial(sender, CAROL)
    reader_out = await within(sender.links.get())
    start.links.extend([stuck, reader])
    chunk = Publish(db="shop", block=os.urandom(64 * 1024))

    # 1. fill the socket buffers and then the link's queue until try_send refuses
    async def fill() -> None:
        sent = 0
        while True:
            while stuck_out.try_send(chunk):
                sent += 1
                assert sent < 2000, "the kernel buffers never filled"
                await asyncio.sleep(0)
            await asyncio.sleep(0.1)  # let the writer drain what the kernel still takes
            if not stuck_out.try_send(chunk):
                return

    await within(fill(), 20)
    assert stuck_out.queued_bytes <= buffer + len(chunk.block) + 64
    # 2. an awaited send now waits (the queue is full) ...
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stuck_out.send(chunk), 0.2)
    # 3. ... while the other link keeps flowing
    for i in range(100):
        await within(reader_out.send(Ping(nonce=i)))
    assert [await within(reader.recv()) for _ in range(100)] == [Ping(nonce=i) for i in range(100)]
    # 4. closing the stuck link releases a blocked sender with LinkClosed
    blocked = asyncio.ensure_future(stuck_out.send(chunk))
    await asyncio.sleep(0.01)
    stuck_out.close()
    with pytest.raises(LinkClosed):
        await within(blocked)


async def test_bytes_are_counted_alike_at_both_ends(start: Any) -> None:
    """What one end counts as sent after the handshake, the other counts as received: every
    message's bytes plus its frames' headers and tags."""
    outbound, inbound = await pair(start)
    assert (outbound.bytes_sent, inbound.bytes_received) == (0, 0)
    messages = [Publish(db="shop", block=os.urandom(n)) for n in (1, 500, 200_000)]
    for message in messages:
        await within(outbound.send(message))
    assert [await within(inbound.recv()) for _ in messages] == messages
    await within(outbound.drain())
    payload = sum(len(m.block) for m in messages)
    assert outbound.bytes_sent == inbound.bytes_received
    assert payload < outbound.bytes_sent < payload + 1024
    await within(inbound.send(Ping(nonce=1)))
    assert await within(outbound.recv()) == Ping(nonce=1)
    assert inbound.bytes_sent == outbound.bytes_received > 0
