"""Partitions and lossy links between real nodes in network namespaces (issue 5; DESIGN §5, §8).

Every packet stays inside namespaces the test creates (``tests/integration/netns.py``); the tests
skip where namespaces are not allowed (not root, no ``ip``, a restricted container).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.integration.cluster import wait_until
from tests.integration.netns import Lab, NsNode, lab, unavailable

pytestmark = pytest.mark.netns

PARTITION_SECONDS = 10.0
#: Entries written on each side of the lossy partition (CI: 500; for the record: 3000).
LOSSY_ENTRIES = int(os.environ.get("P2PDB_LOSSY_ENTRIES", "500"))
TABLE = "CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(40), n INT)"


@contextlib.contextmanager
def network(count: int, tmp: Path) -> Iterator[Lab]:
    reason = unavailable(("ip", "tc", "mariadb"))
    if reason:
        pytest.skip(reason)
    with lab(count, tmp) as net:
        yield net


def start_mesh(net: Lab, count: int) -> list[NsNode]:
    """``count`` nodes on their namespace addresses; all bootstrap from the first."""
    (first,) = net.start([["--p2p-host", net.address(0)]])
    others = net.start(
        [["--p2p-host", net.address(i), "--bootstrap", first.p2p_address] for i in range(1, count)]
    )
    return [first, *others]


def table(node: NsNode) -> list[tuple[str, ...]]:
    return node.query("SELECT * FROM kv ORDER BY k", "app")


def identical(nodes: Sequence[NsNode]) -> bool:
    return len({repr(table(n)) for n in nodes}) == 1


def test_split_brain_heals_to_identical_tables(tmp_path: Path) -> None:
    with network(5, tmp_path) as net:
        nodes = start_mesh(net, 5)
        ids = {n.peer_id for n in nodes}
        nodes[0].query("CREATE DATABASE app")
        nodes[0].query(TABLE, "app")
        nodes[0].query("INSERT INTO kv VALUES (1, 'start', 0), (2, 'start', 0), (3, 'start', 0)", "app")
        wait_until(lambda: all(len(table(n)) == 3 for n in nodes), 20, "the table on all five nodes", 0.3)
        wait_until(lambda: all(n.peer_ids() == ids - {n.peer_id} for n in nodes), 20, "a full mesh", 0.3)

        # 1. Split 2/3: each side keeps its links to the other, but no packet gets through.
        left, right = nodes[:2], nodes[2:]
        net.partition([0, 1], [2, 3, 4])
        split_at = time.monotonic()

        # 2. Both sides write: different rows, and conflicting changes of the same rows.
        nodes[0].query("UPDATE kv SET v = 'left', n = n + 1 WHERE k = 1", "app")
        nodes[1].query("INSERT INTO kv VALUES (100, 'left', 1), (101, 'left', 1)", "app")
        nodes[1].query("DELETE FROM kv WHERE k = 3", "app")
        nodes[3].query("UPDATE kv SET v = 'right', n = n + 10 WHERE k = 1", "app")
        nodes[4].query("INSERT INTO kv VALUES (200, 'right', 2), (201, 'right', 2), (202, 'right', 2)", "app")
        nodes[2].query("UPDATE kv SET v = 'right', n = 7 WHERE k = 3", "app")
        nodes[2].query("UPDATE kv SET v = 'right' WHERE k = 2", "app")
        nodes[0].query("UPDATE kv SET n = 5 WHERE k = 2", "app")

        # 3. Each side converges on its own, without the other side's writes.
        wait_until(lambda: identical(left), 20, "the left side to agree", 0.3)
        wait_until(lambda: identical(right), 20, "the right side to agree", 0.3)
        assert [r[0] for r in table(nodes[0])] == ["1", "2", "100", "101"]
        assert [r[0] for r in table(nodes[4])] == ["1", "2", "3", "200", "201", "202"]

        # 4. Hold the split for PARTITION_SECONDS, long enough for TCP to back off its retransmissions
        #    on the stalled cross links; then heal: every node ends with the same table.
        time.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - split_at)))
        net.heal()
        wait_until(lambda: identical(nodes), 60, "identical tables on all five nodes after the heal", 0.5)
        rows = table(nodes[0])
        keys = [r[0] for r in rows]
        assert {"1", "2", "100", "101", "200", "201", "202"} <= set(keys)
        assert dict((r[0], r[1]) for r in rows)["1"] in ("left", "right")


def test_lossy_links_converge(tmp_path: Path) -> None:
    with network(3, tmp_path) as net:
        delayed = [net.impair(i, loss=20, delay_ms=30) for i in range(3)]
        if not all(delayed):
            warnings.warn("no netem in this kernel: 20% loss without the 30 ms delay", stacklevel=1)
        nodes = start_mesh(net, 3)
        nodes[0].query("CREATE DATABASE app")
        nodes[0].query(TABLE, "app")
        nodes[0].query("INSERT INTO kv VALUES (1, 'start', 0)", "app")
        wait_until(lambda: all(len(table(n)) == 1 for n in nodes), 40, "the table on all three nodes", 0.5)
        for index, node in enumerate(nodes):
            for i in range(10):
                node.query(f"INSERT INTO kv VALUES ({100 * (index + 1) + i}, 'n{index}', {i})", "app")
            node.query(f"UPDATE kv SET v = 'n{index}', n = n + 1 WHERE k = 1", "app")
        wait_until(
            lambda: identical(nodes) and len(table(nodes[0])) == 31,
            60,
            "identical tables over lossy links",
            0.5,
        )


def table_exists(node: NsNode) -> bool:
    try:
        return node.query("SHOW TABLES", "app") == [("kv",)]
    except RuntimeError:  # the database is not there yet
        return False


def test_a_partition_heals_in_bulk_over_lossy_links(tmp_path: Path) -> None:
    """Issue 10, item 4: LOSSY_ENTRIES entries written on each side of a partition, 10% of every
    node's packets lost; after the heal both sides hold everything (it used to walk one entry per
    round trip, and 3,000 per side did not converge in 240 s)."""
    with network(2, tmp_path) as net:
        nodes = start_mesh(net, 2)
        nodes[0].query("CREATE DATABASE app")
        nodes[0].query(TABLE, "app")
        wait_until(lambda: table_exists(nodes[1]), 30, "the table on both nodes", 0.3)
        for index in range(2):
            net.impair(index, loss=10)
        net.partition([0], [1])
        for index, node in enumerate(nodes):
            base = 1_000_000 * (index + 1)
            for start in range(0, LOSSY_ENTRIES, 500):  # one autocommit entry per statement
                script = "".join(
                    f"INSERT INTO kv VALUES ({base + i}, 'side{index}', {i});"
                    for i in range(start, min(start + 500, LOSSY_ENTRIES))
                )
                node.query(script, "app", timeout=120)
        assert [len(table(n)) for n in nodes] == [LOSSY_ENTRIES, LOSSY_ENTRIES]
        time.sleep(3)  # the cross link times out: the heal starts from a fresh connection
        net.heal()
        healed_at = time.monotonic()
        wait_until(
            lambda: all(
                n.query("SELECT COUNT(*) FROM kv", "app") == [(str(2 * LOSSY_ENTRIES),)] for n in nodes
            ),
            180,
            "both sides to hold every entry after the heal over 10% loss",
            0.5,
        )
        took = time.monotonic() - healed_at
        assert identical(nodes)
        print(f"\n{LOSSY_ENTRIES} entries per side healed over 10% loss in {took:.1f} s")
