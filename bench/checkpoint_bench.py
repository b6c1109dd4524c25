"""Benchmark of checkpoints: bootstrap from a snapshot vs full replay, disk under an update-heavy
workload with and without pruning, a light node's size against plain SQLite, and the checkpoint's
cost on the writer (docs/checkpoints.md "Measured").

Run: ``python bench/checkpoint_bench.py`` (the record: ``--rows 100000 --big 1000000``; a quick run:
``--rows 5000 --updates 5000 --big 0``). Every number is measured in this run, baselines included.

1. Bootstrap: a database of ROWS single-row commits (and BIG rows in commits of 1,000 rows) is
   checkpointed; a fresh database restores the snapshot (hashes checked) and then joins the tail,
   against a fresh database joining the whole log. Target: 1,000,000 rows in under 60 s.
2. Disk: one row updated UPDATES times on a file database; an archive keeps everything, a light
   database checkpoints and prunes every INTERVAL updates. Reported: sizes after 1,000, a fifth, half
   and all of the updates. Target: the light one ends within 2x of its size after 1,000 (it keeps
   one interval of entries: with INTERVAL well above 1,000 that interval is what it holds) and stays
   flat.
3. Light size: ROWS single-row inserts on a light database (checkpointed and pruned every
   INTERVAL commits, change feed of the retained entries included) against plain SQLite holding the
   same rows. Target: <= 4x.
4. Writer cost: with ROWS rows, the time the checkpoint takes on the database's owner (gathering the
   entries, appending the proposal) and in the worker (replay, snapshot), against one commit.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import apsw

from p2pdb.checkpoint import CheckpointOp
from p2pdb.checkpointer import Checkpointer
from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, FileEngine
from p2pdb.store import checkpointing as ck
from p2pdb.store.registry import Registry
from p2pdb.store.snapshot import SnapshotStore, dump

MANIFEST = Manifest("bench")
SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT NOT NULL)"


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.2f} MiB"


def fill(db: Database, rows: int, per_entry: int) -> None:
    db.write(lambda c: c.execute(SCHEMA))
    for start in range(0, rows, per_entry):
        batch = [(i, i * 7, f"value {i:08d}") for i in range(start, min(rows, start + per_entry))]
        db.write(lambda c, b=batch: c.executemany("INSERT INTO t VALUES (?, ?, ?)", b))


def checkpoint(db: Database) -> tuple[SnapshotStore, object, dict[str, float]]:
    """Checkpoint ``db`` (a file database) at its heads the way a node does; return the snapshot
    and the timings: what runs on the database's owner, and what runs in the worker."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    plan = ck.plan(db, None, db.log.heads, db.engine.location)
    timings["gather (owner)"] = time.perf_counter() - started
    started = time.perf_counter()
    computed = ck.run(plan, None)
    ck.check_live(plan, computed)
    assert computed.live_ok is not False
    timings["replay and live check (worker)"] = time.perf_counter() - started
    started = time.perf_counter()
    op = CheckpointOp(1, None, computed.state, computed.merge, computed.entries, computed.rows, 0)
    entry = db.append_checkpoint(op, covers=computed.target)
    timings["append (owner)"] = time.perf_counter() - started
    proposal = db.checkpoints.chain().statuses[entry.cid].proposal
    store = SnapshotStore(None)
    started = time.perf_counter()
    store.save(
        lambda put: dump(
            computed.replay.conn,
            MANIFEST.address,
            proposal,
            computed.floor,
            put,
            computed.replay.catalog.schema,
        ),
        1,
        entry.cid,
    )
    timings["snapshot (worker)"] = time.perf_counter() - started
    computed.replay.close()
    return store, store.root_of(entry.cid), timings


def bootstrap(rows: int, per_entry: int, tmp: Path) -> None:
    source = Database(Identity.generate(), MANIFEST, FileEngine(tmp / f"src-{rows}.sqlite"))
    source.genesis("owned")
    started = time.perf_counter()
    fill(source, rows, per_entry)
    built = time.perf_counter() - started
    store, root, timings = checkpoint(source)
    for i in range(100):  # a short tail after the checkpoint
        source.write(lambda c, i=i: c.execute("UPDATE t SET a = a + 1 WHERE id = ?", (i,)))
    tail = [e.block for e in source.log.since(list(root.heads))]  # type: ignore[attr-defined]
    light = Database(source.identity, MANIFEST, FileEngine(tmp / f"light-{rows}.sqlite"))
    started = time.perf_counter()
    ck.restore(light, root, store.get)  # type: ignore[arg-type]
    light.join(tail)
    snap_time = time.perf_counter() - started
    assert light.state_hash() == source.state_hash()
    full = Database(source.identity, MANIFEST, FileEngine(tmp / f"full-{rows}.sqlite"))
    blocks = [e.block for e in source.log.traverse()]
    started = time.perf_counter()
    for i in range(0, len(blocks), 2000):
        full.join(blocks[i : i + 2000])
    full_time = time.perf_counter() - started
    assert full.state_hash() == source.state_hash()
    print(
        f"bootstrap {rows:>9,} rows in {len(blocks):>7,} entries (built in {built:.1f} s, snapshot"
        f" {mib(store.size())}): snapshot + {len(tail)}-entry tail {snap_time:6.2f} s, full replay"
        f" {full_time:7.2f} s  -> {full_time / snap_time:5.1f}x faster"
        + (
            "  (target < 60 s for 1M rows: " + ("PASS" if snap_time < 60 else "BELOW") + ")"
            if rows >= 1_000_000
            else ""
        )
    )
    print(
        "  checkpoint cost at this size: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items())
    )
    for db in (source, light, full):
        db.close()


