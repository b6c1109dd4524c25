"""Bulk loading through MySQL into one real ``p2pdb start`` process (issue 14: writes).

    python bench/bulk_bench.py [--rows 50000] [--batch 5000]

Three ways a client loads ROWS rows of ``(id INT PRIMARY KEY, k INT, c VARCHAR(120), pad CHAR(60))``
(sysbench's table; ``c`` of 11 to 119 characters, so that rows differ in size as real ones do),
each into a fresh table, timed from the first statement sent to the last
acknowledged:

- ``executemany``: PyMySQL's ``executemany`` in batches of BATCH rows. PyMySQL sends each batch as
  one multi-row INSERT: 20,000 literals per statement at the default batch, more than SQLite binds
  in one statement (32,766 at 8,192 rows), so this also checks that such statements work.
- ``dump``: multi-row INSERTs cut as ``mysqldump`` cuts them (a new statement when the text
  reaches 16 KiB, ``net_buffer_length``), so their row counts differ from statement to statement.
- ``load``: one ``LOAD DATA LOCAL INFILE`` of all the rows (a CSV file; 50,000 rows are about 9 MB,
  more than one 4 MiB log entry: the node logs them as several, docs/crdt.md).
- ``one transaction``: ``executemany`` batches as above, all inside one BEGIN ... COMMIT (also
  more than one entry).
- baseline, same run: the same rows as single-row INSERTs, BATCH to a transaction.

Prints rows/s for each and the ratio against the baseline. No target of its own: it shows where a
multi-row statement stands against row-at-a-time work on the same node.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.cluster import NodeProcess

SCHEMA = (
    "CREATE TABLE {} (id INT PRIMARY KEY, k INT NOT NULL, c VARCHAR(120) NOT NULL, pad CHAR(60) NOT NULL)"
)
NET_BUFFER_LENGTH = 16 * 1024  # mysqldump's default statement size


def make_rows(count: int) -> list[tuple[int, int, str, str]]:
    rand = random.Random(7)
    digits = "0123456789"
    return [
        (
            i,
            rand.randrange(1, count + 1),
            "-".join("".join(rand.choices(digits, k=11)) for _ in range(rand.randrange(1, 11))),
            "-".join("".join(rand.choices(digits, k=11)) for _ in range(5)),
        )
        for i in range(1, count + 1)
    ]


def literal(row: tuple[int, int, str, str]) -> str:
    return f"({row[0]},{row[1]},'{row[2]}','{row[3]}')"


def dump_statements(table: str, rows: Sequence[tuple[int, int, str, str]]) -> list[str]:
    head = f"INSERT INTO {table} VALUES "
    statements: list[str] = []
    parts: list[str] = []
    size = len(head)
    for row in rows:
        text = literal(row)
        if parts and size + len(text) + 1 > NET_BUFFER_LENGTH:
            statements.append(head + ",".join(parts))
            parts, size = [], len(head)
        parts.append(text)
        size += len(text) + 1
    if parts:
        statements.append(head + ",".join(parts))
    return statements


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000, help="rows per executemany batch")
    args = parser.parse_args(argv)
    rows = make_rows(args.rows)
    with tempfile.TemporaryDirectory(prefix="p2pdb-bulk-") as tmp:
        node = NodeProcess(Path(tmp) / "node")
        node.start(timeout=60)
        try:
            conn = pymysql.connect(host="127.0.0.1", port=node.mysql_port, user="root", autocommit=True)
            cur = conn.cursor()
            cur.execute("CREATE DATABASE bulk")
            cur.execute("USE bulk")
            results: dict[str, float] = {}

            cur.execute(SCHEMA.format("single"))
            start = time.perf_counter()
            for first in range(0, len(rows), args.batch):  # (an entry holds at most 4 MiB)
                cur.execute("BEGIN")
                for row in rows[first : first + args.batch]:
                    cur.execute("INSERT INTO single VALUES (%s, %s, %s, %s)", row)
                cur.execute("COMMIT")
            results["baseline"] = time.perf_counter() - start

            cur.execute(SCHEMA.format("many"))
            start = time.perf_counter()
            for first in range(0, len(rows), args.batch):
                cur.executemany("INSERT INTO many VALUES (%s, %s, %s, %s)", rows[first : first + args.batch])
            results["executemany"] = time.perf_counter() - start

            cur.execute(SCHEMA.format("dump"))
            statements = dump_statements("dump", rows)
            start = time.perf_counter()
            for sql in statements:
                cur.execute(sql)
            results["dump"] = time.perf_counter() - start

            cur.execute(SCHEMA.format("loaded"))
            csv = Path(tmp) / "rows.csv"
            csv.write_text("".join(f"{r[0]},{r[1]},{r[2]},{r[3]}\n" for r in rows))
            load = pymysql.connect(
                host="127.0.0.1", port=node.mysql_port, user="root", database="bulk", local_infile=True
            )
            start = time.perf_counter()
            with load.cursor() as loading:
                loading.execute(f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE loaded FIELDS TERMINATED BY ','")
            load.commit()
            results["load"] = time.perf_counter() - start
            load.close()
            csv_size = csv.stat().st_size

            cur.execute(SCHEMA.format("one_txn"))
            start = time.perf_counter()
            cur.execute("BEGIN")
            for first in range(0, len(rows), args.batch):
                cur.executemany(
                    "INSERT INTO one_txn VALUES (%s, %s, %s, %s)", rows[first : first + args.batch]
                )
            cur.execute("COMMIT")
            results["one transaction"] = time.perf_counter() - start

            for table in ("single", "many", "dump", "loaded", "one_txn"):
                cur.execute(f"SELECT COUNT(*), SUM(k) FROM {table}")
                count, total = cur.fetchone()
                assert count == len(rows) and int(total) == sum(r[1] for r in rows), (table, count)
            conn.close()
        finally:
            node.stop()
    base = len(rows) / results["baseline"]
    print(f"bulk load of {len(rows):,} rows (sysbench's table) into one node")
    print(f"  baseline: single-row INSERTs, {args.batch:,} per transaction {base:10,.0f} rows/s")
    print(
        f"  executemany, {args.batch:,} rows per statement        {len(rows) / results['executemany']:10,.0f} rows/s"
        f"  {base and len(rows) / results['executemany'] / base:.2f}x"
    )
    print(
        f"  dump-style INSERTs ({len(statements)} statements of 16 KiB) {len(rows) / results['dump']:10,.0f} rows/s"
        f"  {len(rows) / results['dump'] / base:.2f}x"
    )
    mb = csv_size / 1e6
    print(
        f"  LOAD DATA of one {mb:.1f} MB file                 {len(rows) / results['load']:10,.0f} rows/s"
        f"  {len(rows) / results['load'] / base:.2f}x"
    )
    print(
        f"  executemany, all in one transaction          {len(rows) / results['one transaction']:10,.0f} rows/s"
        f"  {len(rows) / results['one transaction'] / base:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
