"""Writer process of ``test_store_crash.py``: commits single-row inserts until it is killed.

Usage: ``python store_crash_writer.py DATA_DIR``. Opens (or creates) the database in DATA_DIR with
its own identity file, creates table ``t`` if needed, prints ``ready``, then inserts rows with ids
following the current maximum, printing each id (flushed) only after ``Database.write`` returned,
i.e. after the commit was acknowledged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import apsw

from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, FileEngine

MANIFEST = Manifest("crash")
SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)"


def insert(row_id: int, payload: str) -> Callable[[apsw.Connection], object]:
    return lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (row_id, payload))


def main(data_dir: Path) -> None:
    identity = Identity.load_or_create(data_dir / "identity.key")
    db = Database(identity, MANIFEST, FileEngine(data_dir / "db.sqlite"))
    if not db.tables():
        db.write(lambda c: c.execute(SCHEMA))
    next_id = (db.query("SELECT max(id) FROM t")[0][0] or 0) + 1
    print("ready", flush=True)
    while True:
        db.write(insert(next_id, f"row {next_id} " + "x" * 64))
        print(next_id, flush=True)
        next_id += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]))
