"""Computing versions: the state of a database at given heads, from a snapshot and the log
(docs/checkpoints.md "How a version is computed").

A checkpoint's hashes are never taken from the live database, which moves on and could have been
edited behind the log's back. A node computes them by *replay*: the previous checkpoint's snapshot
(or nothing, for the first), restored into memory, plus the log entries between that checkpoint's
heads and the target heads. The same replay, carried on to the node's own heads, is compared with
the live database: a difference means the live state is not what its log says.

Gathering the entries (:func:`plan`) runs on the database's owner; the replay (:func:`run`) touches
only its own in-memory database and the blocks it was given, so it runs in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import apsw

from p2pdb.log import CID, Identity, Manifest
from p2pdb.log.blockstore import FloorNode
from p2pdb.schema import Schema
from p2pdb.store.database import Database
from p2pdb.store.engine import MemoryEngine
from p2pdb.store.schema import quote
from p2pdb.store.snapshot import (
    STATE_TABLES,
    SnapshotError,
    SnapshotRoot,
    SnapshotStore,
    dump,
    load_rows,
    load_tables,
)
from p2pdb.store.state_hash import merge_state_hash, merge_state_parts, state_hash, visible_rows

if TYPE_CHECKING:
    from p2pdb.checkpoint import Proposal

log = logging.getLogger(__name__)


def restore(
    db: Database,
    root: SnapshotRoot,
    get: Callable[[CID], bytes | None],
    *,
    progress: Callable[[int], None] | None = None,
    keep_log: bool = False,
) -> None:
    """Make ``db`` hold exactly the snapshot's state: its merge state loaded, every table rebuilt
    from the row versions, both hashes checked against the snapshot's checkpoint. Raises
    :class:`SnapshotError` (and changes nothing) when they differ. ``keep_log``: replace the state
    of a database that has a log (a repair); otherwise ``db`` must be empty and starts its log at
    the snapshot's heads."""
    if root.db != db.manifest.address:
        raise SnapshotError(f"snapshot of database {root.db}, not {db.manifest.address}")
    if not keep_log and len(db.log):
        raise SnapshotError("a snapshot is restored into an empty database only")
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        for _, table in sorted(db.catalog.schema.tables.items()):
            conn.execute(f"DROP TABLE IF EXISTS {quote(table.spec.name)}")
        for name in STATE_TABLES:
            conn.execute(f"DELETE FROM {name}")
        floor = load_tables(conn, root, get, progress)
        if not keep_log:  # first: the schema and rules of the events are read through the log
            db.log.set_floor(floor, root.heads, dict(root.vv))
        db._reload_state()
        for key, table in sorted(db.catalog.schema.tables.items()):
            # the rows as the snapshot holds them (checked by the state hash below), else rebuilt
            conn.execute(f"DROP TABLE IF EXISTS {quote(table.spec.name)}")
            conn.execute(table.spec.render())
            if load_rows(conn, root, key, table.spec, get, progress):
                for index in table.indexes:
                    conn.execute(index.render())
            else:
                db.materializer.rebuild(table, {})
        if db.compile_view is not None:
            db.materializer.sync_views()
        db.changes.reset()
        schema = db.catalog.schema
        state, merge = state_hash(conn, schema), merge_state_hash(conn)
        if (state, merge) != (root.state.hex(), root.merge.hex()):
            raise SnapshotError(
                f"snapshot state does not match checkpoint {root.checkpoint}: "
                f"state {state[:16]} vs {root.state.hex()[:16]}, merge {merge[:16]} vs {root.merge.hex()[:16]}"
            )
        if visible_rows(conn, schema) != root.rows:
            raise SnapshotError("snapshot rows do not match its checkpoint's count")
        conn.execute("COMMIT")
    except BaseException:
        db._rollback()
        raise


@dataclass(slots=True)
class Plan:
    """What a replay needs, gathered from the live database on its owner."""

    identity: Identity
    manifest: Manifest
    quorum: int
    base: SnapshotRoot | None
    base_entries: int
    target: tuple[CID, ...]
    #: entries between the base's heads and the target, then from the target to the live heads (their
    #: blocks are read by the replay: from the file in the worker, or through ``read`` in memory)
    to_target: list[CID]
    to_live: list[CID]
    live_heads: tuple[CID, ...]
    schema: Schema
    #: the live database file (None in memory: the live hashes are taken on the owner instead)
    path: str | None
    live_hashes: tuple[str, str, dict[str, str]] | None = None
    read: Callable[[CID], bytes | None] | None = None
    #: Parents of the planned entries that are neither planned nor (necessarily) in the base's floor:
    #: they are below the base, so the replay knows them by id (as a light node knows its boundary).
    boundary: list[FloorNode] = field(default_factory=list)


