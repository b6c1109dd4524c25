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
  unknown entry is answered with ``Want``. Duplicates are dropped by CID. Sends go through bounded
  per-link queues: a slow peer loses gossip (anti-entropy repairs it) and never blocks the writer
  or other peers.
- **Peers**: bootstrap addresses are dialled at start and redialled with backoff; addresses learnt
  from Hello and ``Peers`` messages are dialled while the node has fewer than ``target_peers``.
- **Penalties**: a peer that sends blocks the log rejects (bad signature, wrong CID, unauthorised
  writer, malformed) collects penalty points; past ``ban_threshold`` it is disconnected and its
  address is not dialled again for ``ban_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from p2pdb.log import CID, Entry, Identity, cid_for_block
from p2pdb.log.identity import public_key_from_peer_id
from p2pdb.net.gossip import GossipState, Send
from p2pdb.net.link import HandshakeError, Link, ProtocolError, connect, serve
from p2pdb.net.messages import Blocks, Heads, Hello, IHave, Message, Peers, Ping, Pong, Publish, Want, WantIds
from p2pdb.store import Database
from p2pdb.store.registry import Registry

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_BATCH_BLOCKS = 512
MAX_BATCH_BYTES = 4 * 1024 * 1024
HEARTBEAT = 0.2


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
    ) -> None:
        self.identity = identity
        self.registry = registry
        self.host = host
        self.port = port
        self.network_id = network_id
        self.network_key = network_key
        self.bootstrap = list(bootstrap)
        self.options = options or Options()
        self.peers: dict[str, Peer] = {}
        self.known: set[str] = set(self.bootstrap)
        self.banned: dict[str, float] = {}
        self.counters = {"entries_sent": 0, "entries_received": 0, "entries_rejected": 0, "links_refused": 0}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dialing: set[str] = set()
        self._closing = False
        self._subscribed: set[str] = set()
        self.address_peer: dict[str, str] = {}  # address -> the peer id found there
        self.gossip = GossipState(degree=self.options.mesh_degree)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await serve(
            self.host,
            self.port,
            self.identity,
            self._accepted,
            network_id=self.network_id,
            network_key=self.network_key,
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

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _subscribe(self, name: str) -> None:
        db = self.registry.get(name)
        if db is None or name in self._subscribed or not self._wanted(name):
            return
        self._subscribed.add(name)
        db.listeners.append(lambda entry, local, name=name: self._on_commit(name, entry, local))  # type: ignore[misc]
        db.may_claim_ids = lambda: self._may_claim_ids(name)
        db.request_ids = lambda: self._request_ids(name)
        for peer in self.peers.values():
            self.gossip.add_peer(peer.peer_id, {name})
            self._send(peer, Heads(db=name, heads=[bytes(h) for h in db.log.heads]))

    def _wanted(self, name: str) -> bool:
        return self.options.databases is None or name in self.options.databases

    # -- links ----------------------------------------------------------------------------------

    async def _maintain(self) -> None:
        backoff: dict[str, float] = {}
        while not self._closing:
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
                if address == self.address or address in self._dialing or backoff.get(address, 0) > now:
                    continue
                if self.banned.get(address, 0) > now:
                    continue
                backoff[address] = now + min(30.0, 1.0 + random.random())
                self._spawn(self._dial(address))
            for peer in list(self.peers.values()):
                if now - peer.last_seen > 3 * self.options.sync_interval + 1.0:
                    # Heads arrive every interval: a silent link is dead (a partition, a lost host).
                    log.info(
                        "no word from %s for %.0f s: closing the link", peer.peer_id, now - peer.last_seen
                    )
                    peer.link.close()
                    continue
                self._send_heads(peer)
                peer.ping_sent = time.monotonic()
                self._send(peer, Ping(nonce=int(peer.ping_sent * 1e6)))
            await asyncio.sleep(self.options.sync_interval)

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
        if peer_id == self.identity.peer_id:
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
            self._send(
                peer,
                Hello(
                    peer_id=self.identity.peer_id,
                    listen=[self.address],
                    databases=[n for n in self.registry.names() if self._wanted(n)],
                    version=PROTOCOL_VERSION,
                ),
            )
            self._send_heads(peer)
            while True:
                message = await link.recv()
                peer.last_seen = time.monotonic()
                self._handle(peer, message)
                if peer.penalty >= self.options.ban_threshold:
                    log.warning("disconnecting %s: too many invalid blocks", peer_id)
                    self.banned[address] = time.monotonic() + self.options.ban_seconds
                    for listen in peer.listen:
                        self.banned[listen] = time.monotonic() + self.options.ban_seconds
                    break
        except ProtocolError as exc:
            log.warning("peer %s sent invalid data: %s", peer_id, exc)
            self.banned[address] = time.monotonic() + self.options.ban_seconds
        except (ConnectionError, EOFError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            link.close()
            if self.peers.get(peer_id) is peer:
                del self.peers[peer_id]
                self.gossip.remove_peer(peer_id)
                log.info("disconnected from %s", peer_id)

    def _send(self, peer: Peer, message: Message) -> bool:
        """Queue a message without waiting; False when the queue is full or the link is gone (the
        link's own task cleans up; anti-entropy repairs what was not sent)."""
        try:
            ok = peer.link.try_send(message)
        except ConnectionError:
            return False
        if ok:
            peer.sent += 1
        return ok

    def _send_heads(self, peer: Peer) -> None:
        for name in self.registry.names():
            db = self.registry.get(name)
            if db is not None and self._wanted(name):
                self._send_db_heads(peer, name, db)

    def _send_db_heads(self, peer: Peer, name: str, db: Database, *, soon: bool = False) -> None:
        """Send our heads of one database; ``soon`` replies are rate-limited per peer and database
        so that two peers that are both behind do not bounce heads back and forth."""
        now = time.monotonic()
        if soon and now - peer.heads_sent.get(name, 0.0) < 0.5:
            return
        peer.heads_sent[name] = now
        self._send(peer, Heads(db=name, heads=[bytes(h) for h in db.log.heads]))

    # -- messages -------------------------------------------------------------------------------

    def _handle(self, peer: Peer, message: Message) -> None:
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
            peer.listen = [self._reachable(a, peer) for a in message.listen[:8] if isinstance(a, str)]
            for address in peer.listen:
                self.address_peer[address] = peer.peer_id
            self.known.update(peer.listen)
            for name in message.databases:
                if self._database(name) is not None:
                    self.gossip.add_peer(peer.peer_id, {name})
            self._send(peer, Peers(addresses=self._sample_addresses(exclude=peer)))
        elif isinstance(message, Peers):
            self.known.update(a for a in message.addresses[:64] if a != self.address)
        elif isinstance(message, WantIds):
            self._on_want_ids(peer, message)
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

    def _database(self, name: str) -> Database | None:
        db = self.registry.get(name)
        if db is None and self._wanted(name):
            try:
                db = self.registry.create(name)
            except ValueError:
                return None
            log.info("replicating database %s", name)
        return db

    def _cids(self, raw: Iterable[bytes]) -> list[CID]:
        out = []
        for value in raw:
            try:
                out.append(CID(value))
            except ValueError as exc:
                raise ProtocolError(f"invalid CID: {exc}") from exc
        return out

    def _on_heads(self, peer: Peer, message: Heads) -> None:
        db = self._database(message.db)
        if db is None:
            return
        heads = self._cids(message.heads)
        peer.remote_heads[message.db] = heads
        unknown = [h for h in heads if h not in db.log]
        if unknown:
            applied = db.join_heads(unknown)  # blocks we kept from an interrupted sync, if any
            self._after_join(peer, message.db, applied.missing)
            # The peer is ahead: it pushes what we lack as soon as it sees our heads.
            self._send_db_heads(peer, message.db, db, soon=True)
            return
        if message.db in peer.pushing:
            peer.newer_heads[message.db] = heads  # answered when the running push ends
            return
        peer.pushing.add(message.db)
        self._spawn(self._push_since(peer, message.db, db, heads))

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
        batch: list[bytes] = []
        size = 0
        for block in blocks:
            if batch and (len(batch) >= MAX_BATCH_BLOCKS or size + len(block) > MAX_BATCH_BYTES):
                yield Blocks(db=name, blocks=batch)
                batch, size = [], 0
            batch.append(block)
            size += len(block)
        if batch:
            yield Blocks(db=name, blocks=batch)

    def _push(self, peer: Peer, name: str, blocks: list[bytes]) -> None:
        """Answer a ``Want``: send the blocks in order in the background."""
        self.counters["entries_sent"] += len(blocks)

        async def send() -> None:
            for message in self._batches(name, blocks):
                await self._send_wait(peer, message)

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

    def _on_ihave(self, peer: Peer, message: IHave) -> None:
        db = self._database(message.db)
        if db is None:
            return
        unknown = tuple(bytes(c) for c in self._cids(message.cids[:MAX_BATCH_BLOCKS]) if c not in db.log)
        if unknown:
            self._dispatch(self.gossip.on_ihave(peer.peer_id, message.db, unknown, time.monotonic()))

    def _on_blocks(self, peer: Peer, name: str, blocks: list[bytes]) -> None:
        db = self._database(name)
        if db is None:
            return
        result = db.join(blocks[:MAX_BATCH_BLOCKS])
        peer.received += len(result.applied)
        self.counters["entries_received"] += len(result.applied)
        if result.rejected_blocks:
            peer.rejected += len(result.rejected_blocks)
            peer.penalty += 5 * len(result.rejected_blocks)
            self.counters["entries_rejected"] += len(result.rejected_blocks)
            for error in result.rejected_blocks:
                log.warning("rejected block from %s: %s: %s", peer.peer_id, type(error).__name__, error)
        self._after_join(peer, name, result.missing)

    def _after_join(self, peer: Peer, name: str, missing: set[CID]) -> None:
        if missing:
            wanted = [bytes(c) for c in list(missing)[:MAX_BATCH_BLOCKS]]
            self._send(peer, Want(db=name, cids=wanted))

    def _on_publish(self, peer: Peer, message: Publish) -> None:
        db = self._database(message.db)
        if db is None:
            return
        cid = cid_for_block(message.block)
        if cid in db.log:
            return  # seen already: gossip stops here
        rejected_before = peer.rejected
        self._on_blocks(peer, message.db, [message.block])
        if peer.rejected == rejected_before:  # verified (integrated, or waiting for its parents)
            new, sends = self.gossip.on_publish(
                peer.peer_id, message.db, bytes(cid), message.block, time.monotonic()
            )
            if new:
                self._dispatch(sends)

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
        if local:
            self._dispatch(self.gossip.publish(name, bytes(entry.cid), entry.block, time.monotonic()))

    def _dispatch(self, sends: list[Send]) -> None:
        """Turn the gossip state machine's output into messages on the links (never waiting)."""
        for send in sends:
            peer = self.peers.get(send.peer)
            if peer is None:
                continue
            if send.kind == "publish":
                self._send(peer, Publish(db=send.topic, block=send.payload))
            elif send.kind == "ihave":
                self._send(peer, IHave(db=send.topic, cids=list(send.ids)))
            else:
                self._send(peer, Want(db=send.topic, cids=list(send.ids)))

    async def _heartbeat(self) -> None:
        while not self._closing:
            await asyncio.sleep(HEARTBEAT)
            self._dispatch(self.gossip.tick(time.monotonic()))

    # -- introspection --------------------------------------------------------------------------

    def peer_info(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "peer_id": p.peer_id,
                "address": p.address,
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
        """Per database, how many of our entries the peer lacked when it last sent its heads
        (None when it named heads we do not know: it is ahead or concurrent)."""
        lag: dict[str, int | None] = {}
        for name, heads in peer.remote_heads.items():
            db = self.registry.get(name)
            if db is None:
                continue
            key = (db.log.heads, tuple(heads))
            cached = peer.lag_cache.get(name)
            if cached is None or cached[0] != key:
                value = len(db.log.since_cids(heads)) if all(h in db.log for h in heads) else None
                cached = peer.lag_cache[name] = (key, value)
            lag[name] = cached[1]
        return lag
