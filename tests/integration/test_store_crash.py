"""Invariant 1 under SIGKILL: every acknowledged commit survives, and data and log agree.

A writer process (``store_crash_writer.py``, FileEngine, its own identity file) commits single-row
inserts and prints each id once ``Database.write`` has returned. The test kills it with SIGKILL at a
random moment, reopens the database in this process and checks it; three rounds on the same files,
so each round also starts from a database recovered after a kill.
"""

from __future__ import annotations

import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from p2pdb.crdt import RowChange
from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, DDLOp, FileEngine, decode_ops

WRITER = Path(__file__).with_name("store_crash_writer.py")
MANIFEST = Manifest("crash")
ROUNDS = 3
START_TIMEOUT = 30.0


def insert(row_id: int, payload: str) -> Callable[[apsw.Connection], object]:
    return lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (row_id, payload))


def run_and_kill(data_dir: Path, rng: random.Random) -> list[int]:
    """Start a writer, kill it after it acknowledged some commits; return the acknowledged ids."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # drain stdout continuously so the writer never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"writer did not start within {START_TIMEOUT} s")
        if first != "ready":
            proc.kill()
            proc.wait(timeout=10)
            assert proc.stderr is not None
            pytest.fail(f"writer failed to start: {first!r}\n{proc.stderr.read()}")
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        reader.join(timeout=10)
        assert not reader.is_alive(), "stdout of the killed writer did not close"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    acknowledged: list[int] = []
    while (line := lines.get(timeout=1)) is not None:
        acknowledged.append(int(line))
    return acknowledged


def check_consistent(db: Database) -> int:
    """Data and log agree; return the number of rows."""
    assert db.query("PRAGMA integrity_check") == [("ok",)]
    rows = {r[0] for r in db.query("SELECT id FROM t")}
    creates = 0
    inserted: list[int] = []
    for entry in db.log.traverse():
        ops = decode_ops(entry.ops)
        creates += sum(1 for op in ops if isinstance(op, DDLOp))
        for op in ops:
            if isinstance(op, RowChange):
                (pk,) = op.pk
                assert isinstance(pk, int) and op.alive
                inserted.append(pk)
    assert creates == 1
    assert len(db.log) == len(rows) + 1  # one entry per committed row, plus the CREATE TABLE
    assert sorted(inserted) == sorted(rows)  # every row has its entry and every entry its row
    assert len(db.log.heads) == 1
    assert db.query("SELECT count(*) FROM _p2pdb_rows") == [(len(rows),)]
    return len(rows)


@pytest.mark.slow
def test_acknowledged_commits_survive_sigkill(tmp_path: Path) -> None:
    rng = random.Random()
    total_acknowledged = 0
    for round_ in range(ROUNDS):
        acknowledged = run_and_kill(tmp_path, rng)
        assert acknowledged, f"round {round_}: the writer acknowledged nothing before the kill"
        assert acknowledged == list(range(acknowledged[0], acknowledged[0] + len(acknowledged)))
        total_acknowledged += len(acknowledged)
        identity = Identity.load(tmp_path / "identity.key")
        db = Database(identity, MANIFEST, FileEngine(tmp_path / "db.sqlite"))
        try:
            present = {r[0] for r in db.query("SELECT id FROM t")}
            missing = set(acknowledged) - present
            assert not missing, f"round {round_}: acknowledged commits lost: {sorted(missing)[:10]}"
            # At most the one commit in flight at the kill can be present without its acknowledgement.
            assert max(present) - acknowledged[-1] <= 1
            count = check_consistent(db)
            # The recovered database writes again, and its entry follows the recovered head.
            head = db.log.heads
            entry = db.write(insert(max(present) + 1, "after")).entry
            assert entry is not None and entry.parents == head
            assert check_consistent(db) == count + 1
        finally:
            db.close()
    assert total_acknowledged >= ROUNDS
