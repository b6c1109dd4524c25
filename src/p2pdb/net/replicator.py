"""Replication: links to peers, gossip per database, anti-entropy, peer exchange (DESIGN §5).

The replicator owns the node's links. Everything a peer sends is verified by the log before it
touches a database (``Database.join``); the replicator only decides what to send to whom:

- **Hello** on every new link: peer id, listen addresses, database names. A database a peer has
  and we do not is created here (a node replicates all databases of its network by default).
- **Anti-entropy**: on connect and every ``sync_interval`` each side sends ``Heads`` per database.
  Receiving heads it knows, a node pushes what the peer lacks (``Log.since``) in causal order, in
  batches; heads it does not know yet are asked for with ``Want``. Delivery is guaranteed by this
  exchange alone; it resumes after a broken link because the log keeps what was already joined.
- **Gossip** (the sans-IO :class:`~p2pdb.net.gossip.GossipState`): a local commit is pushed
  (``Publish``) to a mesh of up to ``mesh_degree`` peers per database and announced (``IHave``) to
  the others; a new entry received by ``Publish`` is forwarded the same way; ``IHave`` of an
  unknown entry is answered with ``Want``. Duplicates are dropped by CID. While entries stream,
  gossip runs once per ``gossip_window``: the entries of a window are joined together and sent in
  one ``Publish`` per peer. Sends go through bounded per-link queues: a slow peer loses gossip
  (anti-entropy repairs it) and never blocks the writer or other peers.
- **Peers**: bootstrap addresses are dialled at start and redialled with backoff; addresses learnt
  from Hello and ``Peers`` messages are dialled while the node has fewer than ``target_peers``.
- **Penalties**: a peer that sends blocks the log rejects (bad signature, wrong CID, unauthorised
  writer, malformed) collects penalty points; past ``ban_threshold`` it is disconnected and its
  address is not dialled again for ``ban_seconds``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from p2pdb.log import CID, AccessDenied, Entry, Identity, WrongDatabase, cid_for_block
from p2pdb.log.identity import peer_id as peer_id_of
from p2pdb.log.identity import public_key_from_peer_id
from p2pdb.log.verifier import Verifier
from p2pdb.net.gossip import GossipState, Send
from p2pdb.net.link import HandshakeError, Link, ProtocolError, connect, serve
from p2pdb.net.messages import (
    MAX_BATCH_BOUNDARY,
    MAX_DATABASES,
    Blocks,
    Boundary,
    Databases,
    Heads,
    Hello,
    IHave,
    Message,
    Peers,
    Ping,
    Pong,
    Publish,
    SnapshotBlocks,
    SnapshotOffer,
    Want,
    WantBoundary,
    WantIds,
    WantSnapshot,
    WantSnapshotBlocks,
)
from p2pdb.net.snapshots import Snapshots
from p2pdb.store import ApplyResult, Database
from p2pdb.store.registry import Registry

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 2
MAX_BATCH_BLOCKS = 512
MAX_BATCH_BYTES = 4 * 1024 * 1024
HEARTBEAT = 0.2
#: Event-loop time one chunk of a batch of entries may take before the node serves others (5 ms).
JOIN_BUDGET = 0.005
#: Gossiped entries of one database joined together at most (see _on_publish), and sent in one
#: Publish; a burst's Publish carries at most ``PUBLISH_BYTES`` (a bigger entry goes alone).
PUBLISH_BATCH = 64
PUBLISH_BYTES = 1024 * 1024
#: Blocks per piece a big batch is verified in by the verifier process (see _on_blocks_paced).
VERIFY_PIECE = 64
#: A peer's lag (peer_info, node.json every 2 s, /v1/peers) is counted no further: the count walks
#: the log on the event loop, about 2 us per entry (44 ms for a peer 20,000 entries behind).
LAG_LIMIT = 10_000


def runs(blocks: Iterable[bytes], count: int, size: int) -> Iterator[list[bytes]]:
    """``blocks`` in order, in runs of at most ``count`` blocks and ``size`` bytes (a block bigger
    than ``size`` makes a run of its own)."""
    run: list[bytes] = []
    total = 0
    for block in blocks:
        if run and (len(run) >= count or total + len(block) > size):
            yield run
            run, total = [], 0
        run.append(block)
        total += len(block)
    if run:
        yield run


class Window:
    """Runs a flush at most once per ``seconds`` of loop time: a flush asked for after a quiet spell
    runs at the end of this loop turn, one asked for sooner waits for the window's end; asking again
    while one is due does nothing (the due flush takes what came meanwhile)."""

    __slots__ = ("_due", "_flush", "_next", "seconds")

    def __init__(self, seconds: float, flush: Callable[[], None]) -> None:
        self.seconds = seconds
        self._flush = flush
        self._due = False
        self._next = 0.0  # loop time before which the next flush waits

    def ask(self) -> None:
        if self._due:
            return
        self._due = True
        loop = asyncio.get_running_loop()
        if self._next <= loop.time():
            loop.call_soon(self._run)
        else:
            loop.call_at(self._next, self._run)

    def _run(self) -> None:
        self._due = False
        self._next = asyncio.get_running_loop().time() + self.seconds
        self._flush()


@dataclass(slots=True)
class Options:
    """Replication settings (defaults in parentheses)."""

    #: Seconds between heads exchanges with every peer (2.0).
    sync_interval: float = 2.0
    #: Peers per database that get new entries pushed eagerly (6); the rest get announcements.
    mesh_degree: int = 6
    #: Dial learnt addresses while fewer peers than this are connected (8).
    target_peers: int = 8
    #: Penalty points before a peer is disconnected and banned (20), and the ban length (300 s).
    ban_threshold: int = 20
    ban_seconds: float = 300.0
    #: Replicate only these databases (None: all databases of the network).
    databases: frozenset[str] | None = None
    #: Databases one peer can make this node create (64), and all peers together per hour (256).
    max_databases_per_peer: int = 64
    max_new_databases_per_hour: int = 256
    #: A database created for a peer that still has no entry after this many seconds is removed (300).
    empty_database_seconds: float = 300.0
    #: Unknown heads of one Heads message that are followed up (64); the rest wait for the next exchange.
    max_unknown_heads: int = 64
    #: Want answers sent to one peer at a time (4); more Wants wait for the next exchange.
    max_want_answers: int = 4
    #: Databases named in a Hello (1024); the rest follow in Databases messages.
    hello_databases: int = 1024
    #: Unchanged databases whose heads are sent to each peer per interval, in rotation (256).
    heads_per_interval: int = 256
    #: Verify big batches in a separate process (False; a node started by ``p2pdb start`` sets it).
    verify_process: bool = False
    #: While entries stream, gossip runs at most once per this many seconds (0.01): entries that
    #: arrive meanwhile are joined in one transaction and forwarded in one Publish per peer, and
    #: the node's own commits go out together. An entry after a quiet spell goes at once.
    gossip_window: float = 0.01


@dataclass(eq=False)
class Peer:
    link: Link
    peer_id: str
    address: str
    outbound: bool
    listen: list[str] = field(default_factory=list)
    penalty: int = 0
    connected_at: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    #: A message of this peer is being handled (a big batch takes seconds): it is not silent.
    handling: bool = False
    rtt: float | None = None
    received: int = 0
    sent: int = 0
    rejected: int = 0
    heads_sent: dict[str, float] = field(default_factory=dict)
    #: The heads the peer last told us per database (for lag), and our last ping's send time.
    remote_heads: dict[str, list[CID]] = field(default_factory=dict)
    ping_sent: float = 0.0
    #: Databases being pushed to this peer now, heads that arrived meanwhile, and per database our
    #: heads as of the last completed push (the peer has everything below them, or will have).
    pushing: set[str] = field(default_factory=set)
    newer_heads: dict[str, list[CID]] = field(default_factory=dict)
    pushed: dict[str, list[CID]] = field(default_factory=dict)
    lag_cache: dict[str, tuple[Any, int | None]] = field(default_factory=dict)
    #: When we last asked this peer for an id class, per database.
    ids_asked: dict[str, float] = field(default_factory=dict)
    #: Heads last sent to the peer per database (only changed ones are sent every interval).
    heads_told: dict[str, tuple[CID, ...]] = field(default_factory=dict)
    #: Databases this peer made us create; Want answers running for it.
    created: int = 0
    want_answers: int = 0
    #: Per database, when we sent a locator because the peer's heads were unknown (a push should follow).
    located: dict[str, float] = field(default_factory=dict)
    #: Ids we asked this peer for, and when.
    asked: dict[CID, float] = field(default_factory=dict)


class Replicator:
    def __init__(
        self,
        identity: Identity,
        registry: Registry,
        *,
        host: str,
        port: int,
        network_id: str,
        network_key: bytes | None = None,
        bootstrap: Iterable[str] = (),
        options: Options | None = None,
        announce: Iterable[str] = (),
    ) -> None:
        """``announce``: the addresses peers should dial to reach us (a forwarded port, a relay);
        by default the address we listen on."""
        self.identity = identity
        self.registry = registry
        self.host = host
        self.port = port
        self.network_id = network_id
        self.network_key = network_key
        self.bootstrap = list(bootstrap)
        self.announce = list(announce)
        self.options = options or Options()
        self.peers: dict[str, Peer] = {}
        self.known: set[str] = set(self.bootstrap)
        self.banned: dict[str, float] = {}  # peer id -> end of its ban
        self._created: list[float] = []  # when databases were created for peers (last hour)
        self._auto: dict[str, tuple[str, float]] = {}  # databases created for peers -> (peer id, when)
        self._rotation = 0
        self.counters = {
            "entries_sent": 0,
            "entries_received": 0,
            "entries_rejected": 0,
            "links_refused": 0,
            "wants_sent": 0,
            "boundary_entries": 0,
            "duplicates_received": 0,
        }
        #: Bytes of the links that closed, sent and received (see :meth:`link_bytes`).
        self._closed_bytes = [0, 0]
        #: Messages sent and received on links, by message type.
        self.sent_kinds: collections.Counter[str] = collections.Counter()
        self.received_kinds: collections.Counter[str] = collections.Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dialing: set[str] = set()
        self._closing = False
        self._subscribed: dict[str, Database] = {}  # a database dropped and created again is new
        self.address_peer: dict[str, str] = {}  # address -> the peer id found there
        self.gossip = GossipState(degree=self.options.mesh_degree)
        self.snapshots = Snapshots(self)
        #: Gossiped entries waiting to be joined, by database: CID -> (sender's peer id, block).
        self._inbox: dict[str, dict[CID, tuple[str, bytes]]] = {}
        self._authors: dict[bytes, str] = {}  # entry author key -> peer id
        self._inbox_window = Window(self.options.gossip_window, self._flush_inbox)
        #: Entries this node committed, waiting to be published, by database.
        self._outbox: dict[str, list[tuple[bytes, bytes]]] = {}
        self._outbox_window = Window(self.options.gossip_window, self._flush_outbox)
        #: Checks big batches in another process (None: everything is checked on the event loop).
        self.verifier: Verifier | None = Verifier() if self.options.verify_process else None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await serve(
            self.host,
            self.port,
            self.identity,
            self._accepted,
            network_id=self.network_id,
            network_key=self.network_key,
            admit=self._admit,
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        for name in self.registry.names():
            self._subscribe(name)
        self.registry.listeners.append(self._subscribe)
        self._spawn(self._maintain())
        self._spawn(self._heartbeat())

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def add_known(self, address: str) -> None:
        """An address learnt outside the links (mDNS): dialled while below ``target_peers``."""
        if address != self.address:
            self.known.add(address)

    async def stop(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for peer in list(self.peers.values()):
            peer.link.close()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        if self.verifier is not None:
            await self.verifier.aclose()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _subscribe(self, name: str) -> None:
        db = self.registry.get(name)
        if db is None or self._subscribed.get(name) is db or not self._wanted(name):
            return
        self._subscribed[name] = db
        db.listeners.append(lambda entry, local, name=name: self._on_commit(name, entry, local))  # type: ignore[misc]
        db.may_claim_ids = lambda: self._may_claim_ids(name)
        db.request_ids = lambda: self._request_ids(name)
        for peer in self.peers.values():
            self.gossip.add_peer(peer.peer_id, {name})
            self._send(peer, Heads(db=name, heads=[bytes(h) for h in db.log.heads]))

    def _wanted(self, name: str) -> bool:
        return (self.options.databases is None or name in self.options.databases) and not self.registry.left(
            name
        )

    # -- bans, by peer id -------------------------------------------------------------------------

    def is_banned(self, peer_id: str) -> bool:
        until = self.banned.get(peer_id)
        if until is None:
            return False
        if until <= time.monotonic():
            del self.banned[peer_id]
            return False
        return True

    def ban(self, peer_id: str, reason: str) -> None:
        """Refuse ``peer_id`` for ``ban_seconds``: its links close, it is not dialled, and its inbound
        handshakes are refused. Bans are by the key a peer proved, never by an address it claims."""
        log.warning("banning %s for %.0f s: %s", peer_id, self.options.ban_seconds, reason)
        self.banned[peer_id] = time.monotonic() + self.options.ban_seconds
        peer = self.peers.get(peer_id)
        if peer is not None:
            peer.link.close()

    def _admit(self, identity_key: bytes) -> str | None:
        return "banned for sending invalid data" if self.is_banned(peer_id_of(identity_key)) else None

    # -- links ----------------------------------------------------------------------------------

    async def _maintain(self) -> None:
        backoff: dict[str, float] = {}
        while not self._closing:
            try:
                self._maintain_once(backoff)
            except Exception:  # anti-entropy must survive anything: log it, go on next interval
                log.exception("replication maintenance failed")
            await asyncio.sleep(self.options.sync_interval)

    def _maintain_once(self, backoff: dict[str, float]) -> None:
        now = time.monotonic()
        connected = {p.address for p in self.peers.values()} | {
            a for p in self.peers.values() for a in p.listen
        }
        candidates = [a for a in self.bootstrap if a not in connected]
        if len(self.peers) < self.options.target_peers:
            others = [a for a in self.known if a not in connected and a not in candidates]
            random.shuffle(others)
            candidates += others[: self.options.target_peers - len(self.peers)]
        for address in candidates:
            if address == self.address or address in self.announce or address in self._dialing:
                continue
            if backoff.get(address, 0) > now:
                continue
            dialled = self.address_peer.get(address)  # who answered there when *we* dialled it
            if dialled is not None and self.is_banned(dialled):
                continue
            backoff[address] = now + min(30.0, 1.0 + random.random())
            self._spawn(self._dial(address))
        self._rotation += self.options.heads_per_interval
        self._housekeeping(now)
        for peer in list(self.peers.values()):
            if not peer.handling and now - peer.last_seen > 3 * self.options.sync_interval + 1.0:
                # Heads arrive every interval: a silent link is dead (a partition, a lost host).
                log.info("no word from %s for %.0f s: closing the link", peer.peer_id, now - peer.last_seen)
                peer.link.close()
                continue
            self._send_heads(peer)
            peer.ping_sent = time.monotonic()
            self._send(peer, Ping(nonce=int(peer.ping_sent * 1e6)))

    async def _dial(self, address: str) -> None:
        self._dialing.add(address)
        try:
            host, _, port = address.rpartition(":")
            link = await connect(
                host, int(port), self.identity, network_id=self.network_id, network_key=self.network_key
            )
        except HandshakeError as exc:
            self.counters["links_refused"] += 1
            log.warning("handshake with %s failed: %s", address, exc)
            return
        except (TimeoutError, OSError, ProtocolError) as exc:
            log.debug("cannot reach %s: %s", address, exc)
            return
        finally:
            self._dialing.discard(address)
        await self._run_link(link, address, outbound=True)

    async def _accepted(self, link: Link) -> None:
        host, port = link.remote_address[:2]
        await self._run_link(link, f"{host}:{port}", outbound=False)

    def _keep(self, new: Peer, old: Peer) -> bool:
        """Two links to one peer (both dialled at once): keep the one dialled by the lower peer id,
        so both sides keep the same link."""
        dialer_new = self.identity.peer_id if new.outbound else new.peer_id
        dialer_old = self.identity.peer_id if old.outbound else old.peer_id
        return dialer_new < dialer_old

    async def _run_link(self, link: Link, address: str, *, outbound: bool) -> None:
        peer_id = link.remote_peer_id
        if peer_id == self.identity.peer_id or self.is_banned(peer_id):
            link.close()
            return
        peer = Peer(link, peer_id, address, outbound)
        old = self.peers.get(peer_id)
        if old is not None:
            if not self._keep(peer, old):
                link.close()
                return
            old.link.close()
        self.peers[peer_id] = peer
        if outbound:
            self.address_peer[address] = peer_id
        self.gossip.add_peer(peer_id, {n for n in self.registry.names() if self._wanted(n)})
        log.info("connected to %s at %s (%s)", peer_id, address, "out" if outbound else "in")
        try:
            names = self._announced()
            first = self.options.hello_databases
            self._send(
                peer,
                Hello(
                    peer_id=self.identity.peer_id,
                    listen=self.announce or [self.address],
                    databases=names[:first],
                    version=PROTOCOL_VERSION,
                ),
            )
            for start in range(first, len(names), MAX_DATABASES):
                self._send(peer, Databases(names=names[start : start + MAX_DATABASES]))
            self._send_heads(peer)
            while True:
                message = await link.recv()
                peer.last_seen = time.monotonic()
                try:
                    if isinstance(message, Blocks):  # joined in chunks, the link waiting meanwhile
                        self.received_kinds["Blocks"] += 1
                        peer.handling = True
                        try:
                            await self._on_blocks_paced(peer, message.db, message.blocks)
                        finally:
                            peer.handling = False
                            peer.last_seen = time.monotonic()
                    else:
                        self._handle(peer, message)
                except ProtocolError:
                    raise
                except Exception:  # a bug here must not end replication with this peer
                    log.exception("handling %s from %s failed", type(message).__name__, peer_id)
                if peer.penalty >= self.options.ban_threshold:
                    self.ban(peer_id, "too many invalid blocks")
                    break
        except ProtocolError as exc:
            self.ban(peer_id, f"invalid data: {exc}")
        except (ConnectionError, EOFError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            link.close()
            self._closed_bytes[0] += link.bytes_sent
            self._closed_bytes[1] += link.bytes_received
            if self.peers.get(peer_id) is peer:
                del self.peers[peer_id]
                self.gossip.remove_peer(peer_id)
                log.info("disconnected from %s", peer_id)

    def link_bytes(self) -> tuple[int, int]:
        """Bytes sent and received on peer links since start (after each link's handshake)."""
        links = [p.link for p in self.peers.values()]
        return (
            self._closed_bytes[0] + sum(link.bytes_sent for link in links),
            self._closed_bytes[1] + sum(link.bytes_received for link in links),
        )

    def _send(self, peer: Peer, message: Message) -> bool:
        """Queue a message without waiting; False when the queue is full or the link is gone (the
        link's own task cleans up; anti-entropy repairs what was not sent)."""
        try:
            ok = peer.link.try_send(message)
        except ConnectionError:
            return False
        if ok:
            peer.sent += 1
            self.sent_kinds[type(message).__name__] += 1
        return ok

    def _announced(self) -> list[str]:
        """Databases we tell peers about: those we replicate, except ones created for a peer that
        never received an entry (a peer cannot make us spread names it made up)."""
        out = []
        for name in self.registry.names():
            db = self.registry.get(name)
            if db is not None and self._wanted(name) and (name not in self._auto or len(db.log) > 0):
                out.append(name)
        return out

    def _send_heads(self, peer: Peer) -> None:
        """Heads of every database that changed since we last told this peer, and of a rotating
        slice of the others (so a node with tens of thousands of databases stays cheap)."""
        names = [n for n in self.registry.names() if self._wanted(n)]
        if not names:
            return
        quota = self.options.heads_per_interval
        start = self._rotation % len(names)
        rotating = set((names[start:] + names[:start])[:quota])
        for name in names:
            db = self.registry.get(name)
            if db is None:
                continue
            if tuple(db.log.heads) != peer.heads_told.get(name) or name in rotating:
                self._send_db_heads(peer, name, db)

    def _send_db_heads(
        self, peer: Peer, name: str, db: Database, *, soon: bool = False, locator: bool = False
    ) -> None:
        """Send our heads of one database; ``soon`` replies are rate-limited per peer and database
        so that two peers that are both behind do not bounce heads back and forth. ``locator`` adds
        ancestors of our heads, for a peer whose heads we lack (it pushes us what we miss in bulk)."""
        now = time.monotonic()
        if soon and now - peer.heads_sent.get(name, 0.0) < 0.5:
            return
        peer.heads_sent[name] = now
        heads = db.log.heads
        peer.heads_told[name] = tuple(heads)
        found = [bytes(c) for c in db.log.locator()] if locator else []
        self._send(peer, Heads(db=name, heads=[bytes(h) for h in heads], locator=found))

    # -- messages -------------------------------------------------------------------------------

    def _handle(self, peer: Peer, message: Message) -> None:
        self.received_kinds[type(message).__name__] += 1
        if isinstance(message, Publish):
            self._on_publish(peer, message)
        elif isinstance(message, Heads):
            self._on_heads(peer, message)
        elif isinstance(message, Blocks):
            self._on_blocks(peer, message.db, message.blocks)
        elif isinstance(message, Want):
            self._on_want(peer, message)
        elif isinstance(message, IHave):
            self._on_ihave(peer, message)
        elif isinstance(message, Hello):
            # Listen addresses are claims: dialled, never trusted (address_peer maps only what *we*
            # reached by dialling, so a peer cannot get someone else's address skipped).
            peer.listen = [self._reachable(a, peer) for a in message.listen[:8] if isinstance(a, str)]
            self.known.update(peer.listen)
            self._offered(peer, message.databases)
            self._send(peer, Peers(addresses=self._sample_addresses(exclude=peer)))
        elif isinstance(message, Databases):
            self._offered(peer, message.names)
        elif isinstance(message, Peers):
            self.known.update(a for a in message.addresses[:64] if a != self.address)
        elif isinstance(message, WantIds):
            self._on_want_ids(peer, message)
        elif isinstance(message, WantBoundary):
            self._on_want_boundary(peer, message)
        elif isinstance(message, Boundary):
            self._on_boundary(peer, message)
        elif isinstance(message, WantSnapshot):
            self.snapshots.on_want(peer, message)
        elif isinstance(message, WantSnapshotBlocks):
            self.snapshots.on_want_blocks(peer, message)
        elif isinstance(message, SnapshotOffer | SnapshotBlocks):
            self.snapshots.on_answer(peer, message)
        elif isinstance(message, Ping):
            self._send(peer, Pong(nonce=message.nonce))
        elif isinstance(message, Pong) and message.nonce == int(peer.ping_sent * 1e6):
            peer.rtt = time.monotonic() - peer.ping_sent

    @staticmethod
    def _reachable(address: str, peer: Peer) -> str:
        """A listen address as others can dial it: a wildcard host (0.0.0.0, ::) is replaced by the
        address the peer's link comes from."""
        host, _, port = address.rpartition(":")
        if host in ("0.0.0.0", "::", "[::]", ""):
            return f"{peer.address.rpartition(':')[0]}:{port}"
        return address

    def _sample_addresses(self, exclude: Peer) -> list[str]:
        addresses = [a for p in self.peers.values() if p is not exclude for a in p.listen]
        random.shuffle(addresses)
        return addresses[:32]

    def _offered(self, peer: Peer, names: Iterable[str]) -> None:
        """A peer names databases it replicates: those we have join its gossip topics. A name alone
        creates nothing; the peer's heads (content) do, when it sends them."""
        for name in names:
            if self.registry.get(name) is not None and self._wanted(name):
                self.gossip.add_peer(peer.peer_id, {name})

    def _database(self, name: str, peer: Peer | None = None) -> Database | None:
        """The database ``name``; created when a peer names one we replicate and lack. A peer can
        make us create at most ``max_databases_per_peer`` databases that are still empty, and all
        peers together ``max_new_databases_per_hour``; one still empty after
        ``empty_database_seconds`` is removed (a made-up name costs us nothing lasting)."""
        db = self.registry.get(name)
        if db is not None or peer is None or not self._wanted(name):
            return db
        now = time.monotonic()
        self._created = [t for t in self._created if t > now - 3600.0]
        waiting = sum(1 for who, _ in self._auto.values() if who == peer.peer_id)
        if waiting >= self.options.max_databases_per_peer:
            return None
        if len(self._created) >= self.options.max_new_databases_per_hour:
            return None
        try:
            db = self.registry.create(name)
        except ValueError:
            return None
        self._created.append(now)
        self._auto[name] = (peer.peer_id, now)
        log.info("replicating database %s (named by %s)", name, peer.peer_id)
        return db

    def _housekeeping(self, now: float) -> None:
        """Forget databases made for peers that never got an entry; drop entries that waited too
        long for their ancestors."""
        for name, (_, since) in list(self._auto.items()):
            db = self.registry.get(name)
            if db is None:
                del self._auto[name]
            elif len(db.log) > 0:
                del self._auto[name]  # a real database now
            elif now - since > self.options.empty_database_seconds:
                del self._auto[name]
                self.registry.drop(name, leave=False)
                log.info("removed database %s: no peer sent an entry of it", name)
        for name in self.registry.names():
            db = self.registry.get(name)
            if db is not None and db.log.pending_count:
                db.prune_pending()

    def _cids(self, raw: Iterable[bytes]) -> list[CID]:
        out = []
        for value in raw:
            try:
                out.append(CID(value))
            except ValueError as exc:
                raise ProtocolError(f"invalid CID: {exc}") from exc
        return out

    def _on_heads(self, peer: Peer, message: Heads) -> None:
        db = self._database(message.db, peer) if message.heads else self.registry.get(message.db)
        if db is None or not self._wanted(message.db):
            return
        self.gossip.add_peer(peer.peer_id, {message.db})
        name = message.db
        if self.snapshots.should_bootstrap(name, len(db.log) == 0 and not db.log.pending_count):
            if name not in self.snapshots.bootstrapping and message.heads:
                self.snapshots.start(peer, name)
            return  # the snapshot's heads come first; this peer's heads are asked for again after
        heads = self._cids(message.heads)
        locator = self._cids(message.locator)
        peer.remote_heads[name] = heads
        unknown = [h for h in heads if h not in db.log]
        if unknown:
            # Blocks we kept from an interrupted sync, if any; the rest the peer pushes in bulk.
            applied = db.join_heads(unknown[: self.options.max_unknown_heads])
            self._catch_up(peer, name, db, applied.missing)
        else:
            peer.located.pop(name, None)
        # What the peer has that we know: its heads, or the ancestors in its locator.
        base = [h for h in heads if h in db.log] + [c for c in locator if c in db.log]
        if unknown and not base:
            return  # nothing in common known yet: our locator reply lets the peer push to us
        if name in peer.pushing:
            peer.newer_heads[name] = base  # answered when the running push ends
            return
        peer.pushing.add(name)
        self._spawn(self._push_since(peer, name, db, base))

    async def _push_since(self, peer: Peer, name: str, db: Database, heads: list[CID]) -> None:
        """Push what the peer lacks below our heads, one batch at a time (each waits for room in
        the link's queue). One push per peer and database runs at a time; entries already pushed
        count as the peer's, so repeated heads exchanges do not resend a long catch-up."""
        try:
            while True:
                ours = db.log.heads
                cids = db.log.since_cids([*heads, *peer.pushed.get(name, [])])
                stored = (data for cid in cids if (data := db.log.store.get(cid)) is not None)
                for message in self._batches(name, stored):
                    await peer.link.send(message)
                self.counters["entries_sent"] += len(cids)
                peer.pushed[name] = list(ours)
                newer = peer.newer_heads.pop(name, None)
                if newer is None:
                    return
                heads = newer
        except (ConnectionError, OSError, ProtocolError):
            return
        finally:
            peer.pushing.discard(name)

    @staticmethod
    def _batches(name: str, blocks: Iterable[bytes]) -> Iterator[Blocks]:
        """``Blocks`` messages of at most MAX_BATCH_BLOCKS entries / MAX_BATCH_BYTES each, in order."""
        for batch in runs(blocks, MAX_BATCH_BLOCKS, MAX_BATCH_BYTES):
            yield Blocks(db=name, blocks=batch)

    def _push(self, peer: Peer, name: str, blocks: list[bytes]) -> None:
        """Answer a ``Want``: send the blocks in order in the background (at most
        ``max_want_answers`` answers per peer at a time; a Want beyond is dropped and asked again)."""
        if peer.want_answers >= self.options.max_want_answers:
            return
        self.counters["entries_sent"] += len(blocks)
        peer.want_answers += 1

        async def send() -> None:
            try:
                for message in self._batches(name, blocks):
                    await self._send_wait(peer, message)
            finally:
                peer.want_answers -= 1

        self._spawn(send())

    async def _send_wait(self, peer: Peer, message: Message) -> None:
        """Anti-entropy traffic waits for queue space (gossip does not)."""
        with contextlib.suppress(ConnectionError, OSError, ProtocolError):
            await peer.link.send(message)
            peer.sent += 1

    def _on_want(self, peer: Peer, message: Want) -> None:
        db = self.registry.get(message.db)
        if db is None:
            return
        blocks = []
        for cid in self._cids(message.cids[:MAX_BATCH_BLOCKS]):
            data = db.log.store.get(cid) if cid in db.log else None
            if data is not None:
                blocks.append(data)
        if blocks:
            self._push(peer, message.db, blocks)

    def _on_want_boundary(self, peer: Peer, message: WantBoundary) -> None:
        db = self.registry.get(message.db)
        if db is None:
            return
        cids = self._cids(message.cids[:MAX_BATCH_BLOCKS])
        boundary, blocks = db.boundary_of(cids, self._cids(message.horizon))
        for i in range(0, len(boundary), MAX_BATCH_BOUNDARY):
            part = boundary[i : i + MAX_BATCH_BOUNDARY]
            self._send(
                peer,
                Boundary(
                    db=message.db,
                    blocks=[b for b, _, _ in part],
                    controls=[[bytes(c) for c in control[:4096]] for _, control, _ in part],
                    below=[[bytes(c) for c in below[:4096]] for _, _, below in part],
                ),
            )
        if blocks:
            self._push(peer, message.db, blocks)

    def _on_boundary(self, peer: Peer, message: Boundary) -> None:
        db = self.registry.get(message.db)
        if db is None or not db.log.floor or len(message.blocks) != len(message.controls):
            return
        below = message.below if len(message.below) == len(message.blocks) else [[]] * len(message.blocks)
        result = db.join_boundary(
            zip(
                message.blocks,
                [self._cids(c) for c in message.controls],
                [self._cids(c) for c in below],
                strict=True,
            )
        )
        peer.received += len(result.applied)
        self.counters["boundary_entries"] += len(message.blocks)
        if result.wanted or result.missing:
            self._catch_up(peer, message.db, db, result.wanted or result.missing)

    def _on_ihave(self, peer: Peer, message: IHave) -> None:
        db = self._database(message.db, peer)
        if db is None:
            return
        queued = self._inbox.get(message.db, {})  # here already, joined at the window's end
        unknown = tuple(
            bytes(c)
            for c in self._cids(message.cids[:MAX_BATCH_BLOCKS])
            if c not in db.log and c not in queued
        )
        if unknown:
            self._dispatch(self.gossip.on_ihave(peer.peer_id, message.db, unknown, time.monotonic()))

    def _on_blocks(self, peer: Peer, name: str, blocks: list[bytes]) -> Database | None:
        """Join a batch at once; returns the database it went to (None: it was not taken)."""
        db = self._blocks_target(peer, name)
        if db is None:
            return None
        result = self._join_from(peer, db, blocks[:MAX_BATCH_BLOCKS])
        if result.wanted:
            self._catch_up(peer, name, db, result.wanted)
        return db

    def _moved_on(self, name: str, db: Database) -> bool:
        """The database was dropped, replaced or is bootstrapping since a batch for it arrived."""
        return self.registry.get(name) is not db or name in self.snapshots.bootstrapping

    async def _on_blocks_paced(self, peer: Peer, name: str, blocks: list[bytes]) -> None:
        """A batch (a push, an answer to a Want): joined in chunks of about ``JOIN_BUDGET`` of
        event-loop time each, yielding to clients and the other links between them. A 512-entry
        batch joined at once held every client of the node for a few hundred milliseconds."""
        db = self._blocks_target(peer, name)
        if db is None:
            return
        blocks = blocks[:MAX_BATCH_BLOCKS]
        # A big batch is verified by the verifier process in pieces, all submitted now: while the
        # loop joins one piece, the worker checks the next (p2pdb.log.verifier).
        pieces = [blocks[i : i + VERIFY_PIECE] for i in range(0, len(blocks), VERIFY_PIECE)]
        verifier = self.verifier
        checks = [verifier.submit(p, db.log.max_entry_size) if verifier is not None else None for p in pieces]
        wanted: set[CID] = set()
        size = 4
        for number, piece in enumerate(pieces):
            pending = checks[number]
            checked: Container[CID] = await pending if pending is not None else frozenset()
            if pending is not None and self._moved_on(name, db):
                return
            done = 0
            while done < len(piece):
                chunk = piece[done : done + size]
                done += len(chunk)
                started = time.perf_counter()
                wanted |= self._join_from(peer, db, chunk, checked).wanted
                took = max(time.perf_counter() - started, 1e-6)
                size = max(1, min(2 * size, int(len(chunk) * JOIN_BUDGET / took), MAX_BATCH_BLOCKS))
                if done < len(piece) or number + 1 < len(pieces):
                    await asyncio.sleep(0)
                    if self._moved_on(name, db):
                        return  # the rest comes again
        wanted = {c for c in wanted if c not in db.log}
        if wanted:
            self._catch_up(peer, name, db, wanted)

    def _blocks_target(self, peer: Peer, name: str) -> Database | None:
        if name in self.snapshots.bootstrapping:
            return None  # entries wait for the snapshot they build on
        return self._database(name, peer)

    def _join_from(
        self,
        peer: Peer,
        db: Database,
        blocks: list[bytes],
        checked: Container[CID] = frozenset(),
        senders: Mapping[CID, tuple[str, bytes]] | None = None,
    ) -> ApplyResult:
        """Join blocks sent by ``peer`` (or, per CID, by the peers ``senders`` names) and count
        what each sender's blocks did: applied, or rejected and penalised."""
        result = db.join(blocks, checked)

        def sender(cid: object) -> Peer:
            named = senders.get(cid) if senders is not None and isinstance(cid, CID) else None
            return self.peers.get(named[0], peer) if named is not None else peer

        for entry in result.applied:
            sender(entry.cid).received += 1
        self.counters["entries_received"] += len(result.applied)
        for error in result.rejected_blocks:
            blamed = sender(error.cid)
            blamed.rejected += 1
            # Forged, corrupt or lying blocks cost the peer; blocks of a database it may not write
            # (or of another database) do not: a peer refused for one database keeps the others.
            if not isinstance(error, AccessDenied | WrongDatabase):
                blamed.penalty += 5
            self.counters["entries_rejected"] += 1
            log.warning("rejected block from %s: %s: %s", blamed.peer_id, type(error).__name__, error)
        return result

    def _catch_up(self, peer: Peer, name: str, db: Database, missing: set[CID]) -> None:
        """We lack entries the peer has. Send our heads with a locator: the peer finds entries we
        share and pushes the rest in causal-order batches (a whole branch in a few round trips, not
        one entry per round trip). Only if no push came a while after that, ask for ids directly."""
        now = time.monotonic()
        sent = peer.located.get(name)
        if sent is None or now - sent > max(3 * self.options.sync_interval, 5.0):
            peer.located[name] = now  # rate-limited here, not by the regular heads exchange
            self._send_db_heads(peer, name, db, locator=True)
        elif now - sent > max(2 * self.options.sync_interval, 3.0):
            self._after_join(peer, name, missing)

    def _after_join(self, peer: Peer, name: str, missing: set[CID]) -> None:
        """Ask the peer for missing entries (each id at most once a second per peer)."""
        now = time.monotonic()
        asked = peer.asked
        if len(asked) > 4 * MAX_BATCH_BLOCKS:
            for cid in [c for c, t in asked.items() if now - t > 1.0]:
                del asked[cid]
        fresh = [c for c in missing if now - asked.get(c, 0.0) > 1.0][:MAX_BATCH_BLOCKS]
        db = self.registry.get(name)
        if fresh and db is not None and db.log.floor:
            # A light node: what lies below its floor is in its state already; it asks which is which.
            latest = db.checkpoints.chain().latest
            horizon = [*db.log.heads, *(latest.proposal.heads if latest is not None else ())][:64]
            message: Message = WantBoundary(
                db=name, cids=[bytes(c) for c in fresh], horizon=[bytes(h) for h in horizon]
            )
        else:
            message = Want(db=name, cids=[bytes(c) for c in fresh])
        if fresh and self._send(peer, message):
            self.counters["wants_sent"] += 1
            for cid in fresh:
                asked[cid] = now

    def _on_publish(self, peer: Peer, message: Publish) -> None:
        """Gossiped entries. While entries stream, those of one database that arrive within a
        gossip window (from any peer) are joined together: one store transaction for a burst
        instead of one per entry (at most ``PUBLISH_BATCH`` at a time); the ones that verified are
        then forwarded, in one Publish per peer."""
        db = self._database(message.db, peer)
        if db is None:
            return
        queued = self._inbox.get(message.db)
        for block in message.blocks:
            cid = cid_for_block(block)
            if cid in db.log or (queued is not None and cid in queued):
                self.counters["duplicates_received"] += 1
                continue  # seen already: gossip stops here
            if queued is None:
                queued = self._inbox[message.db] = {}
            queued[cid] = (peer.peer_id, block)
            if len(queued) >= PUBLISH_BATCH:
                self._join_publishes(message.db, self._inbox.pop(message.db))
                queued = None
        if self._inbox:
            self._inbox_window.ask()

    def _flush_inbox(self) -> None:
        batches, self._inbox = self._inbox, {}
        for name, blocks in batches.items():
            self._join_publishes(name, blocks)

    def _join_publishes(self, name: str, blocks: dict[CID, tuple[str, bytes]]) -> None:
        peer = next((self.peers[p] for p, _ in blocks.values() if p in self.peers), None)
        db = self._blocks_target(peer, name) if peer is not None else None
        if peer is None or db is None:
            return  # the links closed (or the database went) meanwhile: the heads exchange repairs it
        result = self._join_from(peer, db, [block for _, block in blocks.values()], senders=blocks)
        if result.wanted:
            # The newest entry's sender holds its past.
            last = self.peers.get(next(reversed(blocks.values()))[0], peer)
            self._catch_up(last, name, db, result.wanted)
        now = time.monotonic()
        sends: list[Send] = []
        for cid, (sender, block) in blocks.items():
            author = db.log.author_of(cid)
            if author is None:
                continue  # refused (or dropped over the limits): only verified entries go on
            # The peer that wrote an entry has it: it is not sent back (every other node of a
            # stream from one writer forwarded each of its entries back to it).
            new, out = self.gossip.on_publish(sender, name, bytes(cid), block, now, self._peer_of(author))
            if new:
                sends += out
        self._dispatch(sends)

    def _peer_of(self, author: bytes) -> str:
        """The peer id of an entry's author (the few authors met, kept)."""
        known = self._authors.get(author)
        if known is None:
            if len(self._authors) >= 1024:
                self._authors.clear()
            known = self._authors[author] = peer_id_of(author)
        return known

    # -- AUTO_INCREMENT id classes ------------------------------------------------------------------

    def _caught_up(self, name: str, db: Database) -> bool:
        """Every connected peer told us its heads of ``name`` and we hold them all."""
        return all(
            (heads := peer.remote_heads.get(name)) is not None and all(h in db.log for h in heads)
            for peer in self.peers.values()
        )

    def _may_claim_ids(self, name: str) -> bool:
        """Take the root id class only when nobody we can reach holds one: we are caught up with every
        connected peer, and among them our key is the lowest (so two connected peers never both take it)."""
        db = self.registry.get(name)
        if db is None or not self._caught_up(name, db):
            return False
        mine = self.identity.public_key
        return all(mine < public_key_from_peer_id(p) for p in self.peers)

    def _request_ids(self, name: str) -> None:
        now = time.monotonic()
        for peer in self.peers.values():
            if now - peer.ids_asked.get(name, 0.0) >= 0.5:
                peer.ids_asked[name] = now
                self._send(peer, WantIds(db=name))

    def _on_want_ids(self, peer: Peer, message: WantIds) -> None:
        db = self.registry.get(message.db)
        if db is None:
            return
        if db.id_class() is None and db.ids.empty and self._may_claim_ids(message.db):
            db.claim_ids()
        if db.id_class() is not None:
            db.grant_ids(public_key_from_peer_id(peer.peer_id))

    # -- gossip ---------------------------------------------------------------------------------

    def _on_commit(self, name: str, entry: Entry, local: bool) -> None:
        """A local commit is published at the end of this loop turn, or, while commits stream, one
        gossip window after the last publish: the commits of a window go out in one Publish per
        mesh peer."""
        if local:
            self._outbox.setdefault(name, []).append((bytes(entry.cid), entry.block))
            self._outbox_window.ask()

    def _flush_outbox(self) -> None:
        batches, self._outbox = self._outbox, {}
        now = time.monotonic()
        sends: list[Send] = []
        for name, entries in batches.items():
            for cid, block in entries:
                sends += self.gossip.publish(name, cid, block, now)
        self._dispatch(sends)

    def _dispatch(self, sends: list[Send]) -> None:
        """Turn the gossip state machine's output into messages on the links (never waiting). The
        entries for one peer and database go in one Publish (up to ``PUBLISH_BATCH`` entries and
        ``PUBLISH_BYTES``), in the order the state machine gave them."""
        published: dict[tuple[str, str], list[bytes]] = {}
        for send in sends:
            if send.kind == "publish":
                published.setdefault((send.peer, send.topic), []).append(send.payload)
                continue
            peer = self.peers.get(send.peer)
            if peer is None:
                continue
            if send.kind == "ihave":
                self._send(peer, IHave(db=send.topic, cids=list(send.ids)))
            else:
                self._send(peer, Want(db=send.topic, cids=list(send.ids)))
        for (peer_id, topic), blocks in published.items():
            peer = self.peers.get(peer_id)
            if peer is not None:
                for first, *more in runs(blocks, PUBLISH_BATCH, PUBLISH_BYTES):
                    self._send(peer, Publish(db=topic, block=first, more=more))

    async def _heartbeat(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT)
            try:
                self._dispatch(self.gossip.tick(time.monotonic()))
            except Exception:
                log.exception("gossip heartbeat failed")

    # -- introspection --------------------------------------------------------------------------

    def peer_info(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "peer_id": p.peer_id,
                "address": p.address,
                "listen": list(p.listen),
                "direction": "out" if p.outbound else "in",
                "connected_seconds": round(now - p.connected_at, 1),
                "last_seen_seconds": round(now - p.last_seen, 1),
                "entries_received": p.received,
                "entries_rejected": p.rejected,
                "latency_ms": round(p.rtt * 1000, 2) if p.rtt is not None else None,
                "lag": self._lag(p),
            }
            for p in self.peers.values()
        ]

    def _lag(self, peer: Peer) -> dict[str, int | None]:
        """Per database, how many of our entries the peer lacked when it last sent its heads, up
        to :data:`LAG_LIMIT` (None when it named heads we do not know: it is ahead or concurrent)."""
        lag: dict[str, int | None] = {}
        for name, heads in peer.remote_heads.items():
            db = self.registry.get(name)
            if db is None:
                continue
            key = (db.log.heads, tuple(heads))
            cached = peer.lag_cache.get(name)
            if cached is None or cached[0] != key:
                value = db.log.count_since(heads, LAG_LIMIT) if all(h in db.log for h in heads) else None
                cached = peer.lag_cache[name] = (key, value)
            lag[name] = cached[1]
        return lag
