"""Replicators in one event loop, over real links on 127.0.0.1 (issue 10): many databases, DROP
DATABASE, bans by peer id, partitions that heal in bulk."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Container
from contextlib import asynccontextmanager
from typing import Any

import apsw
import pytest

from p2pdb.log import CID, DEFAULT_NETWORK_ID, Identity, cid_for_block
from p2pdb.net.link import connect
from p2pdb.net.messages import Hello, Publish
from p2pdb.net.replicator import Options, Replicator, runs
from p2pdb.store.registry import Registry

TIMEOUT = 20.0


def fast(**overrides: object) -> Options:
    return Options(sync_interval=0.2, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def node(
    *, bootstrap: list[str] | None = None, options: Options | None = None, registry: Registry | None = None
) -> AsyncIterator[Replicator]:
    identity = Identity.generate()
    replicator = Replicator(
        identity,
        registry or Registry(identity, None),
        host="127.0.0.1",
        port=0,
        network_id=DEFAULT_NETWORK_ID,
        bootstrap=bootstrap or [],
        options=options or fast(),
    )
    await replicator.start()
    try:
        yield replicator
    finally:
        await replicator.stop()
        replicator.registry.close()


async def until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def run(replicator: Replicator, name: str, *statements: str) -> None:
    db = replicator.registry.get(name) or replicator.registry.create(name)

    def fn(conn: apsw.Connection) -> None:
        for sql in statements:
            conn.execute(sql)

    db.write(fn)


def rows(replicator: Replicator, name: str, sql: str) -> list[tuple[object, ...]]:
    db = replicator.registry.get(name)
    if db is None:
        return []
    try:
        return db.query(sql)
    except apsw.SQLError:
        return []


async def test_a_node_with_more_databases_than_a_hello_names_stays_a_good_peer() -> None:
    identity = Identity.generate()
    registry = Registry(identity, None)
    for i in range(4500):
        registry.create(f"d{i}")
    async with node(registry=registry) as a, node(bootstrap=[a.address]) as b:
        await until(lambda: len(a.peers) == 1 and len(b.peers) == 1, "a link")
        await asyncio.sleep(1.0)  # Hello, Databases pages, a few heads rotations
        assert len(a.peers) == 1 and len(b.peers) == 1 and not a.banned and not b.banned
        run(a, "d4321", "CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (7)")
        await until(lambda: rows(b, "d4321", "SELECT id FROM t") == [(7,)], "a write in database 4321")
        # The empty databases were named, not created: a name alone costs the peer nothing lasting.
        assert len(b.registry.names()) < 100


async def test_a_dropped_database_stays_dropped_until_created_again() -> None:
    async with node() as a, node(bootstrap=[a.address]) as b:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)")
        await until(lambda: rows(b, "shop", "SELECT id FROM t") == [(1,)], "shop on b")
        b.registry.drop("shop")
        run(a, "shop", "INSERT INTO t VALUES (2)")
        await asyncio.sleep(1.5)  # several heads exchanges, gossip of a new entry
        assert "shop" not in b.registry.names()
        b.registry.create("shop")  # joining again brings everything back
        await until(lambda: rows(b, "shop", "SELECT id FROM t ORDER BY id") == [(1,), (2,)], "shop again")


async def test_garbage_gets_the_key_banned_not_an_address() -> None:
    async with node() as victim, node(bootstrap=[victim.address]) as honest:
        await until(lambda: len(victim.peers) == 1, "the honest peer")
        attacker = Identity.generate()
        host, _, port = victim.address.rpartition(":")
        link = await connect(host, int(port), attacker, network_id=DEFAULT_NETWORK_ID)
        # It claims the honest peer's address as its own, then sends a frame that is no message.
        await link.send(Hello(peer_id=attacker.peer_id, listen=[honest.address], databases=[], version=2))
        link._writer.write(b"\x00\x05garbage")
        await until(lambda: victim.is_banned(attacker.peer_id), "the attacker's ban")
        link.close()
        with pytest.raises(Exception, match="banned"):
            await connect(host, int(port), attacker, network_id=DEFAULT_NETWORK_ID)
        assert not victim.is_banned(honest.identity.peer_id)
        assert honest.identity.peer_id in victim.peers  # the honest link is untouched


@pytest.mark.parametrize("entries", [2000])
async def test_a_partition_heals_in_bulk(entries: int) -> None:
    async with node() as a, node(bootstrap=[a.address]) as b:
        run(a, "app", "CREATE TABLE t (id INTEGER PRIMARY KEY, side TEXT)")
        await until(lambda: rows(b, "app", "SELECT count(*) FROM t") == [(0,)], "the table on b")
        # Partition: b stops dialling a and drops the link; each side writes its own branch.
        b.bootstrap.clear()
        b.known.clear()
        for peer in list(b.peers.values()):
            peer.link.close()
        await until(lambda: not a.peers and not b.peers, "the split")
        for i in range(entries):
            run(a, "app", f"INSERT INTO t VALUES ({i}, 'a')")
            run(b, "app", f"INSERT INTO t VALUES ({entries + i}, 'b')")
        wants_before = a.counters["wants_sent"] + b.counters["wants_sent"]
        b.bootstrap.append(a.address)
        start = asyncio.get_running_loop().time()
        await until(
            lambda: (
                rows(a, "app", "SELECT count(*) FROM t") == [(2 * entries,)]
                and rows(b, "app", "SELECT count(*) FROM t") == [(2 * entries,)]
            ),
            "the heal",
            timeout=60,
        )
        took = asyncio.get_running_loop().time() - start
        wants = a.counters["wants_sent"] + b.counters["wants_sent"] - wants_before
        # One entry per round trip would take thousands of Wants; bulk pushes take none or a few.
        assert wants < 20, f"{wants} Wants for a heal of {entries} entries per side ({took:.1f} s)"


async def test_a_big_batch_is_joined_in_chunks_with_the_loop_free_between_them() -> None:
    """A catch-up arrives as Blocks messages of up to 512 entries. Joined at once, one message held
    the event loop (every MySQL client of the node) for hundreds of milliseconds; it is joined in
    chunks of about JOIN_BUDGET each, and other tasks run between any two chunks."""
    async with node() as a:
        db = a.registry.create("shop")
        db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(1500):
            db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'v')", (i,)))
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async with node(bootstrap=[a.address]) as b:
            chunks: list[tuple[int, int]] = []  # (blocks, ticks before the chunk)
            join = b._join_from

            def spy(
                peer: object, database: object, blocks: list[bytes], *checked: object, **kw: object
            ) -> object:
                chunks.append((len(blocks), ticks))
                return join(peer, database, blocks, *checked, **kw)  # type: ignore[arg-type]

            b._join_from = spy  # type: ignore[method-assign,assignment]
            task = asyncio.create_task(ticker())
            try:
                await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(1500,)], "the catch-up")
            finally:
                task.cancel()
            messages = b.received_kinds["Blocks"] + b.received_kinds["Publish"]
        pushed = [n for n, _ in chunks]
        assert sum(pushed) >= 1500 and max(pushed) < 512, pushed
        assert b.received_kinds["Blocks"] < len(chunks) / 4  # big messages, several chunks each
        # Between two chunks of one message the loop ran the ticker; two messages already received
        # may follow each other without a pause (at most one such pair per message).
        stalls = sum(1 for (_, earlier), (_, later) in itertools.pairwise(chunks) if later == earlier)
        assert stalls <= messages


async def test_a_catch_up_is_verified_by_the_verifier_process() -> None:
    """With ``verify_process`` (as ``p2pdb start`` runs), big batches are checked by a child process
    and the log skips the checks it made; the result is the same state."""
    async with node() as a:
        db = a.registry.create("shop")
        db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(600):
            db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'v')", (i,)))
        async with node(bootstrap=[a.address], options=fast(verify_process=True)) as b:
            trusted: list[int] = []
            join = b._join_from

            def spy(
                peer: object,
                database: object,
                blocks: list[bytes],
                checked: Container[CID] = frozenset(),
                **kw: object,
            ) -> object:
                trusted.append(sum(1 for block in blocks if cid_for_block(block) in checked))
                return join(peer, database, blocks, checked, **kw)  # type: ignore[arg-type]

            b._join_from = spy  # type: ignore[method-assign,assignment]
            await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(600,)], "the catch-up")
            assert b.verifier is not None and b.verifier.blocks >= 500
            assert sum(trusted) >= 500  # joined as checked by the worker
            replica = b.registry.get("shop")
            assert replica is not None and replica.state_hash() == db.state_hash()


def count_gossiped(b: Replicator) -> list[int]:
    """Entries in each Publish ``b`` receives, in order."""
    sizes: list[int] = []
    on_publish = b._on_publish

    def spy(peer: Any, message: Publish) -> None:
        sizes.append(len(message.blocks))
        on_publish(peer, message)

    b._on_publish = spy  # type: ignore[method-assign]
    return sizes


async def test_gossiped_entries_of_one_burst_are_joined_and_sent_together() -> None:
    """Entries committed in a burst are published in a few Publish messages of many entries, joined
    in a few store transactions, not one by one, and applied."""
    async with node() as a, node(bootstrap=[a.address]) as b:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on b")
        joins: list[int] = []
        join = b._join_from

        def spy(
            peer: object,
            database: object,
            blocks: list[bytes],
            checked: Container[CID] = frozenset(),
            **kw: object,
        ) -> object:
            joins.append(len(blocks))
            return join(peer, database, blocks, checked, **kw)  # type: ignore[arg-type]

        b._join_from = spy  # type: ignore[method-assign,assignment]
        gossiped = count_gossiped(b)
        for i in range(300):  # without yielding: the publishes leave in one burst
            run(a, "shop", f"INSERT INTO t VALUES ({i}, 'v')")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(300,)], "the burst on b")
        assert sum(gossiped) >= 200, gossiped  # they came by gossip
        assert len(gossiped) <= sum(gossiped) / 32, gossiped  # up to 64 entries per Publish
        assert max(joins) > 1 and len(joins) < sum(gossiped) / 4, (joins, gossiped)
        assert b.registry.get("shop").state_hash() == a.registry.get("shop").state_hash()  # type: ignore[union-attr]


async def test_commits_that_stream_are_gossiped_once_per_window() -> None:
    """A commit after a quiet spell is published at once; commits that follow it within the
    gossip window wait for the window's end and go out together."""
    window = 1.0
    options = Options(gossip_window=window, sync_interval=30.0)  # no heads exchange meanwhile
    async with node(options=options) as a, node(bootstrap=[a.address], options=options) as b:
        run(a, "shop", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(0,)], "the table on b")
        await asyncio.sleep(1.5 * window)  # quiet
        gossiped = count_gossiped(b)
        started = asyncio.get_running_loop().time()
        run(a, "shop", "INSERT INTO t VALUES (1, 'first')")
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(1,)], "the first row on b")
        first = asyncio.get_running_loop().time() - started
        for i in range(2, 12):
            run(a, "shop", f"INSERT INTO t VALUES ({i}, 'more')")
            await asyncio.sleep(0.01)
        assert rows(b, "shop", "SELECT count(*) FROM t") == [(1,)]  # the others wait for the window
        await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(11,)], "the rest on b")
        rest = asyncio.get_running_loop().time() - started
    assert first < window / 2, first
    assert rest >= window * 0.9, rest
    assert gossiped == [1, 10], gossiped


