"""A new node joins over loopback: a light node from a snapshot against an archive node replaying the
whole log, in the same run (docs/checkpoints.md "Measured").

Run: ``python bench/bootstrap_bench.py`` (the record: ``--rows 1000000``; quick: ``--rows 20000``).

A first node (archive, checkpoints every few seconds, quorum 1) receives ROWS rows through MySQL in
multi-row INSERTs of 1,000 rows (one entry each) and checkpoints them. Then a light node starts with
it as bootstrap peer, and the time until its MySQL server shows all ROWS rows is measured; then an
archive node does the same from the whole log. Target: 1,000,000 rows in under 60 s (light).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.cluster import NodeProcess, free_port

ARGS = ["--checkpoint-interval", "3", "--checkpoint-quorum", "1", "--new-database-access", "open"]
TARGET = 60.0


def count(node: NodeProcess) -> int:
    try:
        return int(node.query("SELECT count(*) FROM t", "bench")[0][0])
    except Exception:  # the database or table may not exist there yet
        return -1


def latest_rows(node: NodeProcess) -> int:
    """Rows of the latest final checkpoint, once its snapshot is saved (-1 before): a node that
    joins then gets that snapshot, not the previous one and a longer tail."""
    with urllib.request.urlopen(f"http://{node.http_address}/v1/checkpoints/bench", timeout=10) as r:
        here = json.load(r)["node"]
    final = here.get("final")
    return int(final["rows"]) if final and here.get("snapshot") else -1


def join(root: Path, name: str, seed: NodeProcess, rows: int, extra: list[str]) -> float:
    node = NodeProcess(root / name, [*ARGS, *extra, "--bootstrap", seed.p2p_address])
    started = time.monotonic()
    node.start(timeout=60)
    try:
        while count(node) != rows:
            if time.monotonic() - started > 3600:
                raise TimeoutError(f"{name} did not get the rows")
            time.sleep(0.2)
        took = time.monotonic() - started
        for line in node.log().splitlines():
            if "snapshot" in line:  # the node's own split: fetch vs restore
                print("   ", line.split("): ", 1)[-1])
        return took
    finally:
        node.stop(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--light-only", action="store_true", help="skip the archive node's replay")
    args = parser.parse_args()
    rows = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seed = NodeProcess(root / "seed", [*ARGS, "--http-port", str(free_port())]).start()
        try:
            seed.query("CREATE DATABASE bench")
            seed.query(
                "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(32) NOT NULL)", "bench"
            )
            started = time.monotonic()
            conn = seed.connect("bench")
            with conn.cursor() as cursor:
                for start in range(0, rows, 1000):
                    values = ",".join(
                        f"({i}, {i * 7}, 'value {i:08d}')" for i in range(start, min(rows, start + 1000))
                    )
                    cursor.execute(f"INSERT INTO t VALUES {values}")
            conn.close()
            loaded = time.monotonic() - started
            while latest_rows(seed) != rows:
                time.sleep(0.5)
            checkpointed = time.monotonic() - started - loaded
            print(
                f"{rows:,} rows loaded through MySQL in {loaded:.1f} s; checkpoint of them final and its snapshot saved {checkpointed:.1f} s later"
            )
            light = join(root, "light", seed, rows, ["--role", "light"])
            print(
                f"light node (snapshot + tail): all rows readable after {light:6.1f} s"
                + (
                    f"  (target < {TARGET:.0f} s: {'PASS' if light < TARGET else 'BELOW'})"
                    if rows >= 1_000_000
                    else ""
                )
            )
            if args.light_only:
                return
            full = join(root, "archive", seed, rows, [])
            print(
                f"archive node (whole log):     all rows readable after {full:6.1f} s  -> light is {full / light:.1f}x faster"
            )
        finally:
            seed.stop(timeout=120)


if __name__ == "__main__":
    main()
