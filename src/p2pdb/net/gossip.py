"""Gossip for one node as a sans-IO state machine (no sockets, no clock, no tasks).

The runtime feeds it events (a peer joined or left, a local publish, a message from a peer, a
timer tick with the current time) and sends what it returns. The same code therefore runs in the
node and in a simulation on virtual time (``tests/net/test_gossip_sim.py``).

Per topic (one database) the node keeps a *mesh* of up to ``degree`` peers. A new message is pushed
in full to the mesh peers not known to have it (eager); at the next heartbeat its id is announced to
up to ``degree`` random other peers not known to have it, in one ``IHave`` per peer for all the ids
of that heartbeat (lazy); a peer that learns of an id it lacks asks for it (``IWant``) and gets it
from the announcer's cache. Ids seen recently are remembered, so a message is forwarded once and
duplicates stop at the first hop. So the messages a node sends per message are bounded by the degree,
not by its number of peers (announcing to every peer at once made the cost per node grow with the
network: docs/performance.md).
Delivery is not guaranteed here (lossy links, full queues): anti-entropy repairs what gossip
misses.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["publish", "ihave", "iwant"]


@dataclass(frozen=True, slots=True)
class Send:
    """One message for the runtime to send: ``payload`` for publish, ``ids`` for ihave/iwant."""

    peer: str
    kind: Kind
    topic: str
    ids: tuple[bytes, ...] = ()
    payload: bytes = b""


@dataclass(slots=True)
class _Topic:
    peers: set[str] = field(default_factory=set)
    mesh: set[str] = field(default_factory=set)


class GossipState:
    """Gossip of one node over all its topics."""

    def __init__(
        self,
        *,
        degree: int = 6,
        cache_size: int = 4096,
        cache_bytes: int = 32 * 1024 * 1024,
        max_wanted: int = 4096,
        seen_ttl: float = 120.0,
        announce_window: float = 1.0,
        retry_after: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.degree = degree
        self.announce_window = announce_window
        self.retry_after = retry_after
        self.cache_size = cache_size
        #: Bytes of payloads kept for IWant answers (32 MiB), and ids wanted from announcers at once (4096).
        self.cache_bytes = cache_bytes
        self.max_wanted = max_wanted
        self._cached_bytes = 0
        self.seen_ttl = seen_ttl
        self.rng = rng or random.Random()
        self.topics: dict[str, _Topic] = {}
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # id -> time first seen
        self._cache: OrderedDict[bytes, tuple[str, bytes]] = OrderedDict()  # id -> (topic, payload)
        self._asked: dict[bytes, float] = {}
        self._announcers: dict[bytes, tuple[str, list[str]]] = {}  # wanted id -> (topic, announcers)
        self._holders: dict[bytes, set[str]] = {}  # id -> peers known to have it (sent or announced it)
        self._reannounced: set[bytes] = set()

    # -- membership -------------------------------------------------------------------------------

    def add_peer(self, peer: str, topics: set[str] | frozenset[str]) -> None:
        """A peer joined ``topics``. Each mesh stays a uniformly random subset of the topic's peers
        (reservoir sampling): a mesh of the first peers to come would leave the nodes that joined
        the network later in nobody's mesh, reached only by announcements (one round trip more)."""
        for name in topics:
            topic = self.topics.setdefault(name, _Topic())
            if peer in topic.peers:
                continue
            topic.peers.add(peer)
            if len(topic.mesh) < self.degree:
                topic.mesh.add(peer)
            elif self.rng.random() < self.degree / len(topic.peers):
                topic.mesh.discard(self.rng.choice(sorted(topic.mesh)))
                topic.mesh.add(peer)

    def remove_peer(self, peer: str) -> None:
        for topic in self.topics.values():
            topic.peers.discard(peer)
            if peer in topic.mesh:
                topic.mesh.discard(peer)
                spare = sorted(topic.peers - topic.mesh)
                if spare:
                    topic.mesh.add(self.rng.choice(spare))

    # -- events -----------------------------------------------------------------------------------

    def seen(self, msg_id: bytes) -> bool:
        return msg_id in self._seen

    def publish(self, topic: str, msg_id: bytes, payload: bytes, now: float) -> list[Send]:
        """A local message: remember it and send it out."""
        self._remember(topic, msg_id, payload, now)
        return self._spread(topic, msg_id, payload, exclude=None)

    def on_publish(
        self, peer: str, topic: str, msg_id: bytes, payload: bytes, now: float, origin: str | None = None
    ) -> tuple[bool, list[Send]]:
        """A full message from ``peer``: new (True) and forwarded, or a duplicate (False).
        ``origin``: the peer that wrote it, if known; it has it, so it is not sent it back."""
        if msg_id in self._seen:
            self._holders.setdefault(msg_id, set()).add(peer)
            return False, []
        self._remember(topic, msg_id, payload, now)
        holders = self._holders.setdefault(msg_id, set())
        holders.add(peer)
        if origin is not None:
            holders.add(origin)
        self._asked.pop(msg_id, None)
        self._announcers.pop(msg_id, None)
        return True, self._spread(topic, msg_id, payload, exclude=peer)

    def on_ihave(self, peer: str, topic: str, ids: tuple[bytes, ...], now: float) -> list[Send]:
        for msg_id in ids:
            if msg_id in self._seen:
                self._holders.setdefault(msg_id, set()).add(peer)
        unseen = [i for i in ids if i not in self._seen]
        room = self.max_wanted - len(self._announcers)
        unseen = [i for i in unseen if i in self._announcers] + [
            i for i in unseen if i not in self._announcers
        ][
            : max(0, room)
        ]  # announcements of more ids than we track are dropped: anti-entropy delivers them anyway
        for msg_id in unseen:
            announcers = self._announcers.setdefault(msg_id, (topic, []))[1]
            if peer not in announcers:
                announcers.append(peer)
        wanted = tuple(i for i in unseen if i not in self._asked or self._asked[i] <= now - self.retry_after)
        for msg_id in wanted:
            self._asked[msg_id] = now
        return [Send(peer, "iwant", topic, wanted)] if wanted else []

    def on_iwant(self, peer: str, topic: str, ids: tuple[bytes, ...]) -> list[Send]:
        out = []
        for msg_id in ids:
            cached = self._cache.get(msg_id)
            if cached is not None and cached[0] == topic:
                out.append(Send(peer, "publish", topic, (msg_id,), cached[1]))
        return out

    def tick(self, now: float) -> list[Send]:
        """The heartbeat (call every ``heartbeat`` seconds or so): re-ask ids whose IWant went
        unanswered (from another announcer when there is one), announce recent ids again to a few
        random peers (a lost push or announcement is repaired within a few heartbeats), and forget
        ids older than ``seen_ttl``."""
        out: list[Send] = []
        for msg_id, (wanted_topic, announcers) in list(self._announcers.items()):
            asked = self._asked.get(msg_id, 0.0)
            if now - asked > 10.0:
                del self._announcers[msg_id]
                self._asked.pop(msg_id, None)
            elif now - asked >= self.retry_after and announcers:
                self._asked[msg_id] = now
                out.append(Send(self.rng.choice(announcers), "iwant", wanted_topic, (msg_id,)))
        # Announce each id once more, a heartbeat after it arrived, to a few peers not known to
        # have it: this repairs a lost push or announcement without flooding.
        again: dict[tuple[str, str], list[bytes]] = {}
        members: dict[str, list[str]] = {}  # per topic, its peers in a fixed order (once per tick)
        for msg_id, first in reversed(self._seen.items()):
            if first < now - self.announce_window:
                break
            cached = self._cache.get(msg_id)
            if cached is None or msg_id in self._reannounced:
                continue
            self._reannounced.add(msg_id)
            topic = self.topics.get(cached[0])
            if topic is None:
                continue
            peers = members.get(cached[0])
            if peers is None:
                peers = members[cached[0]] = sorted(topic.peers)
            for peer in self._pick(peers, self._holders.get(msg_id, set())):
                again.setdefault((peer, cached[0]), []).append(msg_id)
        for (peer, topic_name), ids in again.items():
            out.append(Send(peer, "ihave", topic_name, tuple(ids[:256])))
        while self._seen:
            msg_id, first = next(iter(self._seen.items()))
            if first > now - self.seen_ttl:
                break
            self._seen.popitem(last=False)
            self._holders.pop(msg_id, None)
            self._reannounced.discard(msg_id)
        return out

    # -- internals --------------------------------------------------------------------------------

    def _pick(self, peers: list[str], holders: set[str]) -> list[str]:
        """Up to ``degree`` random peers not among ``holders``; the cost is bounded by the degree
        (a few draws), not by the number of peers."""
        if len(peers) <= 4 * self.degree:
            candidates = [p for p in peers if p not in holders]
            return self.rng.sample(candidates, min(self.degree, len(candidates)))
        chosen: set[str] = set()
        for _ in range(4 * self.degree):
            peer = peers[self.rng.randrange(len(peers))]
            if peer not in holders:
                chosen.add(peer)
                if len(chosen) == self.degree:
                    break
        return sorted(chosen)

    def _remember(self, topic: str, msg_id: bytes, payload: bytes, now: float) -> None:
        self._seen[msg_id] = now
        old = self._cache.pop(msg_id, None)
        if old is not None:
            self._cached_bytes -= len(old[1])
        self._cache[msg_id] = (topic, payload)
        self._cached_bytes += len(payload)
        while self._cache and (len(self._cache) > self.cache_size or self._cached_bytes > self.cache_bytes):
            _, (_, dropped) = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)

    def _spread(self, topic_name: str, msg_id: bytes, payload: bytes, exclude: str | None) -> list[Send]:
        """Push a new message to the mesh peers that are not known to have it. The other peers
        hear of it at the next heartbeat (:meth:`tick`), a few of them, in one announcement per
        peer for all the ids of that heartbeat: the messages a node sends per message are bounded
        by the mesh degree, whatever the number of its peers."""
        topic = self.topics.get(topic_name)
        if topic is None:
            return []
        holders = self._holders.setdefault(msg_id, set())
        targets = sorted(p for p in topic.mesh if p != exclude and p not in holders)
        holders.update(targets)
        return [Send(p, "publish", topic_name, (msg_id,), payload) for p in targets]
