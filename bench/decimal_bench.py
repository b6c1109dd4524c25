"""Benchmark of exact DECIMAL against DOUBLE through the SQL session (in process, memory engine).

Run: ``python bench/decimal_bench.py`` (``--rows 20000`` for a quick run).

For each column type (``DECIMAL(12,2)`` and ``DOUBLE``) the same table is filled with ROWS rows by
multi-row INSERTs (BATCH rows each: every DECIMAL value goes through ``p2pdb_fit``, rounding and range
checks), then ``SELECT SUM(v), AVG(v) FROM t`` runs REPEAT times (DECIMAL: Python ``decimal``
aggregates; DOUBLE: SQLite's own). Reported: rows inserted per second, milliseconds per SUM+AVG, and
the DECIMAL/DOUBLE time ratio of each. The DECIMAL sum must be exact; the DOUBLE one usually is not.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal
from typing import Any

from p2pdb.log import Identity
from p2pdb.sql.backend import Accounts, SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.results import ResultSet
from p2pdb.sql.session import SQLSession
from p2pdb.store.registry import Registry


def run(session: SQLSession, sql: str) -> Any:
    (result,) = asyncio.run(session.execute(sql, multi=False))
    return result


def value(i: int) -> str:
    return f"{i % 1000}.{i % 100:02d}"


def measure(kind: str, rows: int, batch: int, repeat: int) -> tuple[float, float, Any]:
    backend = SQLBackend(Registry(Identity.from_seed(b"d" * 32), None), Accounts(None))
    session = asyncio.run(backend.open_session(ConnectInfo(1, "root", None, "127.0.0.1", False, False, 45)))
    run(session, "CREATE DATABASE bench")
    run(session, "USE bench")
    run(session, f"CREATE TABLE t (id INT PRIMARY KEY, v {kind})")
    start = time.perf_counter()
    for first in range(0, rows, batch):
        values = ", ".join(f"({i}, {value(i)})" for i in range(first, min(first + batch, rows)))
        run(session, f"INSERT INTO t VALUES {values}")
    inserted = rows / (time.perf_counter() - start)
    best = float("inf")
    total: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(session, "SELECT SUM(v), AVG(v) FROM t")
        best = min(best, time.perf_counter() - start)
        assert isinstance(result, ResultSet)
        total = result.rows[0][0]
    return inserted, best * 1000, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    exact = sum(Decimal(value(i)) for i in range(args.rows))
    print(f"{args.rows} rows, {args.batch} per INSERT; SUM+AVG best of {args.repeat}; exact sum {exact}")
    results = {}
    for kind in ("DECIMAL(12,2)", "DOUBLE"):
        inserted, summed, total = measure(kind, args.rows, args.batch, args.repeat)
        results[kind] = (inserted, summed)
        print(f"{kind:14} insert {inserted:10,.0f} rows/s   SUM+AVG {summed:8.1f} ms   SUM = {total}")
        if kind.startswith("DECIMAL"):
            assert Decimal(total) == exact, f"DECIMAL sum {total} is not {exact}"
    dec, dbl = results["DECIMAL(12,2)"], results["DOUBLE"]
    print(f"ratio DECIMAL/DOUBLE: insert time x{dbl[0] / dec[0]:.2f}, SUM+AVG time x{dec[1] / dbl[1]:.2f}")


if __name__ == "__main__":
    main()
