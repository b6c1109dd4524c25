"""Checkpoints in process: versions computed from snapshots and the log, snapshots restored and
refused, the checkpointer's rounds between replicas, light pruning, tamper detection and repair."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import libipld
import pytest

from p2pdb.checkpointer import Checkpointer
from p2pdb.log import CID, Identity, Manifest, codec
from p2pdb.log.cid import cid_for_block
from p2pdb.store import Database, MemoryEngine
from p2pdb.store import checkpointing as ck
from p2pdb.store.registry import Registry
from p2pdb.store.snapshot import SnapshotError, SnapshotStore, dump, parse_root, read_car, write_car

logging.getLogger("p2pdb").setLevel(logging.CRITICAL)


def sync(dbs: list[Database]) -> None:
    for _ in range(2):
        for a in dbs:
            for b in dbs:
                if a is not b:
                    b.join([e.block for e in a.log.since(b.log.heads)])


def sql(db: Database, statement: str, *params: Any) -> None:
    db.write(lambda conn: conn.execute(statement, params))


def filled(rows: int = 50) -> Database:
    db = Database(Identity.generate(), Manifest("cp"), MemoryEngine())
    db.genesis("owned")
    sql(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sql(db, "CREATE UNIQUE INDEX t_v ON t (v)")
    sql(db, "CREATE TABLE k (a INTEGER, b TEXT)")  # no primary key: hidden row identities
    for i in range(rows):
        sql(db, "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
        sql(db, "INSERT INTO k VALUES (?, ?)", i % 7, "x")
    sql(db, "DELETE FROM t WHERE id < 5")
    sql(db, "ALTER TABLE t ADD COLUMN c INTEGER")
    return db


def snapshot_of(db: Database) -> tuple[SnapshotStore, Any, ck.Computed]:
    """A checkpoint of ``db`` at its heads, proposed and kept as a snapshot."""
    from p2pdb.checkpoint import CheckpointOp

    computed = ck.run(ck.plan(db, None, db.log.heads, None), None)
    op = CheckpointOp(1, None, computed.state, computed.merge, computed.entries, computed.rows, 0)
    entry = db.append_checkpoint(op, covers=computed.target)
    proposal = db.checkpoints.chain().statuses[entry.cid].proposal
    store = SnapshotStore(None)
    store.save(
        lambda put: dump(
            computed.replay.conn,
            db.manifest.address,
            proposal,
            computed.floor,
            put,
            computed.replay.catalog.schema,
        ),
        1,
        entry.cid,
    )
    root = store.root_of(entry.cid)
    return store, root, computed


def test_a_replay_from_nothing_gives_the_live_hashes() -> None:
    db = filled()
    computed = ck.run(ck.plan(db, None, db.log.heads, None), None)
    assert computed.state.hex() == db.state_hash()
    assert computed.merge.hex() == db.merge_state_hash()
    assert computed.entries == len(db.log)
    assert computed.rows == 45 + 50


def test_a_snapshot_restores_exactly_and_the_log_goes_on_from_it() -> None:
    db = filled()
    store, root, _ = snapshot_of(db)
    assert db.checkpoints.chain().latest is not None  # an owned database: its owner's signature
    fresh = Database(db.identity, db.manifest, MemoryEngine())
    ck.restore(fresh, root, store.get)
    sql(db, "UPDATE t SET v = 'changed' WHERE id = 9")
    sql(db, "INSERT INTO k VALUES (99, 'after')")
    result = fresh.join([e.block for e in db.log.since(list(root.heads))])
    assert not result.missing and not result.rejected_ops
    assert (fresh.state_hash(), fresh.merge_state_hash()) == (db.state_hash(), db.merge_state_hash())
    assert fresh.query("SELECT v FROM t WHERE id = 9") == [("changed",)]
    assert len(fresh.blocks) == 3  # the entries after the checkpoint only (with the checkpoint)


def forge(store: SnapshotStore, root: Any, table: str, change: Any) -> tuple[Any, dict[CID, bytes], CID]:
    """A snapshot whose first chunk of ``table`` is changed by ``change(rows)``, with a root that
    names the forged chunk correctly (so only the checkpoint's hashes can tell)."""
    chunks = next(t[2] for t in root.tables if t[0] == table)
    rows = codec.decode(store.get(chunks[0]))
    change(rows)
    forged = codec.encode(rows)
    blocks = {c: store.get(c) for c in root.chunks} | {cid_for_block(forged): forged}
    tables = [
        {"name": n, "columns": list(cols), "count": k,
         "chunks": [cid_for_block(forged) if c == chunks[0] else c for c in chs]}
        for n, cols, chs, k in root.tables
    ]  # fmt: skip
    raw = codec.decode(store.get(root.cid))
    raw["tables"] = tables
    data = codec.encode(raw)
    return parse_root(cid_for_block(data), data), blocks, chunks[0]


def test_a_snapshot_that_is_not_its_checkpoint_is_refused() -> None:
    db = filled()
    store, root, _ = snapshot_of(db)

    def versions(rows: list[Any]) -> None:
        rows[0][2] = rows[1][2]  # one row gets another's versions and values

    def values(rows: list[Any]) -> None:
        rows[3][1] = "forged"  # a value SQL would show

    for table, change in (("_p2pdb_rows", versions), ("user:t", values)):
        bad_root, blocks, _ = forge(store, root, table, change)
        fresh = Database(db.identity, db.manifest, MemoryEngine())
        with pytest.raises(SnapshotError, match="does not match checkpoint"):
            ck.restore(fresh, bad_root, blocks.get)
        assert len(fresh.log) == 0 and fresh.tables() == []  # nothing kept
    # A block that is not what its CID says.
    first = root.chunks[0]
    with pytest.raises(SnapshotError, match="does not match its CID"):
        ck.restore(fresh, root, lambda c: b"\xa0" if c == first else store.get(c))
    # Another database's snapshot.
    other = Database(db.identity, Manifest("other"), MemoryEngine())
    with pytest.raises(SnapshotError, match="database"):
        ck.restore(other, root, store.get)


def test_a_snapshot_travels_as_a_car_file_a_standard_reader_reads() -> None:
    db = filled()
    store, root, _ = snapshot_of(db)
    out = io.BytesIO()
    write_car(out, root.cid, store.blocks(root))
    header, blocks = libipld.decode_car(out.getvalue())
    assert header["version"] == 1 and header["roots"] == [bytes(root.cid)]
    assert set(blocks) == {bytes(c) for c in (root.cid, *root.chunks)}
    assert blocks[bytes(root.cid)]["snapshot"] == 1  # dag-cbor, decoded by another implementation
    assert blocks[bytes(root.cid)]["rows"] == root.rows
    cid, ours = read_car(io.BytesIO(out.getvalue()))
    assert cid == root.cid and dict(ours) == {c: store.get(c) for c in (root.cid, *root.chunks)}
    damaged = bytearray(out.getvalue())
    damaged[-5] ^= 0xFF
    with pytest.raises(SnapshotError):
        list(read_car(io.BytesIO(bytes(damaged)))[1])
    with pytest.raises(SnapshotError):
        read_car(io.BytesIO(b"not a car file"))


# -- the checkpointer between replicas ------------------------------------------------------------


def replicas(count: int, *, quorum: int = 2) -> tuple[list[Registry], list[Database]]:
    registries = [
        Registry(Identity.generate(), None, new_database_access="none", checkpoint_quorum=quorum)
        for _ in range(count)
    ]
    dbs = [r.create("shop") for r in registries]
    dbs[0].genesis("none")
    sql(dbs[0], "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sync(dbs)
    return registries, dbs


async def round_(checkpointers: list[Checkpointer], dbs: list[Database], proposer: int) -> None:
    await checkpointers[proposer].step("shop", dbs[proposer], force=True)
    sync(dbs)
    for c, db in zip(checkpointers, dbs, strict=True):
        await c.step("shop", db)
    sync(dbs)
    for c, db in zip(checkpointers, dbs, strict=True):
        await c.step("shop", db)


async def two_checkpointed() -> tuple[list[Database], list[Checkpointer]]:
    """Two replicas with ten rows and one checkpoint round behind them."""
    registries, dbs = replicas(2)
    cps = [Checkpointer(r, interval=3600) for r in registries]
    for i in range(10):
        sql(dbs[0], "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
    sync(dbs)
    await round_(cps, dbs, 0)
    return dbs, cps


def test_replicas_propose_countersign_and_a_light_one_prunes() -> None:
    async def main() -> None:
        registries, dbs = replicas(3)
        roles = ["archive", "archive", "light"]
        cps = [Checkpointer(r, interval=3600, role=role) for r, role in zip(registries, roles, strict=True)]
        for i in range(30):
            sql(dbs[i % 3], "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
        sync(dbs)
        await round_(cps, dbs, 0)
        chains = [[s.proposal.cid for s in db.checkpoints.chain().chain] for db in dbs]
        assert len(chains[0]) == 1 and chains[0] == chains[1] == chains[2]
        status = dbs[0].checkpoints.chain().latest
        assert status is not None and len(status.signers) == 3  # the proposer and two countersigners
        seen_then = [e.block for e in dbs[0].log.traverse()]  # a replica offline from here on knew this
        for i in range(30, 60):
            sql(dbs[i % 3], "UPDATE t SET v = ? WHERE id = ?", f"w{i}", i - 30)
        sync(dbs)
        light_blocks = len(dbs[2].blocks)
        await round_(cps, dbs, 1)
        assert [len(db.checkpoints.chain().chain) for db in dbs] == [2, 2, 2]
        hashes = {(db.state_hash(), db.merge_state_hash()) for db in dbs}
        assert len(hashes) == 1  # pruning changed nothing anyone shows
        assert len(dbs[2].blocks) < light_blocks / 3 < len(dbs[0].blocks)
        assert len(dbs[2].log.floor) > 0 and cps[2].tracks["shop"].pruned > 0
        assert all(c.tracks["shop"].mismatch is None for c in cps)
        # A late entry concurrent with the checkpoint (written on a replica that had not seen it)
        # merges on the light replica as on the archives.
        late = Database(Identity.generate(), dbs[0].manifest, MemoryEngine())
        late.join(seen_then)
        sql(late, "INSERT INTO t VALUES (500, 'late')")
        sql(late, "UPDATE t SET v = 'late' WHERE id = 3")  # concurrent with w33: the clocks decide
        written = late.log.since(dbs[0].log.heads)
        assert set(written[0].parents) <= dbs[2].log.floor  # it builds on what the light one pruned
        for db in dbs:
            db.join([e.block for e in written])
        assert len({(db.state_hash(), db.merge_state_hash()) for db in dbs}) == 1
        both = "SELECT v FROM t WHERE id IN (3, 500) ORDER BY id"
        assert dbs[2].query(both) == dbs[0].query(both) and dbs[2].query(both)[1] == ("late",)
        for c in cps:
            await c.stop()

    asyncio.run(main())


def test_a_state_changed_behind_the_logs_back_is_found_and_repaired() -> None:
    async def main() -> None:
        dbs, cps = await two_checkpointed()
        seen: list[tuple[str, str]] = []
        cps[1].on_mismatch.append(lambda name, detail: seen.append((name, detail)))
        dbs[1].conn.execute("UPDATE t SET v = 'evil' WHERE id = 3")  # not through the store
        sql(dbs[0], "INSERT INTO t VALUES (100, 'new')")
        sync(dbs)
        await round_(cps, dbs, 1)
        assert seen and seen[0][0] == "shop" and "rows shown" in seen[0][1]
        track = cps[1].tracks["shop"]
        assert track.mismatches == 1 and track.repairs == 1
        assert dbs[1].query("SELECT v FROM t WHERE id = 3") == [("v3",)]
        assert dbs[1].state_hash() == dbs[0].state_hash()
        # The proposal of the tampered replica was computed from its log, so it is right and final.
        assert len(dbs[0].checkpoints.chain().chain) == 2
        for c in cps:
            await c.stop()

    asyncio.run(main())


def test_a_live_check_that_was_inconclusive_is_done_again_in_a_quiet_round() -> None:
    """The live check at a checkpoint is inconclusive when the node's heads move while it runs
    (countersignatures arriving). Without a retry, a state edited behind the log's back stayed
    unnoticed when no write followed (seen in the five-node test: the restarted node never
    repaired). A quiet round does the owed check alone and repairs."""

    async def main() -> None:
        dbs, cps = await two_checkpointed()
        track = cps[1].tracks["shop"]
        assert not track.live_due and track.mismatches == 0  # checked at the checkpoint: fine
        dbs[1].conn.execute("UPDATE t SET v = 'evil' WHERE id = 3")  # not through the store
        await cps[1].step("shop", dbs[1])
        assert track.mismatches == 0  # nothing owed, no write: nothing is checked
        track.live_due, track.live_tried = True, 0.0  # as an inconclusive check leaves it
        await cps[1].step("shop", dbs[1])
        assert track.mismatches == 1 and track.repairs == 1 and not track.live_due
        assert dbs[1].query("SELECT v FROM t WHERE id = 3") == [("v3",)]
        assert dbs[1].state_hash() == dbs[0].state_hash()
        for c in cps:
            await c.stop()

    asyncio.run(main())


def test_updating_one_row_on_a_light_node_keeps_its_log_bounded() -> None:
    async def main() -> None:
        registries, dbs = replicas(2, quorum=1)
        cps = [Checkpointer(registries[0], interval=3600, role="light")]
        sql(dbs[0], "INSERT INTO t VALUES (1, 'v')")
        sizes = []
        for round_no in range(6):
            for i in range(100):
                sql(dbs[0], "UPDATE t SET v = ? WHERE id = 1", f"v{round_no}-{i}")
            await cps[0].step("shop", dbs[0], force=True)
            await cps[0].step("shop", dbs[0])
            sizes.append((len(dbs[0].blocks), len(dbs[0].log), dbs[0].changes.count(0)))
        # Each round prunes what the one before wrote: blocks, known ids and feed events stay flat.
        assert max(s[0] for s in sizes[1:]) <= 3, sizes
        assert max(s[1] for s in sizes[1:]) <= 110, sizes
        assert max(s[2] for s in sizes[1:]) <= 2, sizes
        await cps[0].stop()

    asyncio.run(main())


def test_a_concurrent_insert_record_survives_the_pruning_of_the_losing_insert() -> None:
    _registries, dbs = replicas(2)
    sql(dbs[0], "INSERT INTO t VALUES (1, 'first')")
    sql(dbs[1], "INSERT INTO t VALUES (1, 'second')")  # concurrent: one key inserted twice
    sync(dbs)
    records = [r for r in dbs[0].conflict_records() if r.kind == "duplicate_key"]
    assert len(records) == 1 and records[0].lost and records[0].cid is not None  # read from the log
    store, root, _ = snapshot_of(dbs[0])
    light = Database(dbs[0].identity, dbs[0].manifest, MemoryEngine())
    ck.restore(light, root, store.get)  # the losing insert's entry is not there
    assert light.conflicts.rows() == dbs[0].conflicts.rows()
    (record,) = [r for r in light.conflict_records() if r.kind == "duplicate_key"]
    assert (record.time, record.author, record.lost, record.cid) == (
        records[0].time,
        records[0].author,
        {},
        None,
    )


def test_records_of_an_older_version_are_read_as_the_new_ones() -> None:
    _registries, dbs = replicas(2)
    sql(dbs[0], "INSERT INTO t VALUES (1, 'first')")
    sql(dbs[1], "INSERT INTO t VALUES (1, 'second')")
    sync(dbs)
    db = dbs[0]
    (record,) = [r for r in db.conflict_records() if r.kind == "duplicate_key"]
    db.conn.execute(  # what version 0.x stored: the entry's id and its values
        "UPDATE _p2pdb_conflicts SET cid = ?, lost = ? WHERE kind = 'duplicate_key'",
        (bytes(CID.parse(record.cid or "")), '{"id": 1}'),
    )
    before = db.merge_state_hash()
    from p2pdb.store.conflicts import Conflicts

    Conflicts(db.conn)  # opening the file again converts them
    assert db.merge_state_hash() != before
    assert db.merge_state_hash() == dbs[1].merge_state_hash()
    assert [r for r in db.conflict_records() if r.kind == "duplicate_key"] == [record]


def test_a_late_drop_that_needs_pruned_history_is_flagged_and_archives_replay_the_whole_log() -> None:
    async def main() -> None:
        registries, dbs = replicas(3, quorum=1)
        cps = [
            Checkpointer(r, interval=3600, role=role)
            for r, role in zip(registries, ["archive"] * 2 + ["light"], strict=True)
        ]
        sql(dbs[0], "INSERT INTO t VALUES (1, 'kept by the archives')")
        sync(dbs[:2])  # the third replica, offline, drops the table it knew before that insert
        dbs[2].write(lambda c: c.execute("DROP TABLE t"), allow_drop=True)
        light = Database(Identity.generate(), dbs[0].manifest, MemoryEngine())
        store, root, _ = snapshot_of(dbs[0])  # a light replica starts from the archive's snapshot
        ck.restore(light, root, store.get)
        for db in (dbs[0], dbs[1], light):
            db.join([e.block for e in dbs[2].log.since(db.log.heads)])
        dbs[2].join([e.block for e in dbs[0].log.traverse()])
        assert light.history_gaps and not dbs[0].history_gaps  # the light one knows it may differ
        assert dbs[0].state_hash() == dbs[1].state_hash() == dbs[2].state_hash()
        # An archive computing the next version from its snapshot meets the same gap in the replay
        # and replays its whole log instead: its proposal is right, and the others agree with it.
        await round_(cps, dbs, 0)
        latest = dbs[0].checkpoints.chain().latest
        assert latest is not None and latest.proposal.state.hex() == dbs[1].state_hash()
        assert all(not c.tracks["shop"].disputed for c in cps[:2])
        for c in cps:
            await c.stop()

    asyncio.run(main())


def test_a_lost_write_record_of_a_pruned_entry_is_kept_until_a_drop_that_saw_it() -> None:
    """Lost-write records are decided again when the table's definition changes; on a replica that
    started from a snapshot the entry is not there to decide from, and the record must stay as an
    archive decides it (found by the convergence property: the record vanished)."""
    definitions = {
        "id": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        "k": "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)",
    }
    made = {key: Database(Identity.generate(), Manifest("lost"), MemoryEngine()) for key in definitions}
    for key, db in made.items():
        sql(db, definitions[key])
    late = Database(Identity.generate(), Manifest("lost"), MemoryEngine())
    probe = Database(Identity.generate(), Manifest("lost"), MemoryEngine())
    for db in made.values():
        probe.join([e.block for e in db.log.traverse()])
    spec = probe.catalog.table("t")
    assert spec is not None
    winner = spec.pk[0]
    loser = "k" if winner == "id" else "id"
    sql(late, definitions[winner])  # a third replica creates the winning definition too, offline
    archive = made[loser]  # it writes against its own definition, which loses
    sql(archive, "INSERT INTO t VALUES (?, 'lost')", 1 if loser == "id" else "one")
    archive.join([e.block for e in made[winner].log.traverse()])
    lost = [r for r in archive.conflicts.rows() if r[0] == "lost_write"]
    assert len(lost) == 1 and lost[0][3] == "primary_key"
    store, root, _ = snapshot_of(archive)
    light = Database(Identity.generate(), archive.manifest, MemoryEngine())
    ck.restore(light, root, store.get)  # the lost insert's entry is below its floor
    light.join([e.block for e in archive.log.since(light.log.heads)])
    assert light.conflicts.rows() == archive.conflicts.rows()
    assert light.merge_state_hash() == archive.merge_state_hash()
    # The offline replica's CREATE arrives: the table gains a generation, keeps its key (no replay),
    # and the records are decided again.
    for db in (archive, light):
        db.join([e.block for e in late.log.traverse()])
    assert not light.history_gaps and light.catalog.table("t").pk[0] == winner  # type: ignore[union-attr]
    assert [r for r in light.conflicts.rows() if r[0] == "lost_write"] == lost
    assert light.merge_state_hash() == archive.merge_state_hash()
    # A DROP that saw the insert: it is not lost to it, on the light replica as on the archive.
    archive.write(lambda c: c.execute("DROP TABLE t"), allow_drop=True)
    light.join([e.block for e in archive.log.since(light.log.heads)])
    assert not light.history_gaps
    assert not [r for r in archive.conflicts.rows() if r[0] == "lost_write"]
    assert light.conflicts.rows() == archive.conflicts.rows()
    assert light.merge_state_hash() == archive.merge_state_hash()


def test_a_light_node_whose_checkpoints_stop_being_final_does_not_replay_from_nothing() -> None:
    """Finality follows the node's current rules (new owners, another quorum): a light node's chain
    can lose the checkpoint it pruned below. A replay from nothing then lacks the pruned history; it
    is a history gap, never a version to propose or to "repair" the live state with (found by the
    convergence property: the replay was empty, and the live check would have wiped the rows)."""

    async def main() -> None:
        registries, dbs = replicas(3, quorum=2)
        cps = [
            Checkpointer(r, interval=3600, role=role)
            for r, role in zip(registries, ["archive", "archive", "light"], strict=True)
        ]
        for i in range(20):
            sql(dbs[i % 3], "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
        sync(dbs)
        await round_(cps, dbs, 0)
        for i in range(20, 30):
            sql(dbs[i % 3], "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
        sync(dbs)
        await round_(cps, dbs, 1)
        light = dbs[2]
        assert light.log.floor and light.checkpoints.chain().latest is not None
        light.checkpoints.quorum = 4  # now nothing it holds is final
        light.checkpoints.reload()
        assert light.checkpoints.chain().latest is None
        sql(light, "INSERT INTO t VALUES (100, 'after')")
        before = light.state_hash()
        plan = ck.plan(light, None, light.log.heads, None)
        computed = ck.run(plan, None)
        assert computed.replay.history_gaps  # not a version
        computed.replay.close()
        await cps[2].step("shop", light, force=True)
        assert light.state_hash() == before and light.query("SELECT count(*) FROM t") == [(31,)]
        assert cps[2].tracks["shop"].mismatches == 0
        for c in cps:
            await c.stop()

    asyncio.run(main())


def test_finality_is_judged_by_the_rules_each_checkpoint_was_made_under() -> None:
    """A checkpoint signed by the only owner of its time stays final when a new owner comes (it was
    judged by the current rules: a new owner undid it, and a light node that had pruned below it had
    nothing left to replay from). A checkpoint made after the change needs the new owners' majority.
    The rules travel with the proposal, so a node restarted on the file judges the same."""
    from p2pdb.acl import AclOp
    from p2pdb.checkpoint import CheckpointOp

    db = filled(5)  # owned by its node
    store, root, _ = snapshot_of(db)  # proposed by the only owner: final
    first = db.checkpoints.chain().chain
    assert len(first) == 1
    other = Identity.generate()
    db.change_access([AclOp("owner", owners=(other.public_key,))])
    assert [s.proposal.cid for s in db.checkpoints.chain().chain] == [first[0].proposal.cid]
    sql(db, "INSERT INTO t (id, v) VALUES (100, 'after')")
    computed = ck.run(ck.plan(db, root, db.log.heads, None), store.get)
    op = CheckpointOp(
        2, first[0].proposal.cid, computed.state, computed.merge, computed.entries, computed.rows, 0
    )
    second = db.append_checkpoint(op, covers=computed.target)
    computed.replay.close()
    chain = db.checkpoints.chain()
    assert not chain.statuses[second.cid].final  # one owner of two signed it
    assert [s.proposal.cid for s in chain.chain] == [first[0].proposal.cid]
    db.checkpoints.reload()  # what a restart reads from the file
    assert [s.proposal.cid for s in db.checkpoints.chain().chain] == [first[0].proposal.cid]


def test_a_peer_is_offered_the_previous_snapshot_while_the_latest_is_being_saved() -> None:
    """A checkpoint is final the moment it is appended (quorum 1) but its snapshot is saved after it
    (seconds, for a large state). A light node asking meanwhile was told "no snapshot" and replayed
    the whole log (the 1,000,000-row bootstrap bench took 198 s). It is offered the previous one."""

    async def main() -> None:
        registries, dbs = replicas(1, quorum=1)
        cp = Checkpointer(registries[0], interval=3600)
        for i in range(5):
            sql(dbs[0], "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
        await cp.step("shop", dbs[0], force=True)
        first = dbs[0].checkpoints.chain().latest
        assert first is not None
        sql(dbs[0], "INSERT INTO t VALUES (9, 'later')")
        await cp.step("shop", dbs[0], force=True)
        latest = dbs[0].checkpoints.chain().latest
        assert latest is not None and latest.proposal.cid != first.proposal.cid
        offered = cp.offer("shop")
        assert offered is not None and offered[0].checkpoint == latest.proposal.cid
        store = cp.tracks["shop"].store
        store.conn.execute("DELETE FROM roots WHERE checkpoint = ?", (bytes(latest.proposal.cid),))
        offered = cp.offer("shop")  # as while the latest one's snapshot is still being written
        assert offered is not None
        root, proof = offered
        assert root.checkpoint == first.proposal.cid
        assert proof == dbs[0].checkpoints.proof(first.proposal.cid)
        await cp.stop()

    asyncio.run(main())


def test_a_light_node_gives_the_pages_its_pruning_frees_back_to_the_file_system(tmp_path: Any) -> None:
    """``PRAGMA incremental_vacuum`` frees one page per step of its statement; run without stepping
    it to the end it gave back a single page per round, and a light node's files kept every page its
    pruning freed."""

    async def main() -> None:
        registry = Registry(Identity.generate(), tmp_path, new_database_access="owned", checkpoint_quorum=1)
        db = registry.create("shop")
        db.genesis("owned")
        sql(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        cp = Checkpointer(registry, interval=3600, role="light")
        for round_no in range(3):
            for i in range(300):
                sql(db, "REPLACE INTO t VALUES (?, ?)", i % 50, f"{round_no}-{i}" * 20)
            await cp.step("shop", db, force=True)
            await cp.step("shop", db)
        assert cp.tracks["shop"].pruned > 500
        assert db.conn.execute("PRAGMA freelist_count").fetchall() == [(0,)]
        store = cp.tracks["shop"].store
        assert store.conn.execute("PRAGMA freelist_count").fetchall() == [(0,)]
        await cp.stop()
        registry.close()

    asyncio.run(main())


def test_a_light_node_keeps_its_snapshot_without_the_rows_and_it_still_restores() -> None:
    """The rows SQL shows are in the row versions already: a light node's snapshot leaves them out
    (a third of its disk); an archive's carries them for a fast restore. Both restore exactly."""
    from p2pdb.store.snapshot import USER_PREFIX

    async def main() -> None:
        registries, dbs = replicas(2)
        cps = [
            Checkpointer(r, interval=3600, role=role)
            for r, role in zip(registries, ("archive", "light"), strict=True)
        ]
        for i in range(40):
            sql(dbs[i % 2], "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
        sync(dbs)
        await round_(cps, dbs, 0)
        latest = dbs[0].checkpoints.chain().latest
        assert latest is not None
        roots = [c.tracks["shop"].store.root_of(latest.proposal.cid) for c in cps]
        assert roots[0] is not None and roots[1] is not None
        assert [any(n.startswith(USER_PREFIX) for n, *_ in r.tables) for r in roots] == [True, False]
        for cp, root in zip(cps, roots, strict=True):
            fresh = Database(Identity.generate(), dbs[0].manifest, MemoryEngine())
            ck.restore(fresh, root, cp.tracks["shop"].store.get)
            assert fresh.query("SELECT count(*) FROM t") == [(40,)]
            assert fresh.state_hash() == dbs[0].state_hash()
        for c in cps:
            await c.stop()

    asyncio.run(main())


def test_a_file_from_before_the_proposals_rules_were_kept_gets_the_column() -> None:
    import apsw

    from p2pdb.store.checkpoints import Checkpoints

    conn = apsw.Connection(":memory:")
    conn.execute(
        "CREATE TABLE _p2pdb_checkpoints (cid BLOB PRIMARY KEY, seq INTEGER NOT NULL,"
        " prev BLOB, author BLOB NOT NULL, time INTEGER NOT NULL, entries INTEGER NOT NULL,"
        " rows INTEGER NOT NULL, state BLOB NOT NULL, merge BLOB NOT NULL, at INTEGER NOT NULL,"
        " heads BLOB NOT NULL, covers_prev INTEGER NOT NULL, block BLOB NOT NULL) WITHOUT ROWID"
    )
    db = filled(3)
    snapshot_of(db)
    (row,) = db.conn.execute("SELECT * FROM _p2pdb_checkpoints").fetchall()
    conn.execute(f"INSERT INTO _p2pdb_checkpoints VALUES ({', '.join('?' * 13)})", row[:13])
    checkpoints = Checkpoints(conn, db.access.current, 1, db.access.at)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(_p2pdb_checkpoints)")]
    assert columns[-1] == "control"
    assert len(checkpoints.chain().chain) == 1  # judged by the current rules: its own are unknown


def test_a_boundary_entry_keeps_the_floor_ancestry_its_archive_names() -> None:
    """A light node relearns a forgotten entry as a boundary entry (a late entry names it). Its own
    parent is forgotten too, so only the archive can say which floor entries lie below it; without
    that, whether a kept checkpoint proposal is in a later entry's past was answered no."""
    archive = Database(Identity.generate(), Manifest("cp"), MemoryEngine())
    sql(archive, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
    for i in range(5):
        sql(archive, "INSERT INTO t VALUES (?)", i)
    light = Database(Identity.generate(), Manifest("cp"), MemoryEngine())
    writer = Database(Identity.generate(), Manifest("cp"), MemoryEngine())
    entries = list(archive.log.traverse())  # create, insert 0..4: a chain
    light.join([e.block for e in entries])
    writer.join([e.block for e in entries[:4]])
    sql(writer, "INSERT INTO t VALUES (10)")  # late: names entries[3], concurrent with the rest
    kept = entries[1]
    light.log.prune(light.log.heads, keep=[kept.cid])  # entries[2] to [4] are forgotten
    assert entries[2].cid not in light.log and kept.cid in light.log.floor
    late = [e.block for e in writer.log.since(archive.log.heads)]
    light.join(late)
    assert light.log.missing() == {entries[3].cid}
    boundary, blocks = archive.boundary_of(light.log.missing(), [*light.log.heads, *light.log.floor])
    assert not blocks and [set(below) for _, _, below in boundary] == [{kept.cid, entries[0].cid}]
    light.join_boundary(boundary)
    assert not light.log.missing()
    assert light.log.is_ancestor(kept.cid, writer.log.heads[0])
    assert light.query("SELECT count(*) FROM t") == [(6,)]


def _proposal(db: Database, base: Any, store: SnapshotStore | None, target: Any) -> tuple[Any, ck.Computed]:
    from p2pdb.checkpoint import CheckpointOp

    computed = ck.run(ck.plan(db, base, target, None), store.get if store is not None else None)
    latest = db.checkpoints.chain().latest
    seq, prev = (latest.proposal.seq + 1, latest.proposal.cid) if latest is not None else (1, None)
    op = CheckpointOp(seq, prev, computed.state, computed.merge, computed.entries, computed.rows, 0)
    return op, computed


def test_a_proposal_computed_while_its_author_wrote_keeps_the_author_chain() -> None:
    """The node computes a proposal in a worker thread while its clients go on writing. The proposal
    entry must still follow its author's newest entry: a snapshot's version vector holds every entry
    of an author up to its newest time as already in the state, so a proposal at the stale heads, with
    the same Lamport time as a write the snapshot holds, was dropped by every replay from that snapshot
    ("the replay did not reach the target heads") and no checkpoint was ever final again (five real
    nodes hit it in CI). Reverting ``Database.append_checkpoint`` to write the stale heads as parents
    fails this test."""
    a = Database(Identity.generate(), Manifest("fork"), MemoryEngine(), checkpoint_quorum=2)
    b = Database(Identity.generate(), Manifest("fork"), MemoryEngine(), checkpoint_quorum=2)
    sql(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(5):
        sql(a, "INSERT INTO t VALUES (?, ?)", i, f"v{i}")
    sync([a, b])
    stale = tuple(a.log.heads)  # a starts computing its proposal here ...
    op_a, _ = _proposal(a, None, None, stale)
    sql(a, "INSERT INTO t VALUES (5, 'written meanwhile')")  # ... while a client writes on a
    (written,) = a.log.heads
    sync([a, b])
    op_b, computed_b = _proposal(b, None, None, b.log.heads)  # b proposes at heads holding that write
    entry_b = b.append_checkpoint(op_b, covers=computed_b.target)
    entry_a = a.append_checkpoint(op_a, covers=stale)  # a's proposal lands after its write
    assert a.log.is_ancestor(written, entry_a.cid)  # it follows its author's write ...
    assert a.checkpoints.chain().statuses[entry_a.cid].proposal.heads == tuple(
        sorted(stale)
    )  # ... and covers
    sync([a, b])
    _, check = _proposal(a, None, None, tuple(b.checkpoints.chain().statuses[entry_b.cid].proposal.heads))
    assert (check.state, check.merge) == (op_b.state, op_b.merge)
    from p2pdb.checkpoint import CountersignOp

    a.append_checkpoint(CountersignOp(entry_b.cid, op_b.state, op_b.merge))
    sync([a, b])
    for db in (a, b):
        chain = db.checkpoints.chain()
        assert chain.latest is not None and chain.latest.proposal.cid == entry_b.cid
    # The snapshot of b's checkpoint, with its version vector, is where the next version starts.
    proposal = b.checkpoints.chain().statuses[entry_b.cid].proposal
    store = SnapshotStore(None)
    ck.keep(store, computed_b, proposal)
    root = store.root_of(entry_b.cid)
    sql(b, "INSERT INTO t VALUES (6, 'after')")
    sync([a, b])
    for db in (a, b):
        op, computed = _proposal(db, root, store, db.log.heads)  # entry_a lies above the snapshot
        assert computed.state.hex() == db.state_hash() and computed.merge.hex() == db.merge_state_hash()
        assert op.seq == 2


def test_a_forked_key_does_not_stall_the_replays() -> None:
    """One key on two machines (a restored backup, a copied data directory) writes two entries of
    one Lamport time. A snapshot's version vector then holds one of them as the author's newest, and
    the other, above the snapshot, must still be replayed: a replay takes every planned entry, so a
    writer cannot stop every node's checkpoints by forking its own key."""
    key = Identity.generate()
    a = Database(key, Manifest("fork"), MemoryEngine(), checkpoint_quorum=1)
    twin = Database(key, Manifest("fork"), MemoryEngine(), checkpoint_quorum=1)
    sql(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sync([a, twin])
    sql(a, "INSERT INTO t VALUES (1, 'a')")
    sql(twin, "INSERT INTO t VALUES (2, 'twin')")  # the same author and time, concurrent
    op, computed = _proposal(a, None, None, a.log.heads)  # a checkpoint without the twin's write
    entry = a.append_checkpoint(op, covers=computed.target)
    proposal = a.checkpoints.chain().statuses[entry.cid].proposal
    store = SnapshotStore(None)
    ck.keep(store, computed, proposal)
    sync([a, twin])
    assert len(a.log.heads) == 2
    _, version = _proposal(a, store.root_of(entry.cid), store, a.log.heads)
    assert version.state.hex() == a.state_hash() and version.merge.hex() == a.merge_state_hash()


def test_a_proposal_peers_would_refuse_is_refused_locally() -> None:
    """A proposal's op goes through the decoder its peers use before it is written (an empty list of
    heads, say, would be kept here and rejected everywhere else)."""
    from p2pdb.checkpoint import CheckpointOp, InvalidCheckpoint

    db = filled(3)
    entries = len(db.log)
    with pytest.raises(InvalidCheckpoint):
        db.append_checkpoint(CheckpointOp(1, None, b"\0" * 32, b"\0" * 32, 1, 1, 0), covers=())
    assert len(db.log) == entries and not db.checkpoints.proposals()