@dataclass(slots=True)
class Computed:
    """A replay's outcome: the version at the target heads, and the live check."""

    target: tuple[CID, ...]
    entries: int
    rows: int
    state: bytes
    merge: bytes
    replay: Database
    floor: list[FloorNode]
    #: True: the live database equals its log; False: it differs; None: not checked (it moved on)
    live_ok: bool | None = None
    live_detail: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    #: The target's version vector (per author, the highest Lamport time below the target heads).
    vv: dict[bytes, int] = field(default_factory=dict)


def plan(live: Database, base: SnapshotRoot | None, target: Sequence[CID], path: str | None) -> Plan:
    """Gather what a replay of ``live`` at ``target`` needs (on the database's owner)."""
    target = tuple(sorted(target))
    if any(c not in live.log for c in target):
        raise ValueError("the target heads are not all in the log")
    below = list(base.heads) if base is not None else []
    if base is not None and any(c not in live.log for c in base.heads):
        raise ValueError("the snapshot's heads are not in the log")
    first = live.log.since_cids(below, below=target)
    heads = live.log.heads
    second = live.log.since_cids(target, below=heads)
    boundary = live.log.parents_outside([*first, *second])
    result = Plan(
        live.identity,
        live.manifest,
        live.checkpoints.quorum,
        base,
        base.entries if base is not None else 0,
        target,
        first,
        second,
        tuple(heads),
        live.catalog.schema,
        path,
        boundary=boundary,
    )
    if path is None:
        result.live_hashes = (live.state_hash(), live.merge_state_hash(), merge_state_parts(live.conn))
        result.read = live.blocks.get
    return result


_BATCH = 2000


def _join(replay: Database, plan: Plan, cids: list[CID]) -> None:
    """Join the planned entries into the replay in batches, reading their blocks as it goes."""
    conn = None
    read = plan.read
    if read is None:
        from p2pdb.store.collation import connect

        assert plan.path is not None
        conn = connect(plan.path, apsw.SQLITE_OPEN_READONLY)

        def read(cid: CID) -> bytes | None:
            for (data,) in conn.execute("SELECT data FROM _p2pdb_blocks WHERE cid = ?", (bytes(cid),)):
                return bytes(data)
            return None

    try:
        for i in range(0, len(cids), _BATCH):
            batch = []
            for cid in cids[i : i + _BATCH]:
                data = read(cid)
                if data is None:
                    raise SnapshotError(f"entry {cid} has no block (pruned meanwhile)")
                batch.append((cid, data))
            replay.join(batch)
    finally:
        if conn is not None:
            conn.close()


def _live_hashes(plan: Plan) -> tuple[str, str, dict[str, str]] | None:
    """The live database's hashes at ``plan.live_heads`` (None if it has moved on since)."""
    if plan.live_hashes is not None:
        return plan.live_hashes
    assert plan.path is not None
    from p2pdb.store.collation import connect

    conn = connect(plan.path, apsw.SQLITE_OPEN_READONLY)
    try:
        conn.execute("BEGIN")
        heads = tuple(
            sorted(
                CID(bytes(c))
                for (c,) in conn.execute(
                    "SELECT cid FROM _p2pdb_heads WHERE log_id = ?", (plan.manifest.address,)
                )
            )
        )
        if heads != tuple(sorted(plan.live_heads)):
            return None
        return state_hash(conn, plan.schema), merge_state_hash(conn), merge_state_parts(conn)
    finally:
        conn.execute("COMMIT")
        conn.close()


def run(plan: Plan, get: Callable[[CID], bytes | None] | None) -> Computed:
    """Replay (in memory) the base snapshot and the planned entries: the version at the target
    heads, then the live check. ``get`` reads the base snapshot's blocks."""
    replay = Database(plan.identity, plan.manifest, MemoryEngine(), checkpoint_quorum=plan.quorum)
    if plan.base is not None:
        assert get is not None
        restore(replay, plan.base, get)
    if plan.base is None and plan.boundary:
        # No snapshot to start from, and entries the replay needs build on pruned ones: their effects
        # are missing. (A light node whose checkpoints stopped being final under new access rules.)
        replay.note_history_gap("the replay starts from nothing on a log pruned below a checkpoint")
    replay.add_floor(plan.boundary)
    replay.log.trust_clocks = False  # the planned entries are above the snapshot, all of them
    _join(replay, plan, plan.to_target)
    if replay.log.missing() or set(replay.log.heads) != set(plan.target):
        raise SnapshotError("the replay did not reach the target heads (entries missing)")
    schema = replay.catalog.schema
    computed = Computed(
        plan.target,
        plan.base_entries + len(plan.to_target),
        visible_rows(replay.conn, schema),
        bytes.fromhex(replay.state_hash()),
        bytes.fromhex(replay.merge_state_hash()),
        replay,
        replay.log.floor_nodes(
            [*plan.to_target, *(c for c in replay.checkpoints.proposal_cids() if c in replay.log)]
        ),
        vv=replay.log.version_vector(),
    )
    return computed


