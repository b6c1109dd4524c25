"""The node's checkpoint duty for every database it holds (docs/checkpoints.md "Protocol").

Each tick, per database:

1. the chain the log holds (:meth:`Checkpoints.chain`) is read; when its latest checkpoint is new,
   this node makes sure it has that checkpoint's snapshot (computing it, and checking it against the
   checkpoint's hashes, if it took no part), keeps only that one, and a light node prunes below it;
2. the best proposal that follows the latest checkpoint and that this node has not judged yet is
   recomputed from the snapshot and the log; equal hashes: a countersignature; different ones: a
   countersignature carrying this node's own hashes (dissent), logged as an error;
3. when the interval has passed since the latest checkpoint (plus a per-node offset, so that one
   node usually proposes and the others countersign) and entries other than checkpoints came
   after it, this node proposes a checkpoint at its own heads.

Every computation also compares the live database with the replay of its log; a difference is
reported (log, metrics, ``p2pdb status``) and repaired by restoring the replayed state.
Replays run in a worker thread; only gathering entries and appending run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from p2pdb.checkpoint import CheckpointOp, CountersignOp, Proposal, Status
from p2pdb.log import CID
from p2pdb.store import checkpointing as ck
from p2pdb.store.database import Database
from p2pdb.store.engine import give_back_free_pages
from p2pdb.store.registry import Registry
from p2pdb.store.snapshot import SnapshotError, SnapshotRoot, SnapshotStore, dump, parse_root
from p2pdb.store.state_hash import visible_rows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Track:
    """What the checkpointer keeps per database."""

    store: SnapshotStore
    since: float  # when the latest checkpoint became known here (monotonic)
    db: int = 0  # id() of the Database object it is for (a database dropped and created again is new)
    latest: CID | None = None
    judged: set[CID] = field(default_factory=set)
    #: The latest verdict on this node's own state: None (fine) or what differed.
    mismatch: str | None = None
    #: The last difference found (kept after its repair).
    last_mismatch: str | None = None
    mismatches: int = 0
    repairs: int = 0
    #: Proposals whose hashes differ from this node's replay: checkpoint CID -> detail.
    disputed: dict[CID, str] = field(default_factory=dict)
    pruned: int = 0
    proposed: int = 0
    countersigned: int = 0
    last_cost: float = 0.0
    #: A check of the live state against the log is owed: none yet since the node started, or
    #: the last was inconclusive (the heads moved while it ran) or found a difference it could not
    #: repair yet. Owed checks run in quiet rounds (``_check_owed``), at most every ``RECHECK``.
    live_due: bool = True
    live_tried: float = 0.0


#: Seconds between two owed live checks of one database (at most; the interval if shorter).
RECHECK = 30.0


class Checkpointer:
    def __init__(
        self,
        registry: Registry,
        *,
        interval: float,
        role: str = "archive",
        tick: float | None = None,
        threads: bool = True,
    ) -> None:
        self.registry = registry
        self.interval = interval
        self.role = role
        self.tick = tick if tick is not None else max(0.2, min(5.0, interval / 4))
        self.threads = threads
        self.tracks: dict[str, Track] = {}
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        #: Rounds run since start, and the last round's failure (reported by status()).
        self.rounds = 0
        self.last_error: str | None = None
        me = registry.identity.public_key
        # Offset in [0, interval/4): nodes reach the interval at different moments.
        self._offset = int.from_bytes(hashlib.sha256(me).digest()[:4]) / 2**32 * interval / 4
        #: Called with (database, detail) when this node's state differs from its log.
        self.on_mismatch: list[Callable[[str, str], None]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for track in self.tracks.values():
            track.store.close()
        self.tracks.clear()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.step_all()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad round never stops checkpointing
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("checkpoint round failed")
            self.rounds += 1

    async def step_all(self) -> None:
        names = self.registry.names()
        for name in list(self.tracks):
            if name not in names:
                self.tracks.pop(name).store.close()
        for name in names:
            db = self.registry.get(name)
            if db is not None:
                await self.step(name, db)

    def track(self, name: str, db: Database | None = None) -> Track:
        track = self.tracks.get(name)
        if track is not None and db is not None and track.db != id(db):
            track.store.close()  # another database of that name now (dropped, created, replaced)
            track = None
        if track is None:
            track = self.tracks[name] = Track(
                SnapshotStore(self.registry.snapshot_path(name)), time.monotonic(), db=id(db)
            )
        return track

    # -- one round ------------------------------------------------------------------------------

    async def step(self, name: str, db: Database, *, force: bool = False) -> None:
        """One round for one database (``force``: propose now, whatever the interval)."""
        if self._busy:
            return
        self._busy = True
        try:
            await self._step(name, db, force)
        finally:
            self._busy = False

    async def _step(self, name: str, db: Database, force: bool) -> None:
        track = self.track(name, db)
        if db.conn.execute("SELECT 1 FROM _p2pdb_sealed LIMIT 1").fetchall():
            return  # entries this node cannot open: it cannot compute this database's state
        if db.history_gaps:
            return  # its state may differ from an archive's: it vouches for no version (docs)
        if db.parked_tables:
            return  # entries wait for a conflict rule not installed here: its state is not the others'
        chain = db.checkpoints.chain()
        latest = chain.latest
        if latest is not None and latest.proposal.cid != track.latest:
            await self._settle(name, db, track, latest)
            if self.registry.get(name) is not db:
                return
        base = self._base(track, latest)
        if latest is not None and base is None:
            return  # no snapshot of the latest checkpoint here: nothing to compute from
        me = db.identity.public_key
        for candidate in chain.candidates():
            proposal = candidate.proposal
            if proposal.cid in track.judged or proposal.author == me:
                continue
            if any(h not in db.log for h in proposal.heads):
                continue  # not all of its history here yet
            track.judged.add(proposal.cid)
            prev = chain.statuses.get(proposal.prev) if proposal.prev is not None else None
            if prev is not None and not _covers(db, proposal.heads, prev.proposal.heads):
                log.warning(
                    "database %s: checkpoint %s does not cover the heads of the checkpoint it follows;"
                    " not countersigned", name, proposal.cid,
                )  # fmt: skip
                continue
            await self._judge(name, db, track, base, proposal)
            return  # one replay per round
        due = time.monotonic() - track.since >= self.interval + self._offset
        pending = [c for c in chain.candidates() if not c.final]
        if pending and not force and time.monotonic() - track.since < 2 * self.interval + self._offset:
            return  # a proposal is gathering signatures
        if (force or due) and self._news(db, latest):
            await self._propose(name, db, track, base, latest)
            return
        if track.live_due and base is not None:
            await self._check_owed(name, db, track, base)

    async def _check_owed(self, name: str, db: Database, track: Track, base: SnapshotRoot) -> None:
        """The live check alone: the latest snapshot plus the entries after it, replayed to the
        node's heads, against the live state. Without it, a state edited behind the log's back
        stays unnoticed when the check at a checkpoint was inconclusive and no write follows."""
        now = time.monotonic()
        if now - track.live_tried < min(self.interval, RECHECK):
            return
        track.live_tried = now
        try:
            plan, computed = await self._compute(name, db, track, base, tuple(db.log.heads))
        except (SnapshotError, ValueError) as exc:
            log.warning("database %s: cannot check the live state: %s", name, exc)
            return
        if self.registry.get(name) is db:
            await self._check_live(name, db, track, plan, computed)
        computed.replay.close()

    def _base(self, track: Track, latest: Status | None) -> SnapshotRoot | None:
        if latest is None:
            return None
        return track.store.root_of(latest.proposal.cid)

    def _news(self, db: Database, latest: Status | None) -> bool:
        """Whether entries other than checkpoints came after the latest checkpoint."""
        below = list(latest.proposal.heads) if latest is not None else []
        for cid in reversed(db.log.since_cids(below)):
            entry = db.log.get(cid)
            if entry is None:
                continue
            ops = entry.ops
            if not (
                isinstance(ops, list)
                and len(ops) == 1
                and isinstance(ops[0], dict)
                and ("checkpoint" in ops[0] or "countersign" in ops[0])
            ):
                return True
        return False

    async def _compute(
        self, name: str, db: Database, track: Track, base: SnapshotRoot | None, target: tuple[CID, ...]
    ) -> tuple[ck.Plan, ck.Computed]:
        path = db.engine.location if self.registry.dir is not None else None
        started = time.perf_counter()
        for base_ in (base, None):
            plan = ck.plan(db, base_, target, path)
            if self.threads and path is not None:
                snap = self.registry.snapshot_path(name)
                computed = await asyncio.to_thread(_run_in_thread, plan, snap)
            else:
                computed = ck.run(plan, track.store.get)
            if not computed.replay.history_gaps:
                break
            # A merge needed history below the snapshot: an archive replays its whole log instead;
            # a light node cannot, and vouches for nothing (SnapshotError below).
            computed.replay.close()
            if base_ is None or db.log.floor:
                raise SnapshotError("the version needs history below the snapshot that this node pruned")
        track.last_cost = time.perf_counter() - started
        return plan, computed

    async def _save(self, name: str, track: Track, computed: ck.Computed, proposal: Proposal) -> None:
        """Keep the replay's state as the snapshot of ``proposal`` (in the worker: O(state))."""
        path = self.registry.snapshot_path(name)
        # An archive's snapshot carries the tables' rows too, so a restore copies them instead of
        # rebuilding them from their versions (much faster). A light node's keeps the versions alone:
        # its snapshot is a third of its disk, and the rows are in its versions already (docs).
        rows = self.role != "light"

        def save(store: SnapshotStore) -> None:
            ck.keep(store, computed, proposal, rows=rows)

        if self.threads and path is not None:
            await asyncio.to_thread(_with_store, path, save)
        else:
            save(track.store)

    async def _check_live(
        self, name: str, db: Database, track: Track, plan: ck.Plan, computed: ck.Computed
    ) -> None:
        """The live check (after the target's snapshot is saved: it moves the replay on to the live
        heads), in the worker; a mismatch is reported and repaired. Call it before appending."""
        if self.threads and plan.path is not None:
            await asyncio.to_thread(ck.check_live, plan, computed)
        else:
            ck.check_live(plan, computed)
        if computed.live_ok is False:
            if track.mismatch is None:  # a new difference (not the one a retry finds again)
                track.mismatches += 1
                for listener in self.on_mismatch:
                    listener(name, computed.live_detail)
            track.mismatch = track.last_mismatch = computed.live_detail
            log.error("database %s: %s; repairing it from the log", name, computed.live_detail)
            if tuple(db.log.heads) == tuple(plan.live_heads):
                self._repair(db, computed)
                track.repairs += 1
                track.mismatch = None
                track.live_due = False
            else:
                track.live_due = True  # the heads moved meanwhile: check (and repair) again soon
        elif computed.live_ok:
            track.mismatch = None
            track.live_due = False
        else:
            track.live_due = True  # inconclusive: the heads moved while it ran

    def _repair(self, db: Database, computed: ck.Computed) -> None:
        """Put the replayed state (at the live heads) in place of the live one; the log stays."""
        replay = computed.replay
        heads = replay.log.heads
        state = Proposal(
            heads[0], 0, None, b"", 0, 0, visible_rows(replay.conn, replay.catalog.schema),
            bytes.fromhex(replay.state_hash()), bytes.fromhex(replay.merge_state_hash()), 0, heads, True,
        )  # fmt: skip
        blocks: dict[CID, bytes] = {}
        root = dump(replay.conn, db.manifest.address, state, [], blocks.__setitem__, replay.catalog.schema)
        ck.restore(db, parse_root(root, blocks[root]), blocks.get, keep_log=True)

    async def _judge(
        self, name: str, db: Database, track: Track, base: SnapshotRoot | None, proposal: Proposal
    ) -> None:
        try:
            plan, computed = await self._compute(name, db, track, base, proposal.heads)
        except (SnapshotError, ValueError) as exc:
            log.warning("database %s: cannot recompute checkpoint %s: %s", name, proposal.cid, exc)
            return
        if self.registry.get(name) is not db:
            return
        agree = (computed.state, computed.merge, computed.entries, computed.rows) == (
            proposal.state,
            proposal.merge,
            proposal.entries,
            proposal.rows,
        )
        if agree:
            await self._save(name, track, computed, proposal)
            track.countersigned += 1
        else:
            detail = (
                f"checkpoint {proposal.cid} (seq {proposal.seq}) by {proposal.author.hex()[:16]} says"
                f" state {proposal.state.hex()[:16]}, {proposal.entries} entries, {proposal.rows} rows;"
                f" the log here gives {computed.state.hex()[:16]}, {computed.entries}, {computed.rows}"
            )
            track.disputed[proposal.cid] = detail
            log.error("database %s: %s", name, detail)
        await self._check_live(name, db, track, plan, computed)
        computed.replay.close()
        db.append_checkpoint(CountersignOp(proposal.cid, computed.state, computed.merge))

    async def _propose(
        self, name: str, db: Database, track: Track, base: SnapshotRoot | None, latest: Status | None
    ) -> None:
        target = tuple(db.log.heads)
        try:
            plan, computed = await self._compute(name, db, track, base, target)
        except (SnapshotError, ValueError) as exc:
            log.warning("database %s: cannot compute a checkpoint: %s", name, exc)
            return
        if self.registry.get(name) is not db or any(h not in db.log for h in target):
            return
        await self._check_live(name, db, track, plan, computed)  # the target is the live heads
        prev = latest.proposal if latest is not None else None
        op = CheckpointOp(
            (prev.seq + 1) if prev is not None else 1,
            prev.cid if prev is not None else None,
            computed.state,
            computed.merge,
            computed.entries,
            computed.rows,
            int(time.time() * 1000),
        )
        entry = db.append_checkpoint(op, covers=target)  # local writes may have followed target
        track.judged.add(entry.cid)
        track.proposed += 1
        log.debug("database %s: proposed checkpoint #%d %s", name, op.seq, entry.cid)
        status = db.checkpoints.chain().statuses[entry.cid]
        await self._save(name, track, computed, status.proposal)
        computed.replay.close()

    async def _settle(self, name: str, db: Database, track: Track, latest: Status) -> None:
        """A new latest checkpoint: have its snapshot, keep only it, prune below it (light)."""
        proposal = latest.proposal
        if track.store.root_of(proposal.cid) is None:
            base = None
            for status in reversed(db.checkpoints.chain().chain[:-1]):
                base = track.store.root_of(status.proposal.cid)
                if base is not None:
                    break
            if base is None and len(db.log.floor):
                return  # a light node without a usable snapshot: it bootstraps again (docs)
            try:
                plan, computed = await self._compute(name, db, track, base, proposal.heads)
            except (SnapshotError, ValueError) as exc:
                log.warning("database %s: cannot compute checkpoint %s: %s", name, proposal.cid, exc)
                return
            if (computed.state, computed.merge) != (proposal.state, proposal.merge):
                detail = f"final checkpoint {proposal.cid} differs from this node's replay of its log"
                track.disputed[proposal.cid] = detail
                log.error("database %s: %s", name, detail)
                computed.replay.close()
                return
            await self._save(name, track, computed, proposal)
            await self._check_live(name, db, track, plan, computed)
            computed.replay.close()
        track.latest = proposal.cid
        track.since = time.monotonic()
        log.info(
            "database %s: checkpoint #%d %s is final (%d signers, %d entries, %d rows)",
            name, proposal.seq, proposal.cid, len(latest.signers), proposal.entries, proposal.rows,
        )  # fmt: skip
        track.judged = {c for c in track.judged if c in db.checkpoints.chain().statuses}
        track.store.retain([proposal.cid])
        if self.role == "light":
            prev = latest.proposal.prev
            chain = db.checkpoints.chain()
            since = chain.statuses[prev].proposal.heads if prev is not None and prev in chain.statuses else ()
            track.pruned += db.prune_history(proposal.heads, since)
            give_back_free_pages(db.conn)

    # -- serving snapshots to peers --------------------------------------------------------------

    def offer(self, name: str) -> tuple[SnapshotRoot, list[bytes]] | None:
        """The snapshot of the latest final checkpoint of ``name`` and the entries proving it final."""
        db = self.registry.get(name)
        track = self.tracks.get(name)
        if db is None or track is None:
            return None
        # The latest final checkpoint's snapshot is saved a moment after it becomes final (seconds,
        # for a large state); meanwhile the previous one is still kept: offer that, with a longer
        # tail, rather than nothing (a light node would then replay the whole log).
        for status in reversed(db.checkpoints.chain().chain):
            root = track.store.root_of(status.proposal.cid)
            if root is not None:
                return root, db.checkpoints.proof(status.proposal.cid)
        return None

    def snapshot_block(self, name: str, cid: CID) -> bytes | None:
        track = self.tracks.get(name)
        return track.store.get(cid) if track is not None else None

    def adopt(self, name: str, root: SnapshotRoot) -> None:
        """A snapshot restored from a peer (light bootstrap) is this node's base for the next round."""
        track = self.track(name, self.registry.get(name))
        track.latest = root.checkpoint
        track.since = time.monotonic()

    # -- reporting ------------------------------------------------------------------------------

    def status(self, name: str) -> dict[str, Any]:
        db = self.registry.get(name)
        track = self.tracks.get(name)
        out: dict[str, Any] = {
            "role": self.role,
            "interval": self.interval,
            "rounds": self.rounds,
            "last_error": self.last_error,
        }
        if db is None:
            return out
        chain = db.checkpoints.chain()
        latest = chain.latest
        out["final"] = None if latest is None else describe(latest)
        out["candidates"] = [describe(s) for s in chain.candidates() if not s.chosen]
        out["floor"] = len(db.log.floor)
        out["history_gaps"] = list(db.history_gaps)
        root = None
        if track is not None and latest is not None:
            root = track.store.root_of(latest.proposal.cid)
        out.update(
            tracking=track is not None,  # false until this node's first round for the database
            mismatch=track.mismatch if track else None,
            last_mismatch=track.last_mismatch if track else None,
            mismatches=track.mismatches if track else 0,
            repairs=track.repairs if track else 0,
            disputed={str(c): d for c, d in track.disputed.items()} if track else {},
            proposed=track.proposed if track else 0,
            countersigned=track.countersigned if track else 0,
            pruned_blocks=track.pruned if track else 0,
            snapshot=None if root is None else str(root.cid),
            snapshot_bytes=track.store.size() if track else 0,
            last_replay_seconds=round(track.last_cost, 4) if track else 0.0,
        )
        return out


def describe(status: Status) -> dict[str, Any]:
    p = status.proposal
    return {
        "cid": str(p.cid),
        "seq": p.seq,
        "prev": None if p.prev is None else str(p.prev),
        "author": p.author.hex(),
        "heads": [str(h) for h in p.heads],
        "entries": p.entries,
        "rows": p.rows,
        "state": p.state.hex(),
        "merge": p.merge.hex(),
        "at": p.at,
        "signers": sorted(s.hex() for s in status.signers),
        "dissent": sorted(s.hex() for s in status.dissent),
        "final": status.final,
        "chosen": status.chosen,
    }


def _with_store(path: Any, fn: Callable[[SnapshotStore], None]) -> None:
    store = SnapshotStore(path)
    try:
        fn(store)
    finally:
        store.close()


def _run_in_thread(plan: ck.Plan, snapshots: Any) -> ck.Computed:
    store = SnapshotStore(snapshots)
    try:
        return ck.run(plan, store.get)
    finally:
        store.close()


def _covers(db: Database, heads: tuple[CID, ...], below: tuple[CID, ...]) -> bool:
    """Whether every entry of ``below`` is one of ``heads`` or in their causal past."""
    return all(b in heads or any(db.log.is_ancestor(b, h) for h in heads) for b in below)
