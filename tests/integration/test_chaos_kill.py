"""Five nodes in network namespaces with random partitions, 10% packet loss and kill -9 of random nodes
during writes and during catch-up, while clients write throughout and record every acknowledged
commit (issue 10). At the end every acknowledged commit is on every node, all replicas are identical
and ``p2pdb verify`` passes everywhere. Seeded and repeatable in its choices.

Size: ``P2PDB_KILL_ROUNDS`` (CI: 3; for the record: 12).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.cluster import wait_until
from tests.integration.netns import Lab, NsNode
from tests.integration.test_partitions import network, start_mesh

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(1800)]

ROUNDS = int(os.environ.get("P2PDB_KILL_ROUNDS", "3"))
SEED = int(os.environ.get("P2PDB_KILL_SEED", "5"))


class Writer(threading.Thread):
    """Inserts unique rows through one node until stopped; remembers which ones were acknowledged."""

    def __init__(self, lab: Lab, index: int) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.index = index
        self.acked: list[int] = []
        self.stopping = threading.Event()
        self.next = 0

    def node(self) -> NsNode:
        return next(n for n in reversed(self.lab.nodes) if n.index == self.index)

    def run(self) -> None:
        while not self.stopping.is_set():
            row = self.index * 1_000_000 + self.next
            self.next += 1
            try:
                self.node().query(f"INSERT INTO acks VALUES ({row}, {self.index})", "app", timeout=10)
            except (RuntimeError, subprocess.TimeoutExpired, OSError):
                time.sleep(0.2)  # the node is down or cut off: not acknowledged, try the next row
                continue
            self.acked.append(row)


def restart(net: Lab, node: NsNode, bootstrap: str) -> NsNode:
    net.nodes.remove(node)
    return net.start_node(node.index, ["--p2p-host", net.address(node.index), "--bootstrap", bootstrap])


def test_acknowledged_commits_survive_partitions_loss_and_kills(tmp_path: Path) -> None:
    rnd = random.Random(SEED)
    with network(5, tmp_path) as net:
        nodes = start_mesh(net, 5)
        first = nodes[0].p2p_address
        nodes[0].query("CREATE DATABASE app")
        nodes[0].query("CREATE TABLE acks (id INT PRIMARY KEY, node INT)", "app")
        wait_until(lambda: all(n.query("SHOW TABLES", "app") for n in nodes), 30, "the table everywhere", 0.3)
        writers = [Writer(net, i) for i in range(5)]
        for writer in writers:
            writer.start()
        for _ in range(ROUNDS):
            # A partition, loss on a few nodes, and a kill -9 of a random node while it writes.
            members = list(range(5))
            rnd.shuffle(members)
            cut = rnd.randint(1, 4)
            net.partition(members[:cut], members[cut:])
            lossy = rnd.sample(range(5), 2)
            for index in lossy:
                net.impair(index, loss=10)
            time.sleep(rnd.uniform(1.0, 3.0))
            chosen = rnd.randrange(1, 5)
            victim = next(n for n in reversed(net.nodes) if n.index == chosen)
            assert victim.process is not None
            victim.process.kill()  # kill -9: every commit it acknowledged must survive
            victim.process.wait(10)
            net.heal()
            time.sleep(rnd.uniform(0.5, 2.0))
            restarted = restart(net, victim, first)
            time.sleep(rnd.uniform(0.2, 1.0))  # it catches up ... and dies again, mid catch-up
            assert restarted.process is not None
            restarted.process.kill()
            restarted.process.wait(10)
            restart(net, restarted, first)
            for index in lossy:
                net.clear(index)
        for writer in writers:
            writer.stopping.set()
        for writer in writers:
            writer.join(30)
        live = [next(n for n in reversed(net.nodes) if n.index == i) for i in range(5)]
        acked = {row for writer in writers for row in writer.acked}
        assert len(acked) > 20, "the writers got almost nothing acknowledged"

        def everywhere() -> bool:
            tables = [
                {int(r[0]) for r in node.query("SELECT id FROM acks", "app", timeout=20)} for node in live
            ]
            return all(acked <= t for t in tables) and all(t == tables[0] for t in tables)

        took = wait_until(everywhere, 120, "every acknowledged commit on every node", 1.0)
        print(
            f"{len(acked)} acknowledged commits, {2 * ROUNDS} kills, on every node {took:.1f} s after the writes"
        )
        for node in live:
            result = subprocess.run(
                [sys.executable, "-m", "p2pdb", "verify", "--data-dir", str(node.data_dir), "app"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"node {node.index}: {result.stdout}{result.stderr}"
