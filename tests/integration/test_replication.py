"""Replication between real node processes on loopback (issue 5)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from p2pdb.log import Clock, Identity, Manifest, create_entry
from p2pdb.net.link import connect
from p2pdb.net.messages import Publish
from tests.integration.cluster import NodeProcess, cluster, wait_until


def _rows(node: NodeProcess, sql: str, db: str) -> list[tuple[object, ...]]:
    return node.query(sql, db)


def test_two_nodes_replicate_both_ways(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as (a, b):
        a.query("CREATE DATABASE shop")
        a.query("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))", "shop")
        a.query("INSERT INTO items (name) VALUES ('tea'), ('cake')", "shop")
        wait_until(lambda: len(_rows(b, "SELECT * FROM items", "shop")) == 2, 10, "rows on b")
        b.query("INSERT INTO items (name) VALUES ('jam')", "shop")
        wait_until(lambda: len(_rows(a, "SELECT * FROM items", "shop")) == 3, 10, "b's row on a")
        assert _rows(a, "SELECT * FROM items ORDER BY id", "shop") == _rows(
            b, "SELECT * FROM items ORDER BY id", "shop"
        )


def test_five_nodes_converge_after_concurrent_conflicting_writes(tmp_path: Path) -> None:
    with cluster(tmp_path, 5, chain=True) as nodes:
        nodes[0].query("CREATE DATABASE app")
        nodes[0].query("CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(40), n INT)", "app")
        nodes[0].query("INSERT INTO kv VALUES (1, 'start', 0), (2, 'start', 0)", "app")
        wait_until(
            lambda: all(_rows(n, "SELECT count(*) FROM kv", "app") == [(2,)] for n in nodes),
            20,
            "table everywhere",
        )

        # Every node writes the same rows at once: the merge must pick the same winners everywhere.
        def write(index: int, node: NodeProcess) -> None:
            for round_ in range(5):
                node.query(f"UPDATE kv SET v = 'node{index}-{round_}', n = n + 1 WHERE k = 1", "app")
                node.query(f"INSERT INTO kv VALUES ({100 + index * 10 + round_}, 'x', {index})", "app")
            if index == 2:
                node.query("DELETE FROM kv WHERE k = 2", "app")

        threads = [threading.Thread(target=write, args=(i, n)) for i, n in enumerate(nodes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        def same() -> bool:
            tables = {repr(_rows(n, "SELECT * FROM kv ORDER BY k", "app")) for n in nodes}
            return len(tables) == 1

        wait_until(same, 30, "identical tables on all five nodes")
        rows = _rows(nodes[0], "SELECT k FROM kv ORDER BY k", "app")
        assert (2,) not in rows  # the delete won
        assert len(rows) == 1 + 25


def test_restarted_node_catches_up(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as (a, b):
        a.query("CREATE DATABASE log")
        a.query("CREATE TABLE ev (id INT PRIMARY KEY, body TEXT)", "log")
        wait_until(lambda: _rows(b, "SELECT count(*) FROM ev", "log") == [(0,)], 10, "table on b")
        assert b.stop() == 0
        with a.connect("log") as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO ev VALUES (%s, %s)", [(i, f"event {i}") for i in range(500)])
        b.args = ["--bootstrap", a.p2p_address]
        b.start()
        wait_until(
            lambda: _rows(b, "SELECT count(*) FROM ev", "log") == [(500,)], 30, "catch-up after restart"
        )


def test_forged_entries_from_a_peer_are_rejected(tmp_path: Path) -> None:
    with cluster(tmp_path, 1) as (node,):
        node.query("CREATE DATABASE vault")
        node.query("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", "vault")
        heads_before = node.query("SELECT count(*) FROM t", "vault")
        attacker = Identity.generate()
        manifest = Manifest("vault")
        good = create_entry(attacker, manifest.address, Clock(1, attacker.public_key), [],
                            [{"t": "t", "k": [1], "cl": 1, "v": {"id": 1, "v": "forged"}}])  # fmt: skip
        tampered = bytearray(good.block)
        tampered[-40] ^= 0x01  # breaks the signature (or the CID the block is sent under)
        wrong_db = create_entry(attacker, "bafkreiwrongdatabase", Clock(1, attacker.public_key), [], [])

        async def attack() -> None:
            host, port = node.p2p_address.rsplit(":", 1)
            link = await connect(host, int(port), attacker, network_id="p2pdb-open")
            for block in (bytes(tampered), wrong_db.block):
                await link.send(Publish(db="vault", block=block))
            await asyncio.sleep(1.0)
            link.close()

        asyncio.run(asyncio.wait_for(attack(), 20))
        assert node.query("SELECT count(*) FROM t", "vault") == heads_before
        log = node.log()
        assert "rejected block" in log
        assert "InvalidSignature" in log or "NonCanonicalEncoding" in log or "MalformedEntry" in log


@pytest.mark.slow
def test_twenty_nodes_see_one_write(tmp_path: Path) -> None:
    with cluster(tmp_path, 20) as nodes:
        nodes[3].query("CREATE DATABASE wide")
        nodes[3].query("CREATE TABLE t (id INT PRIMARY KEY)", "wide")
        nodes[3].query("INSERT INTO t VALUES (7)", "wide")
        for node in nodes:
            wait_until(
                lambda node=node: _rows(node, "SELECT id FROM t", "wide") == [(7,)], 30, "write everywhere"
            )


def test_a_change_written_on_one_node_appears_on_the_other_nodes_feed(tmp_path: Path) -> None:
    import json
    import urllib.request

    with cluster(tmp_path, 2, extra=["--http-port", "auto"]) as (a, b):
        assert b.http_address
        a.query("CREATE DATABASE feed")
        a.query("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", "feed")
        a.query("INSERT INTO t VALUES (1, 'written on a')", "feed")
        wait_until(lambda: _rows(b, "SELECT v FROM t", "feed") == [("written on a",)], 15, "row on b")

        def events() -> list[dict[str, object]]:
            url = f"http://{b.http_address}/v1/changes?db=feed&from=0"
            request = urllib.request.Request(url)
            out = []
            with urllib.request.urlopen(request, timeout=5) as response:
                for line in response:
                    if line.strip():
                        out.append(json.loads(line))
                    if len(out) == 2:
                        break
            return out

        ddl, insert = events()
        assert ddl["op"] == "ddl"
        assert insert["op"] == "insert" and insert["row"] == {"id": 1, "v": "written on a"}
        assert insert["author"] != ""  # written by node a, applied on b
        status = json.loads(urllib.request.urlopen(f"http://{b.http_address}/v1/status", timeout=5).read())
        assert insert["author"] != status["peer_id"]


def test_writes_by_a_peer_outside_the_writers_are_refused(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import pymysql

    from tests.integration.cluster import NodeProcess

    def init(name: str) -> tuple[Path, str]:
        data_dir = tmp_path / name
        out = subprocess.run(
            [sys.executable, "-m", "p2pdb", "init", "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return data_dir, out.stdout.split()[-1]

    owner_dir, owner_id = init("owner")
    guest_dir, _guest_id = init("guest")
    (owner_dir / "config.json").write_text(json.dumps({"access": {"vault": {"owners": [owner_id]}}}))
    owner = NodeProcess(owner_dir).start()
    guest = NodeProcess(guest_dir, ["--bootstrap", owner.p2p_address]).start()
    try:
        owner.query("CREATE DATABASE vault")
        owner.query("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", "vault")
        owner.query("INSERT INTO t VALUES (1, 'by the owner')", "vault")
        wait_until(
            lambda: _rows(guest, "SELECT v FROM t", "vault") == [("by the owner",)],
            15,
            "owner's row on guest",
        )
        # The guest's own replica is open (no access configuration), so it takes the write locally...
        guest.query("INSERT INTO t VALUES (2, 'by a guest')", "vault")
        # ...but the owner refuses the entry before storing it, and penalises the guest.
        wait_until(lambda: "AccessDenied" in owner.log(), 15, "the owner to refuse the guest's entry")
        assert _rows(owner, "SELECT id FROM t ORDER BY id", "vault") == [(1,)]
        # A node configured with the access rules refuses a local write by an outsider with 1044.
        (guest_dir / "config.json").write_text(json.dumps({"access": {"vault": {"owners": [owner_id]}}}))
        assert guest.stop() == 0
        guest.start()
        with guest.connect("vault") as conn, conn.cursor() as cur:
            try:
                cur.execute("INSERT INTO t VALUES (3, 'refused')")
            except pymysql.err.OperationalError as exc:
                assert exc.args[0] == 1044
            else:
                raise AssertionError("a write outside the writers was accepted")
    finally:
        assert guest.stop() == 0
        assert owner.stop() == 0
