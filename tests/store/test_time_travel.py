"""Time travel on a light replica (``p2pdb.store.time_travel``): a version above the kept snapshot is
replayed from it, and equals an archive's version of the same point."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from p2pdb.checkpoint import CheckpointOp, CountersignOp
from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, MemoryEngine, time_travel
from p2pdb.store import checkpointing as ck
from p2pdb.store.snapshot import SnapshotStore

logging.getLogger("p2pdb").setLevel(logging.CRITICAL)
MANIFEST = Manifest("travel")


def sql(db: Database, statement: str, *params: Any) -> None:
    db.write(lambda conn: conn.execute(statement, params))


def send(source: Database, target: Database) -> None:
    target.join([e.block for e in source.log.since(target.log.heads)])


def rows(db: Database) -> list[tuple[Any, ...]]:
    return list(db.conn.execute("SELECT id, v FROM t ORDER BY id"))


def _checkpoint(proposer: Database, signer: Database, store: SnapshotStore, base: Any) -> tuple[Any, Any]:
    """A checkpoint at the proposer's heads (from ``base``), countersigned: final; its snapshot kept."""
    latest = proposer.checkpoints.chain().latest
    computed = ck.run(ck.plan(proposer, base, proposer.log.heads, None), store.get)
    seq, prev = (latest.proposal.seq + 1, latest.proposal.cid) if latest is not None else (1, None)
    op = CheckpointOp(seq, prev, computed.state, computed.merge, computed.entries, computed.rows, 0)
    entry = proposer.append_checkpoint(op, covers=computed.target)
    send(proposer, signer)
    signer.append_checkpoint(CountersignOp(entry.cid, op.state, op.merge))
    send(signer, proposer)
    assert proposer.checkpoints.chain().latest.proposal.cid == entry.cid  # type: ignore[union-attr]
    proposal = proposer.checkpoints.chain().statuses[entry.cid].proposal
    ck.keep(store, computed, proposal)
    return entry, store.root_of(entry.cid)


def test_a_light_version_above_its_snapshot_knows_parents_below_it(tmp_path: Path) -> None:
    """A write concurrent with two checkpoints builds on an entry below the first, which the second
    one's snapshot does not keep in its floor. A light replica started from that snapshot learns the
    parent as a boundary entry; its replay of a later point must know it too (it did not: "the replay
    did not reach the point", seen on a real light node). The light version equals the archive's."""
    a = Database(Identity.generate(), MANIFEST, MemoryEngine(), checkpoint_quorum=2)
    b = Database(Identity.generate(), MANIFEST, MemoryEngine(), checkpoint_quorum=2)
    c = Database(Identity.generate(), MANIFEST, MemoryEngine(), checkpoint_quorum=2)  # offline writer
    sql(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sql(a, "INSERT INTO t VALUES (1, 'one')")
    send(a, c)
    sql(c, "UPDATE t SET v = 'one, on c' WHERE id = 1")  # built on a's insert; a and b see it late
    store = SnapshotStore(tmp_path / "travel.snapshots")
    send(a, b)
    _, first = _checkpoint(a, b, store, None)
    sql(a, "INSERT INTO t VALUES (2, 'two')")
    entry, root = _checkpoint(a, b, store, first)
    # A light replica starts from the second snapshot, then takes the rest; c's write waits for its
    # parent, which an archive names as a boundary entry.
    send(c, a)
    light = Database(Identity.generate(), MANIFEST, MemoryEngine(), checkpoint_quorum=2)
    ck.restore(light, root, store.get)
    light.join(a.checkpoints.proof(entry.cid))
    send(a, light)
    for _ in range(4):
        missing = light.log.missing()
        if not missing:
            break
        boundary, blocks = a.boundary_of(missing, [*light.log.heads, *light.log.floor])
        light.join_boundary(boundary)
        light.join(blocks)
    assert not light.log.missing() and set(light.log.heads) == set(a.log.heads)
    sql(light, "INSERT INTO t VALUES (3, 'three, on the light replica')")
    (point,) = light.log.heads
    sql(light, "UPDATE t SET v = 'later' WHERE id = 3")
    send(light, a)
    store.close()

    version = time_travel.version_of(light, point, tmp_path / "travel.snapshots")
    archived = time_travel.version_of(a, point)
    assert (
        rows(version) == rows(archived) == [(1, "one, on c"), (2, "two"), (3, "three, on the light replica")]
    )
    assert version.state_hash() == archived.state_hash()
