"""Benchmark of explicit transactions through a real node: does a statement's cost grow with the
transaction it is in?

Run: ``python bench/transaction_bench.py`` (``--sizes 100,1000,5000 --others 0,50``).

One node (``p2pdb start`` on free loopback ports), PyMySQL clients. For each transaction size N:
one connection runs BEGIN, N single-row INSERTs, a ``SELECT count(*)`` (it must see its own N rows)
and COMMIT. Printed: the time per INSERT inside the transaction, the COMMIT, and the time per INSERT
of N rows in autocommit on the same node (baseline, same run).

``--others R``: meanwhile, another connection commits R single-row INSERTs per second. Each of its
commits makes the transaction's window yield (``p2pdb/sql/windows.py``), and the transaction's next
statement replays its writes: the cost of never making other clients wait.

Target (issue 14's bench rule, this issue's fix): without others, the time per INSERT at the largest
size is at most 1.5x the one at the smallest (before transaction windows every statement replayed
the transaction: 7x between 250 and 2,000 rows, in process).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.cluster import NodeProcess

FLAT_TARGET = 1.5


def setup(node: NodeProcess) -> None:
    conn = node.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE bench")
        cur.execute("CREATE TABLE bench.t (id BIGINT PRIMARY KEY, v INT NOT NULL, s VARCHAR(64) NOT NULL)")
        cur.execute("CREATE TABLE bench.other (id BIGINT PRIMARY KEY, v INT NOT NULL)")
    conn.close()


def in_transaction(node: NodeProcess, first: int, size: int) -> tuple[float, float]:
    """(seconds per INSERT inside the transaction, seconds of its COMMIT)."""
    conn = node.connect("bench")
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        start = time.perf_counter()
        for i in range(first, first + size):
            cur.execute("INSERT INTO t VALUES (%s, %s, %s)", (i, i % 97, f"row {i}"))
        inserts = time.perf_counter() - start
        cur.execute("SELECT count(*) FROM t WHERE id >= %s AND id < %s", (first, first + size))
        assert cur.fetchone() == (size,), "the transaction does not see its own rows"
        start = time.perf_counter()
        cur.execute("COMMIT")
        commit = time.perf_counter() - start
    conn.close()
    return inserts / size, commit


def autocommit(node: NodeProcess, first: int, size: int) -> float:
    conn = node.connect("bench")
    with conn.cursor() as cur:
        start = time.perf_counter()
        for i in range(first, first + size):
            cur.execute("INSERT INTO t VALUES (%s, %s, %s)", (i, i % 97, f"row {i}"))
        elapsed = time.perf_counter() - start
    conn.close()
    return elapsed / size


class Others:
    """Another client committing ``rate`` single-row INSERTs per second until stopped."""

    def __init__(self, node: NodeProcess, rate: float, first: int) -> None:
        self.node, self.rate, self.next = node, rate, first
        self.done = threading.Event()
        self.commits = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Others:
        if self.rate > 0:
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        conn = self.node.connect("bench")
        period = 1 / self.rate
        with conn.cursor() as cur:
            while not self.done.wait(period):
                cur.execute("INSERT INTO other VALUES (%s, 0)", (self.next,))
                self.next += 1
                self.commits += 1
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="100,1000,5000", help="INSERTs per transaction (default 100,1000,5000)"
    )
    parser.add_argument(
        "--others", default="0,50", help="commits/s of another client meanwhile, one run each (default 0,50)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rates = [float(r) for r in args.others.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        node = NodeProcess(Path(tmp) / "node").start()
        try:
            setup(node)
            first = 1
            print("explicit transactions on one node, PyMySQL, single-row INSERTs")
            print(
                f"{'INSERTs':>8} {'others/s':>9} {'in txn us/INSERT':>17} {'COMMIT ms':>10} {'autocommit us/INSERT':>21}"
            )
            flat: dict[float, list[float]] = {}
            for rate in rates:
                for size in sizes:
                    with Others(node, rate, 10**9 + first) as others:
                        per_insert, commit = in_transaction(node, first, size)
                    first += size
                    base = autocommit(node, first, size)
                    first += size
                    flat.setdefault(rate, []).append(per_insert)
                    note = f"  ({others.commits} commits by the other client)" if rate else ""
                    print(
                        f"{size:>8} {rate:>9.0f} {per_insert * 1e6:>17.0f} {commit * 1e3:>10.1f} {base * 1e6:>21.0f}{note}"
                    )
            for rate, values in flat.items():
                ratio = values[-1] / values[0]
                verdict = "PASS" if ratio <= FLAT_TARGET else "BELOW"
                target = f"(<= {FLAT_TARGET}x)" if rate == 0 else "(reported)"
                print(
                    f"per INSERT at {sizes[-1]} vs {sizes[0]} rows, others {rate:.0f}/s: {ratio:.2f}x {target}"
                    + (f" {verdict}" if rate == 0 else "")
                )
        finally:
            node.stop()


if __name__ == "__main__":
    main()