async def test_a_peer_whose_batch_takes_long_to_join_is_not_taken_for_silent() -> None:
    """While a node joins a big batch from a peer (seconds, for entries of 1,000 rows), it reads
    nothing more from that peer. Its liveness check took that for a silent link, closed it mid-read,
    and then banned the peer for "invalid data" (a 100,000-row bootstrap stalled for five minutes)."""
    import time

    async with node() as a:
        db = a.registry.create("shop")
        db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(150):
            db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'v')", (i,)))
        async with node(bootstrap=[a.address]) as b:
            join = b._join_from

            def slow(
                peer: object, database: object, blocks: list[bytes], *checked: object, **kw: object
            ) -> object:
                time.sleep(0.02 * len(blocks))  # a slow join: 150 entries take 3 s, the limit is 1.6 s
                return join(peer, database, blocks, *checked, **kw)  # type: ignore[arg-type]

            b._join_from = slow  # type: ignore[method-assign,assignment]
            await until(lambda: len(b.peers) == 1, "a link")
            link = next(iter(b.peers.values())).link
            await until(lambda: rows(b, "shop", "SELECT count(*) FROM t") == [(150,)], "the catch-up")
            assert not b.banned and not a.banned
            assert [p.link for p in b.peers.values()] == [link]  # the same link all along


def test_runs_keep_order_and_bounds() -> None:
    """Blocks split into messages keep their order; a run holds at most ``count`` blocks and
    ``size`` bytes, and a block bigger than ``size`` travels alone."""
    blocks = [b"a" * 3, b"b" * 3, b"c" * 9, b"d", b"e", b"f", b"g"]
    assert list(runs(blocks, 3, 8)) == [[b"aaa", b"bbb"], [b"c" * 9], [b"d", b"e", b"f"], [b"g"]]
    assert list(runs([], 3, 8)) == []
