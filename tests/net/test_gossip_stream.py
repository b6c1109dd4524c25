"""Gossiped entries are checked and forwarded on arrival; their apply waits a little while
entries stream in, so that one store transaction takes several (replicators in one event loop,
real links on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Container
from typing import Any

from test_replicator_robustness import node, rows, run, until

from p2pdb.log import CID, DEFAULT_NETWORK_ID, Clock, Identity, cid_for_block
from p2pdb.log.entry import create_entry
from p2pdb.net import replicator as replicator_module
from p2pdb.net.gossip import Send
from p2pdb.net.link import Link, connect
from p2pdb.net.messages import Hello, Publish
from p2pdb.net.replicator import Replicator


def spy_on(b: Replicator) -> list[tuple[str, Any]]:
    """Record, in order, the entries ``b`` forwards (``("send", cid)``) and joins (``("join", cids)``)."""
    events: list[tuple[str, Any]] = []
    dispatch, join = b._dispatch, b._join_from

    def on_dispatch(sends: list[Send]) -> None:
        events.extend(("send", cid_for_block(s.payload)) for s in sends if s.kind == "publish")
        dispatch(sends)

    def on_join(peer: Any, db: Any, blocks: list[bytes], checked: Container[CID] = frozenset()) -> Any:
        events.append(("join", [cid_for_block(block) for block in blocks]))
        return join(peer, db, blocks, checked)

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


def broken_signature(block: bytes) -> bytes:
    """``block`` with one bit of its signature flipped."""
    at = block.index(b"csigX@") + 6  # the signature's first byte
    return block[:at] + bytes([block[at] ^ 1]) + block[at + 1 :]


async def test_a_stream_is_forwarded_on_arrival_and_applied_in_batches() -> None:
    async with node() as a, node(bootstrap=[a.address]) as b, node(bootstrap=[b.address]) as c:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(c, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on c")
        await until(lambda: len(b.peers) == 2, "b linked to a and c")
        events = spy_on(b)
        for i in range(60):  # a stream: 200 entries/s, each published alone
            run(a, "shop", f"INSERT INTO t VALUES ({i})")
            await asyncio.sleep(0.005)
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(60,)], "the stream on b")
        await until(lambda: rows(c, "shop", "SELECT count(*) FROM t") == [(60,)], "the stream on c")
        joins = [cids for kind, cids in events if kind == "join"]
        joined = [cid for cids in joins for cid in cids]
        assert len(joined) >= 40, len(joined)  # most came to b by gossip from a
        assert len(joins) < 0.7 * len(joined), (len(joins), len(joined))  # several per join
        sent_at = {cid: n for n, (kind, cid) in enumerate(events) if kind == "send"}
        joined_at = {cid: n for n, (kind, cids) in enumerate(events) if kind == "join" for cid in cids}
        forwarded = [cid for cid in joined_at if cid in sent_at]
        assert len(forwarded) >= len(joined) / 2, (len(forwarded), len(joined))  # b sends them on to c
        assert all(sent_at[cid] < joined_at[cid] for cid in forwarded)  # before applying them
        assert b.registry.get("shop").state_hash() == a.registry.get("shop").state_hash()


async def test_a_single_entry_is_applied_in_the_same_loop_turn() -> None:
    """Outside a stream nothing waits: one write is joined at the end of the turn it arrived in."""
    async with node() as a, node(bootstrap=[a.address]) as b:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on b")
        await asyncio.sleep(min(2 * replicator_module.STREAM_GAP, 1.0))
        loop = asyncio.get_running_loop()
        delays: list[float] = []
        on_publish = b._on_publish

        def timed(peer: Any, message: Publish) -> None:
            delays.append(loop.time())
            on_publish(peer, message)

        b._on_publish = timed
        run(a, "shop", "INSERT INTO t VALUES (1)")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(1,)], "the write on b")
        assert delays and b._last_publish_flush - delays[0] < replicator_module.COALESCE / 2


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


async def test_a_join_that_fails_forgets_its_entries_and_spares_the_others() -> None:
    """A join of gossiped entries that raises (a full disk, say) leaves none of its entries marked
    as queued (they are taken again when they come again) and does not stop the other batches."""
    async with node() as a, node(bootstrap=[a.address]) as b:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on b")
        run(a, "app", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await until(lambda: rows(b, "app", "SELECT count(*) FROM t") == [(0,)], "the app table on b")
        join = b._join_from
        failed: list[str] = []

        def failing(peer: Any, db: Any, blocks: list[bytes], checked: Container[CID] = frozenset()) -> Any:
            if db.name == "shop" and not failed:
                failed.append(db.name)
                raise OSError("disk full")
            return join(peer, db, blocks, checked)

        b._join_from = failing  # type: ignore[method-assign]
        run(a, "shop", "INSERT INTO t VALUES (1)")  # the same loop turn: one flush, two batches
        run(a, "app", "INSERT INTO t VALUES (1)")
        await until(lambda: failed == ["shop"], "the failing join")
        await until(lambda: rows(b, "app", "SELECT count(*) FROM t") == [(1,)], "the other batch")
        assert not b._queued.get("shop") and not b._queued.get("app") and not b._checked
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(1,)], "the repair")
