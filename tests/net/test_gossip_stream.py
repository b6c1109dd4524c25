"""A gossiped entry goes on only once the log took it: a forged one, or one built on an entry the log
refused, is never forwarded (its peers would penalise the forwarder). Replicators in one event loop,
real links on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Container
from contextlib import asynccontextmanager
from typing import Any

from test_replicator_robustness import node, rows, run, until

from p2pdb.log import CID, DEFAULT_NETWORK_ID, Clock, Entry, Identity, cid_for_block
from p2pdb.log.entry import create_entry
from p2pdb.net.gossip import Send
from p2pdb.net.link import Link, connect
from p2pdb.net.messages import Hello, IHave, Publish
from p2pdb.net.replicator import Options, Replicator
from p2pdb.store import Database


def spy_on(b: Replicator) -> list[tuple[str, Any]]:
    """Record, in order, the entries ``b`` forwards (``("send", cid)``) and joins (``("join", cids)``)."""
    events: list[tuple[str, Any]] = []
    dispatch, join = b._dispatch, b._join_from

    def on_dispatch(sends: list[Send]) -> None:
        events.extend(("send", cid_for_block(s.payload)) for s in sends if s.kind == "publish")
        dispatch(sends)

    def on_join(
        peer: Any, db: Any, blocks: list[bytes], checked: Container[CID] = frozenset(), **kw: Any
    ) -> Any:
        events.append(("join", [cid_for_block(block) for block in blocks]))
        return join(peer, db, blocks, checked, **kw)

    b._dispatch = on_dispatch  # type: ignore[method-assign]
    b._join_from = on_join  # type: ignore[method-assign]
    return events


async def attacker_link(b: Replicator, name: str) -> Link:
    """A link to ``b`` from a new key that replicates database ``name``, once ``b`` counts it as a peer."""
    attacker = Identity.generate()
    host, _, port = b.address.rpartition(":")
    link = await connect(host, int(port), attacker, network_id=DEFAULT_NETWORK_ID)
    await link.send(Hello(peer_id=attacker.peer_id, listen=[], databases=[name], version=2))
    await until(lambda: attacker.peer_id in b.peers, "the attacker's link")
    return link


@asynccontextmanager
async def windowed_pair() -> AsyncIterator[tuple[Replicator, Replicator, Database]]:
    """Node ``a`` and node ``b``, whose gossip window is a second (and no heads exchange comes
    meanwhile), both holding table ``t`` of database ``shop``; also ``a``'s copy of ``shop``."""
    options = Options(gossip_window=1.0, sync_interval=30.0)
    async with node() as a, node(bootstrap=[a.address], options=options) as b:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on b")
        shop = a.registry.get("shop")
        assert shop is not None
        yield a, b, shop


def chain(a: Replicator, shop: Database, count: int) -> list[Entry]:
    """``count`` entries signed by ``a`` and not applied anywhere: the first on ``shop``'s heads,
    each next one on the one before."""
    parents = list(shop.log.heads)
    time = max(shop.log.clock_of(h).time for h in parents)
    entries: list[Entry] = []
    for i in range(count):
        entries.append(
            create_entry(a.identity, shop.log.id, Clock(time + 1 + i, a.identity.public_key), parents, [])
        )
        parents = [entries[-1].cid]
    return entries


def broken_signature(block: bytes) -> bytes:
    """``block`` with one bit of its signature flipped."""
    at = block.index(b"csigX@") + 6  # the signature's first byte
    return block[:at] + bytes([block[at] ^ 1]) + block[at + 1 :]


