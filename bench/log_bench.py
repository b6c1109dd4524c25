"""Benchmark of ``p2pdb.log``: appends, verified joins and merging concurrent logs, each next to
the raw cost of what bounds it (Ed25519 and cbor2) measured in the same run.

    python bench/log_bench.py [--entries N] [--repeat R] [--pin CPU]

Targets (one core; the benchmark is single-threaded): >= 10,000 appends/s and >= 8,000 verified
joins/s. Each figure is the best of R runs (default 3), setup excluded, because a shared machine
only ever makes a run slower.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cbor2

from p2pdb.log import Identity, Log, Manifest, MemoryBlockStore, SQLiteBlockStore, codec, verify

APPEND_TARGET = 10_000
JOIN_TARGET = 8_000
MANIFEST = Manifest("bench")
ALICE = Identity.from_seed(b"\x01" * 32)
BOB = Identity.from_seed(b"\x02" * 32)
READER = Identity.from_seed(b"\x03" * 32)

# A measurement: untimed setup returning the timed action (which checks its own outcome).
Setup = Callable[[], Callable[[], object]]


def ops_for(i: int) -> dict[str, Any]:
    """A typical small transaction: one row written."""
    return {"table": "items", "pk": [i], "set": {"name": f"item {i}", "qty": i % 97, "price": 1.5 + i}}


@dataclass
class Result:
    label: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def best(label: str, count: int, setup: Setup, repeat: int) -> Result:
    """The fastest of ``repeat`` timed runs, each after a fresh untimed setup."""
    times = []
    for _ in range(repeat):
        action = setup()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return Result(label, count, min(times))


def line(result: Result, target: int | None = None, baseline: Result | None = None) -> str:
    text = f"  {result.label:<50} {result.rate:>10,.0f} /s"
    if target is not None:
        verdict = "PASS" if result.rate >= target else "BELOW"
        text += f"   target >= {target:<6,} {verdict:<5}"
    if baseline is not None:
        text += f"   {result.rate / baseline.rate:.2f} x {baseline.label.split(' (')[0]}"
    return text


# -- baselines ---------------------------------------------------------------------------------


def baselines(n: int, repeat: int) -> tuple[Result, Result, Result, Result]:
    sample = Log(ALICE, MANIFEST).append(ops_for(1))
    unsigned = codec.decode(sample.block)
    del unsigned["sig"]
    message = codec.encode(unsigned)  # exactly the bytes an entry signature covers
    sig = ALICE.sign(message)
    value = cbor2.loads(sample.block)

    def sign() -> None:
        for _ in range(n):
            ALICE.sign(message)

    def check() -> None:
        for _ in range(n):
            if not verify(ALICE.public_key, sig, message):
                raise AssertionError("signature did not verify")

    def encode() -> None:
        for _ in range(n):
            cbor2.dumps(value)

    def decode() -> None:
        for _ in range(n):
            cbor2.loads(sample.block)

    return (
        best("raw Ed25519 sign (identity.sign)", n, lambda: sign, repeat),
        best("raw Ed25519 verify (identity.verify)", n, lambda: check, repeat),
        best(f"raw cbor2 encode ({len(sample.block)}-byte entry)", n, lambda: encode, repeat),
        best("raw cbor2 decode (same entry)", n, lambda: decode, repeat),
    )


# -- the log -----------------------------------------------------------------------------------


def appending(n: int, make_store: Callable[[], tuple[Any, sqlite3.Connection | None]]) -> Setup:
    """``n`` appends to a fresh log; with a connection, each inside the caller's own transaction
    (as the store layer does: a commit's rows and its entry in one SQLite transaction)."""

    def setup() -> Callable[[], object]:
        store, conn = make_store()
        log = Log(ALICE, MANIFEST, store)

        def run() -> None:
            for i in range(n):
                if conn is None:
                    log.append(ops_for(i))
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    log.append(ops_for(i))
                    conn.execute("COMMIT")
            assert len(log) == n

        return run

    return setup


def joining(source: Log, newest_first: bool, per_call: int) -> Setup:
    """Join ``source``'s blocks into a fresh log, ``per_call`` blocks per ``join``."""
    blocks = [entry.block for entry in source.traverse(reverse=newest_first)]

    def setup() -> Callable[[], object]:
        log = Log(READER, MANIFEST)

        def run() -> None:
            for start in range(0, len(blocks), per_call):
                log.join(blocks[start : start + per_call])
            assert len(log) == len(blocks) and log.heads == source.heads and not log.missing()

        return run

    return setup


def concurrent(n: int) -> tuple[Setup, Setup]:
    """Two writers append ``n`` entries each on a common root without seeing each other. Then one
    joins the other's ``n`` entries; then its next append merges the two heads."""
    a = Log(ALICE, MANIFEST)
    b = Log(BOB, MANIFEST)
    root = a.append("root")
    b.join([root.block])
    for i in range(n):
        a.append(ops_for(i))
        b.append(ops_for(-i))
    ours = [entry.block for entry in a.traverse()]
    theirs = [entry.block for entry in b.traverse()][1:]

    def replica() -> Log:
        log = Log(ALICE, MANIFEST)
        log.join(ours)
        return log

    def join_setup() -> Callable[[], object]:
        log = replica()

        def run() -> None:
            log.join(theirs)
            assert len(log.heads) == 2 and len(log) == 2 * n + 1

        return run

    def merge_setup() -> Callable[[], object]:
        log = replica()
        log.join(theirs)

        def run() -> None:
            entry = log.append("merge")
            assert len(entry.parents) == 2 and len(log.heads) == 1

        return run

    return join_setup, merge_setup


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000, help="entries per measurement (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement, best kept (default 3)")
    parser.add_argument("--pin", type=int, metavar="CPU", help="pin the process to this CPU")
    args = parser.parse_args()
    n: int = args.entries
    repeat: int = args.repeat

    pinned = ""
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
        pinned = f", pinned to CPU {args.pin}"
    print(
        f"p2pdb.log benchmark: {n:,} entries, best of {repeat}, Python {platform.python_version()},"
        f" cbor2 {version('cbor2')}, PyNaCl {version('PyNaCl')} (libsodium),"
        f" SQLite {sqlite3.sqlite_version}{pinned}"
    )

    sign, check, encode, decode = baselines(max(n, 20_000), repeat)
    print("\nbaseline, same run")
    for result in (sign, check, encode, decode):
        print(line(result))

    print("\nappend (encode + sign + store + new head)")
    with tempfile.TemporaryDirectory() as tmp:
        files = iter(range(1_000_000))

        def sqlite_store() -> tuple[Any, None]:
            return SQLiteBlockStore(str(Path(tmp) / f"own-{next(files)}.db")), None

        def shared_connection() -> tuple[Any, sqlite3.Connection]:
            conn = sqlite3.connect(Path(tmp) / f"shared-{next(files)}.db", isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return SQLiteBlockStore(conn, autocommit=False), conn

        for label, make_store in (
            ("append+sign, memory store", lambda: (MemoryBlockStore(), None)),
            ("append+sign, SQLite file, store commits (2/entry)", sqlite_store),
            ("append+sign, SQLite file, caller's txn (1/entry)", shared_connection),
        ):
            print(line(best(label, n, appending(n, make_store), repeat), APPEND_TARGET, sign))

    print("\nverify + join into a fresh log (size, CID, canonical form, signature, access, clock)")
    source = Log(ALICE, MANIFEST)
    for i in range(n):
        source.append(ops_for(i))
    for label, newest_first, per_call in (
        ("verify+join, oldest first, 1 block per join", False, 1),
        ("verify+join, newest first, 1 block per join", True, 1),
        ("verify+join, oldest first, batches of 100", False, 100),
        ("verify+join, newest first, batches of 100", True, 100),
    ):
        result = best(label, n, joining(source, newest_first, per_call), repeat)
        print(line(result, JOIN_TARGET, check))

    print("\nconcurrent histories")
    join_setup, merge_setup = concurrent(n)
    joined = best(f"join two concurrent {n:,}-entry logs", n, join_setup, repeat)
    merged = best("next append, merging the two heads", 1, merge_setup, 1)
    print(f"  {joined.label:<50} {joined.seconds:>10.3f} s")
    print(line(Result("  = new entries joined per second", n, joined.seconds), JOIN_TARGET, check))
    print(f"  {merged.label:<50} {merged.seconds * 1e3:>10.3f} ms")


if __name__ == "__main__":
    main()
