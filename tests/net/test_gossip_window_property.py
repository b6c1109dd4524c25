"""Property: whatever gossip brings, in whatever bursts, order, windows and from whichever peers,
a node ends with the state of its source, only the peers that sent forged entries pay for them,
and no entry goes back to the peer that wrote it.

The replicator's own code runs (``_on_publish``, the window's joins, forwarding); the peers are
stand-ins whose links record what is sent to them. Every delivery is a real ``Publish`` of real
signed entries (and of entries whose signature was broken)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gossip_stream import broken_signature

from p2pdb.log import CID, DEFAULT_NETWORK_ID, Clock, Identity, cid_for_block
from p2pdb.log.entry import create_entry, decode_entry
from p2pdb.net.messages import MAX_PUBLISH_MORE, Message, Publish
from p2pdb.net.replicator import Options, Peer, Replicator
from p2pdb.store.registry import Registry

WRITES = 80  # more than one join's worth (64), so a burst can fill the window


class RecordingLink:
    """What a peer's link is asked to send (the replicator never waits on it)."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def try_send(self, message: Message) -> bool:
        self.sent.append(message)
        return True

    def close(self) -> None:
        pass


@functools.cache
def source() -> tuple[Registry, list[bytes], list[bytes]]:
    """A database written by one node: its entries' blocks in causal order, and forged blocks (valid
    entries of another author with their signature broken, on the same parents)."""
    author = Identity.generate()
    registry = Registry(author, None)
    db = registry.create("shop")
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)"))
    for i in range(WRITES):
        if i % 3 == 2:
            db.write(lambda c, i=i: c.execute("UPDATE t SET v = ?, n = n + 1 WHERE id = ?", (f"u{i}", i - 1)))
        else:
            db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?, 0)", (i, f"v{i}")))
    blocks = [e.block for e in db.log.since([])]  # causal order
    intruder = Identity.generate()
    heads = list(db.log.heads)
    time = max(db.log.get(h).clock.time for h in heads)
    forged = [
        broken_signature(
            create_entry(intruder, db.log.id, Clock(time + 1, intruder.public_key), heads, [bytes([k])]).block
        )
        for k in range(3)
    ]
    return registry, blocks, forged


async def deliver(
    steps: list[tuple[Any, ...]], blocks: list[bytes], forged: list[bytes], author: str
) -> tuple[Replicator, dict[str, int]]:
    identity = Identity.generate()
    replica = Replicator(
        identity,
        Registry(identity, None),
        host="127.0.0.1",
        port=0,
        network_id=DEFAULT_NETWORK_ID,
        options=Options(gossip_window=60.0),  # flushes happen where the steps say
    )
    db = replica.registry.create("shop")
    # The third peer is the node that wrote the genuine entries: it may send them, and must never
    # be sent them back.
    ids = [Identity.generate().peer_id, Identity.generate().peer_id, author]
    peers = [Peer(RecordingLink(), ids[i], f"127.0.0.1:{4000 + i}", False) for i in range(3)]  # type: ignore[arg-type]
    for peer in peers:
        replica.peers[peer.peer_id] = peer
        replica.gossip.add_peer(peer.peer_id, {"shop"})
    forgers: dict[str, int] = {}
    pool = blocks + forged
    delivered: set[bytes] = set()
    for step in steps:
        if step[0] == "flush":
            replica._flush_inbox()
            continue
        _, who, picks = step
        burst = [pool[i % len(pool)] for i in picks][: MAX_PUBLISH_MORE + 1]
        if not burst:
            continue
        sender = peers[who]
        forgers[sender.peer_id] = forgers.get(sender.peer_id, 0) + sum(1 for b in burst if b in forged)
        delivered.update(burst)
        replica._on_publish(sender, Publish(db="shop", block=burst[0], more=burst[1:]))
    replica._flush_inbox()
    # The node holds exactly the delivered entries whose whole past was delivered.
    complete: set[CID] = set()
    for block in blocks:  # causal order
        entry = decode_entry(block, cid_for_block(block))
        if block in delivered and all(p in complete for p in entry.parents):
            complete.add(entry.cid)
    assert {cid_for_block(b) for b in blocks if cid_for_block(b) in db.log} == complete
    # What gossip missed, anti-entropy brings: every genuine entry once more, from the first peer.
    replica._on_publish(peers[0], Publish(db="shop", block=blocks[0], more=blocks[1:]))
    replica._flush_inbox()
    await asyncio.sleep(0)  # the window's scheduled flush finds nothing left
    assert db.log.heads
    penalties = {p.peer_id: p.penalty for p in peers}
    for peer in peers:
        assert peer.penalty <= 5 * forgers.get(peer.peer_id, 0), (peer.penalty, forgers)
        forwarded = [cid_for_block(b) for m in peer.link.sent if isinstance(m, Publish) for b in m.blocks]  # type: ignore[attr-defined]
        assert not {cid_for_block(f) for f in forged} & set(forwarded)  # forged entries never go on
        if peer.peer_id == author:
            assert not forwarded, "an entry went back to the peer that wrote it"
    return replica, penalties


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(0, 2), st.lists(st.integers(0, 999), max_size=70)),
        st.just(("flush",)),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_any_gossip_delivery_converges_and_charges_only_forgers(steps: list[tuple[Any, ...]]) -> None:
    registry, blocks, forged = source()
    replica, _ = asyncio.run(deliver(steps, blocks, forged, registry.identity.peer_id))
    try:
        got = replica.registry.get("shop")
        want = registry.get("shop")
        assert got is not None and want is not None
        assert got.state_hash() == want.state_hash()
        assert set(got.log.heads) == set(want.log.heads)
    finally:
        replica.registry.close()