async def rounds(registry: Registry, db: Database, checkpointer: Checkpointer) -> None:
    await checkpointer.step(db.name, db, force=True)
    await checkpointer.step(db.name, db)


def updates(count: int, interval: int, tmp: Path) -> None:
    results = {}
    marks = sorted({1000, count // 5, count // 2, count})
    for role in ("archive", "light"):
        data = tmp / f"updates-{role}"
        registry = Registry(Identity.generate(), data, new_database_access="owned", checkpoint_quorum=1)
        db = registry.create("bench")
        db.genesis("owned")
        db.write(lambda c: c.execute(SCHEMA))
        db.write(lambda c: c.execute("INSERT INTO t VALUES (1, 0, 'x')"))
        checkpointer = Checkpointer(registry, interval=3600, role=role)
        sizes: dict[int, int] = {}
        for i in range(1, count + 1):
            db.write(
                lambda c, i=i: c.execute("UPDATE t SET a = ?, b = ? WHERE id = 1", (i, f"value {i:08d}"))
            )
            if role == "light" and i % interval == 0:
                asyncio.run(rounds(registry, db, checkpointer))
            if i in marks:
                db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                sizes[i] = size(data)
        results[role] = (sizes, len(db.blocks))
        asyncio.run(checkpointer.stop())
        registry.close()
    for role, (sizes, blocks) in results.items():
        points = ", ".join(f"after {n:,}: {mib(s)}" for n, s in sorted(sizes.items()))
        print(f"update one row {count:,} times, {role:7}: {points}; {blocks:,} blocks kept")
    light = results["light"][0]
    first, fifth, last = light[1000], light[marks[1]], light[count]
    archive = results["archive"][0]
    print(
        f"  light, a checkpoint every {interval:,} updates: at the end {last / first:.2f}x its size after"
        f" 1,000 (target <= 2x: {'PASS' if last <= 2 * first else 'BELOW'}; it keeps one interval of"
        f" entries) and {last / fifth:.2f}x its size after {marks[1]:,} (flat); archive {archive[count] / archive[1000]:.0f}x"
    )


def light_size(rows: int, interval: int, tmp: Path) -> None:
    plain = tmp / "plain.sqlite"
    conn = apsw.Connection(str(plain))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(SCHEMA)
    for i in range(rows):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?, ?)", (i, i * 7, f"value {i:08d}"))
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    plain_size = size(tmp) if False else plain.stat().st_size
    out = {}
    for role in ("archive", "light"):
        data = tmp / f"inserts-{role}"
        registry = Registry(Identity.generate(), data, new_database_access="owned", checkpoint_quorum=1)
        db = registry.create("bench")
        db.genesis("owned")
        db.write(lambda c: c.execute(SCHEMA))
        checkpointer = Checkpointer(registry, interval=3600, role=role)
        for i in range(rows):
            db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?, ?)", (i, i * 7, f"value {i:08d}")))
            if role == "light" and (i + 1) % interval == 0:
                asyncio.run(rounds(registry, db, checkpointer))
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as closing the node does
        out[role] = size(data)
        asyncio.run(checkpointer.stop())
        registry.close()
    print(
        f"{rows:,} single-row inserts: plain SQLite {mib(plain_size)}, archive {mib(out['archive'])}"
        f" ({out['archive'] / plain_size:.1f}x), light {mib(out['light'])} ({out['light'] / plain_size:.1f}x;"
        f" target <= 4x: {'PASS' if out['light'] <= 4 * plain_size else 'BELOW'})"
    )


def writer_cost(rows: int, tmp: Path) -> None:
    db = Database(Identity.generate(), MANIFEST, FileEngine(tmp / "cost.sqlite"))
    db.genesis("owned")
    fill(db, rows, 1000)
    started = time.perf_counter()
    for i in range(200):
        db.write(lambda c, i=i: c.execute("UPDATE t SET a = a + 1 WHERE id = ?", (i,)))
    commit = (time.perf_counter() - started) / 200
    _, _, timings = checkpoint(db)
    owner = timings["gather (owner)"] + timings["append (owner)"]
    worker = timings["replay and live check (worker)"] + timings["snapshot (worker)"]
    print(
        f"checkpoint of {rows:,} rows: on the writer {owner * 1000:.1f} ms ({owner / commit:.0f} commits' time),"
        f" in the worker {worker:.2f} s; one commit {commit * 1e6:.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="rows of the large bootstrap (0: skip)")
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--interval", type=int, default=5_000, help="commits between checkpoints")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bootstrap(args.rows, 1, root)
        if args.big:
            bootstrap(args.big, 1000, root)
        updates(args.updates, args.interval, root)
        light_size(args.rows, args.interval, root)
        writer_cost(args.rows, root)


if __name__ == "__main__":
    main()
