"""Benchmark of the text functions SQLite calls per comparison or per row: the collation of a MySQL
character column and LIKE.

    python bench/text_bench.py [--rows 10000] [--repeat 2000]

One in-memory table of ROWS rows like sysbench's ``sbtest1`` (``c``: 119 characters of digits and
dashes) with ``c`` twice: under ``P2PDB_CI`` (the collation of a MySQL text column, indexed) and
under SQLite's BINARY (the baseline: no collation call). Each query is timed on a connection with the
C collations (``p2pdb/store/_collate.c``) and on one with the Python functions of the same rules,
same run; the queries are sysbench ``oltp_read_write``'s two sorts over 100 rows and a lookup through
the index on ``c`` (a value given in upper case, so the collation decides). Prints microseconds per
query and the ratios. Then LIKE over all ROWS rows (``count(*) ... WHERE c LIKE ?``) with the C
function (``p2pdb/sql/_like.c``), the Python one, and SQLite's own LIKE as the baseline (which is
not MySQL's: no default escape, ASCII folding only). No target (docs/performance.md, thirteenth round).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import apsw

from p2pdb.sql import like
from p2pdb.store import collation


def _table(conn: apsw.Connection, rows: int) -> list[str]:
    rnd = random.Random(1)
    values = ["-".join(f"{rnd.randrange(10**11):011d}" for _ in range(10)) for _ in range(rows)]
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT COLLATE P2PDB_CI, b TEXT COLLATE BINARY)")
    with conn:
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i + 1, v, v) for i, v in enumerate(values)])
    conn.execute("CREATE INDEX t_c ON t (c)")
    conn.execute("CREATE INDEX t_b ON t (b)")
    return values


def _time(conn: apsw.Connection, sql: str, args: Callable[[int], tuple[object, ...]], repeat: int) -> float:
    for i in range(min(repeat, 100)):  # warm the statement cache and the pages
        list(conn.execute(sql, args(i)))
    start = time.perf_counter()
    for i in range(repeat):
        list(conn.execute(sql, args(i)))
    return (time.perf_counter() - start) / repeat * 1e6


def _fixed(args: tuple[object, ...]) -> Callable[[int], tuple[object, ...]]:
    return lambda _: args


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2_000)
    opts = parser.parse_args()
    if not collation.native():
        raise SystemExit(
            "p2pdb was built without its C collations (needs gcc and libsqlite3-dev): nothing to compare"
        )
    conns = {}
    values: list[str] = []
    for name, use_python in (("C", False), ("Python", True)):
        conns[name] = collation.register(apsw.Connection(":memory:"), python=use_python)
        values = _table(conns[name], opts.rows)
    span = 100
    last = opts.rows - span

    def between(i: int) -> tuple[object, ...]:
        low = i * 37 % last + 1
        return (low, low + span - 1)

    def exact(i: int) -> tuple[object, ...]:
        return (values[i * 7919 % opts.rows],)

    def upper(i: int) -> tuple[object, ...]:  # found only through the case-insensitive collation
        return (values[i * 7919 % opts.rows].upper(),)

    cases = (
        ("ORDER BY over 100 rows", "SELECT {col} FROM t WHERE id BETWEEN ? AND ? ORDER BY {col}", between, between, 1),
        ("DISTINCT ... ORDER BY, 100 rows", "SELECT DISTINCT {col} FROM t WHERE id BETWEEN ? AND ? ORDER BY {col}", between, between, 1),
        ("index lookup col = ?", "SELECT id FROM t WHERE {col} = ?", exact, upper, 10),
    )  # fmt: skip
    print(f"text_bench: {opts.rows:,} rows, {opts.repeat:,} queries per case (x10 for lookups), microseconds")
    print(f"{'query':34} {'BINARY':>8} {'C':>8} {'Python':>8} {'C/BINARY':>9} {'Python/C':>9}")
    for label, sql, binary_args, args, scale in cases:
        binary = _time(conns["C"], sql.format(col="b"), binary_args, opts.repeat * scale)
        native = _time(conns["C"], sql.format(col="c"), args, opts.repeat * scale)
        python = _time(conns["Python"], sql.format(col="c"), args, opts.repeat * scale)
        print(
            f"{label:34} {binary:8.1f} {native:8.1f} {python:8.1f} {native / binary:8.2f}x {python / native:8.2f}x"
        )
    print(f"{'LIKE over all rows':34} {'SQLite':>8} {'C':>8} {'Python':>8} {'C/SQLite':>9} {'Python/C':>9}")
    like.register(conns["C"])
    like.register(conns["Python"], python=True)
    sqlite_own = collation.register(apsw.Connection(":memory:"))
    _table(sqlite_own, opts.rows)
    runs = max(opts.repeat // 100, 5)
    for pattern in ("%123%", "1234%", "%5-_6%"):
        sql = "SELECT count(*) FROM t WHERE c LIKE ?"
        own = _time(sqlite_own, sql, _fixed((pattern,)), runs)
        native = _time(conns["C"], sql, _fixed((pattern,)), runs)
        python = _time(conns["Python"], sql, _fixed((pattern,)), runs)
        print(
            f"{pattern!r:34} {own:8.1f} {native:8.1f} {python:8.1f} {native / own:8.2f}x {python / native:8.2f}x"
        )
    for conn in (*conns.values(), sqlite_own):
        conn.close()


if __name__ == "__main__":
    main()
