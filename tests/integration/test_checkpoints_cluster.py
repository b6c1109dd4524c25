"""Checkpoints between real node processes: five archive nodes write across several intervals and
agree on a chain; a light node joins from a snapshot and a short tail and answers as the archives
do; a node whose data file was edited behind its log's back finds it at the next checkpoint and
repairs it; a snapshot leaves one node as a CAR file (read by a standard CAR reader) and starts
another."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import apsw
import libipld
import pymysql
import pytest

from .cluster import NodeProcess, cluster, free_port, wait_until

pytestmark = pytest.mark.timeout(240)


def get(node: NodeProcess, path: str) -> Any:
    with urllib.request.urlopen(f"http://{node.http_address}{path}", timeout=10) as response:
        return json.load(response) if path.startswith("/v1") else response.read().decode()


def chain(node: NodeProcess, db: str = "shop") -> list[dict[str, Any]]:
    return list(get(node, f"/v1/checkpoints/{db}")["chain"])


def rows(node: NodeProcess) -> list[tuple[Any, ...]]:
    return node.query("SELECT * FROM items ORDER BY id", "shop")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2pdb", *args], capture_output=True, text=True, timeout=120, check=False
    )


ARGS = ["--checkpoint-interval", "1.5", "--checkpoint-quorum", "3", "--http-port", "auto",
        "--new-database-access", "none"]  # fmt: skip


def args(extra: list[str]) -> list[str]:
    return [str(free_port()) if a == "auto" else a for a in extra]


def travel_on_the_light_node(light: NodeProcess, archive: NodeProcess, attempt: int) -> str | None:
    """Read a point above the light node's checkpoint by AS OF and by ``p2pdb diff``, on the light
    node and an archive. A light node keeps the entries of one interval only: if a newer checkpoint
    pruned the point meanwhile (the light node's kept snapshot moved), the answer must be the
    "pruned" error, and the attempt is reported (a string) so the caller tries a fresh point."""
    kept = get(light, "/v1/checkpoints/shop")["node"]["snapshot"]
    light.query(f"UPDATE items SET v = 'after the prune {attempt}' WHERE id = 2", "shop")
    history = (
        "SELECT ENTRY_CID FROM information_schema.P2PDB_HISTORY"
        " WHERE TABLE_NAME = 'items' AND ROW_KEY = '[2]' AND OP = 'update' ORDER BY CLOCK DESC LIMIT 1"
    )
    ((latest,),) = light.query(history, "shop")
    light.query(f"UPDATE items SET v = 'later still {attempt}' WHERE id = 2", "shop")
    at_latest = f"SELECT id, v FROM items FOR SYSTEM_TIME AS OF '{latest}' WHERE id IN (1, 2) ORDER BY id"
    expected = [(1, "written on the light node"), (2, f"after the prune {attempt}")]
    try:
        seen = light.query(at_latest, "shop")
        diffed = cli("diff", "--data-dir", str(light.data_dir), "shop", latest, "--json")  # from its snapshot
        assert diffed.returncode == 0 or "its history was pruned" in diffed.stderr, diffed.stderr
        wait_until(lambda: archive.query("SELECT v FROM items WHERE id = 2", "shop") == [(f"later still {attempt}",)],
                   30, "the light node's writes on an archive")  # fmt: skip
        again = light.query(at_latest, "shop")
    except pymysql.err.MySQLError as exc:
        moved = get(light, "/v1/checkpoints/shop")["node"]["snapshot"] != kept
        assert moved and exc.args[0] == 1105 and "archive node" in exc.args[1], exc
        return f"AS OF: {exc}"
    if diffed.returncode != 0:
        assert get(light, "/v1/checkpoints/shop")["node"]["snapshot"] != kept, diffed.stderr
        return f"diff: {diffed.stderr.strip()}"
    assert seen == again == expected
    assert archive.query(at_latest, "shop") == expected
    assert [(d["key"], d["change"], d["new"]["v"]) for d in map(json.loads, diffed.stdout.splitlines())
            if d["key"] == [2]] == [([2], "changed", f"later still {attempt}")]  # fmt: skip
    return None


def test_five_nodes_agree_a_light_node_joins_and_a_tampered_one_repairs(tmp_path: Path) -> None:
    with cluster(tmp_path, 5, extra=ARGS) as nodes:
        nodes[0].query("CREATE DATABASE shop")
        nodes[0].query("CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(40), n INT)", "shop")
        wait_until(lambda: all(n.query("SHOW TABLES", "shop") for n in nodes), 30, "the table everywhere")
        for round_no in range(3):  # several intervals of writes on every node
            for i, node in enumerate(nodes):
                for k in range(10):
                    key = round_no * 1000 + i * 100 + k
                    node.query(f"INSERT INTO items VALUES ({key}, 'v{key}', {k})", "shop")
                node.query(f"UPDATE items SET n = n + 1 WHERE id % 7 = {round_no}", "shop")
            time.sleep(1.5)
        wait_until(lambda: len({json.dumps(rows(n)) for n in nodes}) == 1, 60, "convergence")
        # A checkpoint needs writes after the last one; on a slow machine the rounds above may have
        # ended inside the first interval, so one write per interval goes on until two are final.
        nudges = iter(range(5000, 5100))

        def two_final() -> bool:
            if all(len(chain(n)) >= 2 for n in nodes):
                return True
            nodes[0].query(f"INSERT INTO items VALUES ({next(nudges)}, 'nudge', 0)", "shop")
            return False

        wait_until(
            two_final, 90, lambda: f"two final checkpoints everywhere: {[chain(n) for n in nodes]}", 1.5
        )
        wait_until(lambda: len({json.dumps(rows(n)) for n in nodes}) == 1, 60, "convergence after the nudges")
        chains = [[c["cid"] for c in chain(n)] for n in nodes]
        shortest = min(len(c) for c in chains)
        assert len({tuple(c[:shortest]) for c in chains}) == 1  # one chain
        for item in chain(nodes[0]):
            assert len(item["signers"]) >= 3 and not item["dissent"]

        light = NodeProcess(
            tmp_path / "light", [*args(ARGS), "--role", "light", "--bootstrap", nodes[1].p2p_address]
        ).start()
        try:
            wait_until(lambda: rows(light) == rows(nodes[0]), 60, "the light node's rows")
            assert "bootstrapped from" in light.log()
            nodes[2].query("INSERT INTO items VALUES (9999, 'after the light node joined', 0)", "shop")
            light.query("UPDATE items SET v = 'written on the light node' WHERE id = 1", "shop")
            wait_until(
                lambda: rows(light) == rows(nodes[0]) == rows(nodes[4]), 60, "light and archives agree"
            )
            archive_entries = get(nodes[0], "/v1/log/shop?limit=1")["total"]
            wait_until(
                lambda: get(light, "/v1/checkpoints/shop")["node"]["pruned_blocks"] > 0,
                60, "a checkpoint after the light node joined, and the light node pruning below it",
            )  # fmt: skip
            state = get(light, "/v1/checkpoints/shop")["node"]
            assert state["mismatch"] is None and state["pruned_blocks"] > 0
            assert get(light, "/v1/log/shop?limit=1")["total"] < archive_entries
            # Past versions on the light node: after its checkpoint, from its snapshot and the entries
            # above it; below it (pruned there), a clear error, while an archive answers.
            for attempt in range(5):
                outcome = travel_on_the_light_node(light, nodes[0], attempt)
                if outcome is None:
                    break
            else:
                pytest.fail(f"every attempt raced a new checkpoint: {outcome}")
            ((created,),) = nodes[0].query(
                "SELECT ENTRY_CID FROM information_schema.P2PDB_HISTORY WHERE OP = 'ddl' ORDER BY ID LIMIT 1",
                "shop",
            )
            at_creation = f"SELECT count(*) FROM items FOR SYSTEM_TIME AS OF '{created}'"
            assert nodes[0].query(at_creation, "shop") == [(0,)]
            with pytest.raises(pymysql.err.MySQLError) as pruned:
                light.query(at_creation, "shop")
            assert pruned.value.args[0] == 1105 and "archive node" in pruned.value.args[1]
            # The same answers from an archive and the light node, aggregates included.
            for query in ("SELECT count(*), sum(n), max(v) FROM items", "SELECT v FROM items WHERE id = 1"):
                assert light.query(query, "shop") == nodes[3].query(query, "shop")
            verified = cli("verify", "--data-dir", str(light.data_dir), "shop")
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert "snapshot" in verified.stdout and "checkpoint chain" in verified.stdout
        finally:
            assert light.stop() == 0

        # Tamper with node 4's file while it is stopped; it finds it at its next checkpoint.
        victim = nodes[4]
        assert victim.stop() == 0
        conn = apsw.Connection(str(victim.data_dir / "db" / "shop.sqlite"))
        conn.execute("UPDATE items SET v = 'tampered' WHERE id = 3")
        conn.close()
        victim.start()
        assert victim.query("SELECT v FROM items WHERE id = 3", "shop") == [("tampered",)]
        nodes[0].query("INSERT INTO items VALUES (10000, 'news', 0)", "shop")
        wait_until(
            lambda: get(victim, "/v1/checkpoints/shop")["node"]["repairs"] >= 1,
            60,
            lambda: f"the repair {get(victim, '/v1/checkpoints/shop')['node']} {victim.log()[-6000:]}",
        )
        assert victim.query("SELECT v FROM items WHERE id = 3", "shop") == [("v3",)]
        assert 'p2pdb_checkpoint_state_mismatches_total{db="shop"} 1.0' in get(victim, "/metrics")
        assert "repairing it from the log" in victim.log()
        wait_until(
            lambda: "REPAIRED shop: 1 time(s), last: live state" in cli("status", "--data-dir", str(victim.data_dir)).stdout,
            10, "p2pdb status to tell",
        )  # fmt: skip
        verified = cli("verify", "--data-dir", str(nodes[0].data_dir), "shop")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "matches a replay of the log" in verified.stdout


def test_a_snapshot_exports_as_car_and_starts_another_node(tmp_path: Path) -> None:
    extra = ["--checkpoint-interval", "1", "--checkpoint-quorum", "1"]
    with cluster(tmp_path, 1, extra=extra) as (node,):
        node.query("CREATE DATABASE shop")
        node.query("CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(40), n INT)", "shop")
        for k in range(200):
            node.query(f"INSERT INTO items VALUES ({k}, 'v{k}', {k % 5})", "shop")
        wait_until(lambda: "#" in cli("checkpoints", "--data-dir", str(node.data_dir), "shop").stdout, 60,
                   "a final checkpoint")  # fmt: skip
        car = tmp_path / "shop.car"

        def exported() -> bool:  # the latest checkpoint must cover all 200 rows
            out = cli("snapshot", "export", "--data-dir", str(node.data_dir), "shop", str(car))
            return out.returncode == 0 and "200 rows" in out.stdout

        wait_until(exported, 60, "a snapshot of all rows")
        header, blocks = libipld.decode_car(car.read_bytes())
        assert header["version"] == 1 and len(header["roots"]) == 1
        root = blocks[header["roots"][0]]
        assert root["snapshot"] == 1 and root["rows"] == 200
        assert root["checkpoint"] in blocks  # the signed checkpoint entry travels with it
        listing = cli("checkpoints", "--data-dir", str(node.data_dir), "--json", "shop")
        assert json.loads(listing.stdout)["checkpoints"][0]["seq"] == 1

        fresh = tmp_path / "fresh"
        assert cli("init", "--data-dir", str(fresh)).returncode == 0
        bad = tmp_path / "bad.car"
        data = bytearray(car.read_bytes())
        data[len(data) // 2] ^= 0x01
        bad.write_bytes(bytes(data))
        refused = cli("snapshot", "import", "--data-dir", str(fresh), "shop", str(bad))
        assert refused.returncode == 1 and "snapshot refused" in refused.stderr
        assert not (fresh / "db" / "shop.sqlite").exists()
        imported = cli("snapshot", "import", "--data-dir", str(fresh), "shop", str(car))
        assert imported.returncode == 0, imported.stderr
        assert "200 rows" in imported.stdout
        node.query("UPDATE items SET v = 'after the snapshot' WHERE id = 7", "shop")
        other = NodeProcess(fresh, ["--bootstrap", node.p2p_address, *extra]).start()
        try:
            wait_until(lambda: rows(other) == rows(node), 30, "the imported node catches up")
            assert other.query("SELECT v FROM items WHERE id = 7", "shop") == [("after the snapshot",)]
        finally:
            assert other.stop() == 0


TWO = [a if a != "3" else "2" for a in ARGS]  # two archives sign checkpoints


def test_a_light_node_takes_writes_made_offline_on_history_it_pruned(tmp_path: Path) -> None:
    """An offline writer's entries name parents far below the light node's floor: the light node
    asks an archive which of what it lacks is already in its state (the boundary) and applies the
    rest."""
    with cluster(tmp_path, 2, extra=TWO) as nodes:
        nodes[0].query("CREATE DATABASE shop")
        nodes[0].query("CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(40), n INT)", "shop")
        writer = NodeProcess(tmp_path / "writer", [*args(TWO), "--bootstrap", nodes[0].p2p_address]).start()
        try:
            wait_until(lambda: writer.query("SHOW TABLES", "shop") == [("items",)], 30, "the writer's table")
            nodes[0].query("INSERT INTO items VALUES (1, 'before', 0)", "shop")
            wait_until(lambda: rows(writer) == rows(nodes[0]), 30, "the writer in sync")
        finally:
            assert writer.stop() == 0
        for round_no in range(4):  # the others go on for several checkpoints without it
            for k in range(10):
                nodes[round_no % 2].query(
                    f"INSERT INTO items VALUES ({100 + round_no * 10 + k}, 'on', 0)", "shop"
                )
            time.sleep(1.5)
        wait_until(lambda: all(len(chain(n)) >= 3 for n in nodes), 60, "three checkpoints")
        light = NodeProcess(
            tmp_path / "light", [*args(TWO), "--role", "light", "--bootstrap", nodes[1].p2p_address]
        ).start()
        try:
            wait_until(lambda: rows(light) == rows(nodes[0]), 60, "the light node's rows")
            offline = NodeProcess(writer.data_dir, args(TWO))  # alone: no peer to talk to
            offline.start()
            offline.query("INSERT INTO items VALUES (7, 'written offline', 0)", "shop")
            offline.query("UPDATE items SET v = 'changed offline' WHERE id = 1", "shop")
            assert offline.stop() == 0
            back = NodeProcess(writer.data_dir, [*args(TWO), "--bootstrap", nodes[0].p2p_address]).start()
            try:
                wait_until(
                    lambda: rows(light) == rows(nodes[0]) == rows(back),
                    60,
                    "everyone with the offline writes",
                )
                assert light.query("SELECT v FROM items WHERE id IN (1, 7) ORDER BY id", "shop") == [
                    ("changed offline",), ("written offline",),
                ]  # fmt: skip
                found = re.search(
                    r"^p2pdb_replication_boundary_entries_total (\S+)$", get(light, "/metrics"), re.M
                )
                assert found and float(found.group(1)) > 0  # it asked which parents were in its state
            finally:
                assert back.stop() == 0
        finally:
            assert light.stop() == 0


def test_checkpoints_stay_final_while_a_node_writes_without_pause(tmp_path: Path) -> None:
    """Each node computes its proposals in a worker thread while its clients write. Three nodes, one
    of them writing without pause through several intervals: the chain keeps growing everywhere and
    no replay fails. (A proposal that took its stale heads as parents forked its author's chain, and
    every later replay dropped it: checkpoints stopped for good on every node, as CI saw.)"""
    extra = ["--checkpoint-interval", "1", "--checkpoint-quorum", "2", "--http-port", "auto",
             "--new-database-access", "none"]  # fmt: skip
    with cluster(tmp_path, 3, extra=extra) as nodes:
        nodes[0].query("CREATE DATABASE shop")
        nodes[0].query("CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(40), n INT)", "shop")
        wait_until(lambda: all(n.query("SHOW TABLES", "shop") for n in nodes), 30, "the table everywhere")
        writers = [n.connect("shop") for n in nodes]
        try:
            key = 0
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:  # every node writes, back to back
                for conn in writers:
                    with conn.cursor() as cur:
                        cur.execute("INSERT INTO items VALUES (%s, 'busy', 0)", (key,))
                    key += 1
            seen = [len(chain(n)) for n in nodes]
            wait_until(
                lambda: all(len(chain(n)) >= max(3, min(seen)) for n in nodes), 60,
                lambda: f"three final checkpoints everywhere: {[len(chain(n)) for n in nodes]}",
            )  # fmt: skip
            # More writes, and the chain goes on (a stalled one would stop here).
            before = min(len(chain(n)) for n in nodes)
            for _ in range(3):
                for conn in writers:
                    with conn.cursor() as cur:
                        cur.execute("INSERT INTO items VALUES (%s, 'later', 0)", (key,))
                    key += 1
                time.sleep(1)
            wait_until(lambda: all(len(chain(n)) > before for n in nodes), 60, "a checkpoint after them")
        finally:
            for conn in writers:
                conn.close()
        for node in nodes:
            assert "did not reach the target heads" not in node.log()
            assert "cannot compute" not in node.log(), node.log()[-3000:]