def keep(store: SnapshotStore, computed: Computed, proposal: Proposal, *, rows: bool = True) -> CID:
    """Keep the replay's state as the snapshot of ``proposal`` in ``store`` (its root CID). With
    ``rows``, the tables' rows too: a restore copies them instead of rebuilding them."""
    replay = computed.replay
    schema = replay.catalog.schema if rows else None
    return store.save(
        lambda put: dump(
            replay.conn, replay.manifest.address, proposal, computed.floor, put, schema, computed.vv
        ),
        proposal.seq,
        proposal.cid,
    )


def check_live(plan: Plan, computed: Computed) -> None:
    """Carry the replay on to the live heads and compare with the live database (after the
    snapshot of the target was taken: this moves the replay past the target)."""
    replay = computed.replay
    _join(replay, plan, plan.to_live)
    if set(replay.log.heads) != set(plan.live_heads):
        computed.live_ok = None
        return
    live = _live_hashes(plan)
    if live is None:
        computed.live_ok = None
        return
    mine = (replay.state_hash(), replay.merge_state_hash())
    computed.live_ok = live[:2] == mine
    if not computed.live_ok:
        ours = merge_state_parts(replay.conn)
        differ = [k for k, v in ours.items() if live[2].get(k) != v]
        if live[0] != mine[0]:
            differ.insert(0, "rows shown")
        computed.live_detail = (
            f"live state {live[0][:16]}:{live[1][:16]} differs from its log's {mine[0][:16]}:{mine[1][:16]}"
            f" ({', '.join(differ)})"
        )


def check_proof(db: Database, root: SnapshotRoot, proof: Sequence[bytes]) -> None:
    """The signed entries a peer gave with a snapshot must make its checkpoint final under this
    node's policy, judged by the access rules the (restored, hash-checked) snapshot holds: the
    checkpoint itself (its parents the snapshot's heads, its hashes the snapshot's) and enough
    agreeing countersignatures. Raises :class:`SnapshotError`."""
    from p2pdb.checkpoint import CheckpointOp, Countersign, CountersignOp, Proposal, resolve
    from p2pdb.log import EntryError
    from p2pdb.log.cid import cid_for_block
    from p2pdb.log.entry import decode_entry
    from p2pdb.store.ops import decode_ops

    proposal: Proposal | None = None
    countersigns: list[Countersign] = []
    for block in proof:
        try:
            entry = decode_entry(block, cid_for_block(block))
            ops = decode_ops(entry.ops)
        except (EntryError, ValueError) as exc:
            raise SnapshotError(f"a proof entry does not verify: {exc}") from None
        if entry.db != db.manifest.address or len(ops) != 1:
            continue
        op = ops[0]
        if isinstance(op, CheckpointOp) and entry.cid == root.checkpoint:
            heads = op.covered(entry.parents)
            if tuple(sorted(heads)) != tuple(sorted(root.heads)) or (op.state, op.merge) != (
                root.state,
                root.merge,
            ):
                raise SnapshotError("the snapshot is not the state its checkpoint names")
            proposal = Proposal(
                entry.cid, op.seq, op.prev, entry.author, entry.clock.time, op.entries, op.rows,
                op.state, op.merge, op.at, heads, True,
            )  # fmt: skip
        elif isinstance(op, CountersignOp) and op.target == root.checkpoint:
            countersigns.append(Countersign(entry.cid, op.target, entry.author, op.state, op.merge))
    if proposal is None:
        raise SnapshotError("the snapshot came without its signed checkpoint")
    status = resolve([proposal], countersigns, db.checkpoints.policy()).statuses[proposal.cid]
    if not status.final:
        raise SnapshotError(
            f"checkpoint {proposal.cid} has {len(status.signers)} valid signatures: not final for this node"
        )


def restore_file(
    identity: Identity,
    manifest: Manifest,
    quorum: int,
    path: str,
    root: SnapshotRoot,
    get: Callable[[CID], bytes | None],
    proof: Sequence[bytes],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Restore a snapshot into a new database file at ``path`` and check its proof (a worker thread
    may run it: it touches nothing else)."""
    from p2pdb.store.engine import FileEngine

    db = Database(identity, manifest, FileEngine(path), checkpoint_quorum=quorum)
    try:
        restore(db, root, get, progress=progress)
        check_proof(db, root, proof)
        db.join(list(proof))  # the checkpoint follows the snapshot's heads; its signatures may wait
    finally:
        db.close()
