"""Partitions and lossy links between real nodes in network namespaces (issue 5; DESIGN §5, §8).

Every packet stays inside namespaces the test creates (``tests/integration/netns.py``); the tests
skip where namespaces are not allowed (not root, no ``ip``, a restricted container).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.integration.cluster import wait_until
from tests.integration.netns import Lab, NsNode, lab, unavailable

pytestmark = pytest.mark.netns

PARTITION_SECONDS = 10.0
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