async def test_a_gossiped_entry_that_fails_its_checks_is_not_forwarded() -> None:
    async with node() as a, node(bootstrap=[a.address]) as b, node(bootstrap=[b.address]) as c:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(c, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on c")
        run(a, "shop", "INSERT INTO t VALUES (1)")
        entry = a.registry.get("shop").log.heads
        good = a.registry.get("shop").log.get(next(iter(entry))).block
        forged = broken_signature(good)
        events = spy_on(b)
        link = await attacker_link(b, "shop")
        await link.send(Publish(db="shop", block=forged))
        await until(lambda: b.counters["entries_rejected"] >= 1, "b's rejection of the forged entry")
        assert not any(kind == "send" and cid == cid_for_block(forged) for kind, cid in events)
        assert cid_for_block(forged) not in b.registry.get("shop").log
        assert any(kind == "join" and cid_for_block(forged) in cids for kind, cids in events)
        link.close()


async def test_an_entry_built_on_a_refused_one_is_not_forwarded() -> None:
    """A writer signs a valid entry on top of an entry with a broken signature. A node that refused
    the broken one refuses what is built on it, and forwards neither (its peers would penalise it)."""
    async with node() as a, node(bootstrap=[a.address]) as b, node(bootstrap=[b.address]) as c:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(c, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on c")
        shop = a.registry.get("shop")
        assert shop is not None
        good = create_entry(
            a.identity, shop.log.id, Clock(50, a.identity.public_key), list(shop.log.heads), []
        )
        broken = broken_signature(good.block)
        child = create_entry(
            a.identity, shop.log.id, Clock(51, a.identity.public_key), [cid_for_block(broken)], []
        )
        events = spy_on(b)
        link = await attacker_link(b, "shop")
        await link.send(Publish(db="shop", block=broken))
        await until(lambda: b.counters["entries_rejected"] >= 1, "b's refusal of the broken entry")
        await link.send(Publish(db="shop", block=child.block))
        await until(lambda: b.counters["entries_rejected"] >= 2, "b's refusal of its child")
        assert not any(kind == "send" for kind, _ in events)
        link.close()


async def test_entries_joined_together_are_charged_to_their_own_senders() -> None:
    """Entries that two peers gossip within one window are joined in one transaction; a forged one
    costs only the peer that sent it, and the good ones are applied and forwarded."""
    async with windowed_pair() as (a, b, shop):
        good = chain(a, shop, 3)
        forged = broken_signature(
            create_entry(a.identity, shop.log.id, good[0].clock, list(good[0].parents), [b"x"]).block
        )
        honest, hostile = await attacker_link(b, "shop"), await attacker_link(b, "shop")
        events = spy_on(b)
        await honest.send(Publish(db="shop", block=good[0].block))  # after a quiet spell: joined at once
        await until(lambda: good[0].cid in b.registry.get("shop").log, "the first entry on b")  # type: ignore[union-attr]
        await honest.send(Publish(db="shop", block=good[1].block, more=[good[2].block]))
        await hostile.send(Publish(db="shop", block=forged))
        await until(lambda: b.counters["entries_rejected"] >= 1, "b's refusal of the forged entry")
        joins = [cids for kind, cids in events if kind == "join"]
        assert joins[-1] == [good[1].cid, good[2].cid, cid_for_block(forged)]  # one join for the window
        by_key = {p.peer_id: p for p in b.peers.values()}
        penalties = sorted(
            (p.penalty, p.received) for p in by_key.values() if p.peer_id != a.identity.peer_id
        )
        assert penalties == [(0, 3), (5, 0)], penalties  # the honest link: 3 applied, no penalty
        sent = [cid for kind, cid in events if kind == "send"]
        assert set(sent) == {g.cid for g in good}  # the good ones go on, the forged one does not
        honest.close()
        hostile.close()


async def test_an_announced_entry_waiting_in_the_window_is_not_asked_for() -> None:
    """An entry gossiped to a node waits for the window's end; an announcement of it meanwhile must
    not make the node ask for it again (the announcer would push it a second time)."""
    async with windowed_pair() as (a, b, shop):
        first, second = chain(a, shop, 2)
        link = await attacker_link(b, "shop")
        await link.send(Publish(db="shop", block=first.block))  # after a quiet spell: joined at once
        await until(lambda: first.cid in b.registry.get("shop").log, "the first entry on b")  # type: ignore[union-attr]
        await link.send(Publish(db="shop", block=second.block))  # waits for the window
        await until(lambda: second.cid in b._inbox.get("shop", {}), "the second entry in b's window")
        wants = b.sent_kinds["Want"]
        await link.send(IHave(db="shop", cids=[bytes(second.cid)]))
        await until(lambda: second.cid in b.registry.get("shop").log, "the second entry on b")  # type: ignore[union-attr]
        assert b.sent_kinds["Want"] == wants
        link.close()


async def test_an_entry_is_not_forwarded_back_to_the_peer_that_wrote_it() -> None:
    """A node relays a gossiped entry to its mesh, but not to the entry's author, which has it: with
    one writer, every other node sent each of its entries back to it."""
    async with node() as a, node(bootstrap=[a.address]) as b, node(bootstrap=[b.address]) as c:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(c, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on c")
        shop = a.registry.get("shop")
        assert shop is not None
        entries = chain(a, shop, 2)  # written by a, held by nobody yet
        relay = await attacker_link(b, "shop")  # another peer that hands them to b
        sent: list[tuple[str, CID]] = []
        dispatch = b._dispatch

        def on_dispatch(sends: list[Send]) -> None:
            sent.extend((s.peer, cid_for_block(s.payload)) for s in sends if s.kind == "publish")
            dispatch(sends)

        b._dispatch = on_dispatch  # type: ignore[method-assign]
        await relay.send(Publish(db="shop", block=entries[0].block, more=[entries[1].block]))
        await until(lambda: entries[1].cid in c.registry.get("shop").log, "the entries on c")  # type: ignore[union-attr]
        forwarded = {(peer, cid) for peer, cid in sent if cid in {e.cid for e in entries}}
        assert forwarded == {(c.identity.peer_id, e.cid) for e in entries}, forwarded
        relay.close()
