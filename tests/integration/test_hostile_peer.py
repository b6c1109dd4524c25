"""A scripted hostile peer against a real node (issue 10): it completes a handshake, then sends every
attack we know of. The victim must stay responsive (a client's point selects stay fast), keep its
memory bounded, keep replicating with an honest peer, and refuse the attacker's key once banned.

Attacks: a dag-cbor value-sharing bomb, entries carrying values no column can hold (an integer past
64 bits, text into INTEGER), a flood of database names, a flood of unknown heads, orphan entries whose
ancestors never come, a flood of Wants, and garbage frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest

from p2pdb.log import CID, Clock, Identity, Manifest, create_entry
from p2pdb.log.cid import cid_for_block
from p2pdb.net.link import HandshakeError, Link, connect
from p2pdb.net.messages import Blocks, Heads, Hello, Publish, Want
from tests.integration.cluster import NodeProcess, cluster, wait_until

NETWORK = "p2pdb-open"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sharing_bomb(levels: int = 24) -> bytes:
    """A few hundred bytes that a decoder expanding shared references turns into 2**levels items."""
    value: Any = [1, 2]
    for _ in range(levels):
        value = [value, value]
    return b"\xa7" + cbor2.dumps(value, value_sharing=True)


def fake_cid(n: int) -> bytes:
    return bytes(cid_for_block(n.to_bytes(8, "big")))


class Attacker:
    def __init__(self, victim: NodeProcess) -> None:
        self.victim = victim
        self.identity = Identity.generate()
        self.link: Link | None = None

    async def connect(self) -> Link:
        host, _, port = self.victim.p2p_address.rpartition(":")
        self.link = await connect(host, int(port), self.identity, network_id=NETWORK)
        await self.link.send(Hello(peer_id=self.identity.peer_id, listen=[], databases=["shop"], version=2))
        return self.link

    def entry(self, ops: Any, *, time_: int = 1, parents: tuple[CID, ...] = ()) -> bytes:
        db = Manifest("shop", network_id=NETWORK).address
        return create_entry(self.identity, db, Clock(time_, self.identity.public_key), parents, ops).block


async def attack(victim: NodeProcess) -> dict[str, Any]:
    attacker = Attacker(victim)
    link = await attacker.connect()
    # 1. A value-sharing bomb, as a block and as a gossip push.
    bomb = sharing_bomb()
    await link.send(Blocks(db="shop", blocks=[bomb]))
    await link.send(Publish(db="shop", block=bomb))
    # 2. Entries whose values fit no column: an integer past 64 bits, text into an INTEGER column.
    big = attacker.entry([{"t": "items", "k": [99], "cl": 1, "v": {"id": 99, "qty": 2**64 - 1}, "i": True}])
    text = attacker.entry([{"t": "items", "k": [98], "cl": 1, "v": {"id": 98, "qty": "many"}, "i": True}])
    await link.send(Blocks(db="shop", blocks=[big, text]))
    # 3. A flood of database names, 4. of unknown heads, 5. of orphan entries, 6. of Wants.
    for i in range(300):
        await link.send(Heads(db=f"junk{i}", heads=[fake_cid(i)]))
    for i in range(20):
        await link.send(Heads(db="shop", heads=[fake_cid(10_000 + i * 4096 + j) for j in range(4096)]))
    orphans = [attacker.entry({"n": i}, time_=2, parents=(CID(fake_cid(77)),)) for i in range(2000)]
    for start in range(0, len(orphans), 500):
        await link.send(Blocks(db="shop", blocks=orphans[start : start + 500]))
    for _ in range(200):
        await link.send(Want(db="shop", cids=[fake_cid(j) for j in range(4096)]))
    # 7. Garbage: the peer has had enough, or the garbage ends the link.
    with contextlib.suppress(Exception):
        link._writer.write(os.urandom(4096))  # bytes that are no valid frame
        await link._writer.drain()
    await asyncio.sleep(1.0)
    link.close()
    # The attacker's key is banned: its next handshake is refused.
    refused = False
    try:
        again = await attacker.connect()
        await asyncio.sleep(0.5)
        refused = again.closed
        again.close()
    except (HandshakeError, ConnectionError, OSError):
        refused = True
    return {"refused": refused}


@pytest.mark.slow
def test_a_hostile_peer_hurts_only_its_own_link(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as (victim, honest):
        victim.query("CREATE DATABASE shop")
        victim.query("CREATE TABLE items (id INT PRIMARY KEY, qty INT)", "shop")
        victim.query("INSERT INTO items VALUES (1, 1)", "shop")
        wait_until(
            lambda: honest.query("SELECT count(*) FROM items", "shop") == [(1,)],
            20,
            "items on the honest peer",
        )
        assert victim.process is not None
        before = rss_mib(victim.process.pid)
        conn = victim.connect("shop")
        result: dict[str, Any] = {}

        async def run() -> None:
            result.update(await asyncio.wait_for(attack(victim), 120))

        import threading

        worker = threading.Thread(target=lambda: asyncio.run(run()))
        worker.start()
        latencies = []
        with conn.cursor() as cur:
            while worker.is_alive():
                start = time.monotonic()
                cur.execute("SELECT qty FROM items WHERE id = 1")
                assert cur.fetchall() == ((1,),)
                latencies.append(time.monotonic() - start)
                time.sleep(0.01)
        worker.join()
        conn.close()
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
        assert p99 < 0.5, f"point selects slowed to {p99 * 1000:.0f} ms during the attack"
        assert result.get("refused"), "the attacker's key was not banned"
        # Honest replication goes on both ways.
        honest.query("INSERT INTO items VALUES (2, 2)", "shop")
        wait_until(
            lambda: victim.query("SELECT count(*) FROM items", "shop") == [(2,)],
            20,
            "honest write on the victim",
        )
        # Nothing of the attacker's reached the table; junk databases are not announced or kept.
        assert victim.query("SELECT id FROM items ORDER BY id", "shop") == [(1,), (2,)]
        databases = {row[0] for row in victim.query("SHOW DATABASES")}
        assert len([d for d in databases if d.startswith("junk")]) <= 64
        grown = rss_mib(victim.process.pid) - before
        print(
            f"\nduring the attack: {len(latencies)} point selects, p99 {p99 * 1000:.1f} ms; RSS +{grown:.0f} MiB"
        )
        assert grown < 300, "memory grew without bound"
