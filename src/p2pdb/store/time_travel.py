"""A database as it was: the version at a point of its history, rebuilt from the log.

A *point* is either a wall-clock time or an entry of the log:

- at a time ``T`` (ms since the epoch): every entry its author wrote at or before ``T`` (the
  entry's signed ``wall``), with its whole causal past (an entry's ancestors are part of what its
  author saw, whatever their clocks say). Entries from before entries carried a wall time count
  only as ancestors.
- at an entry ``C`` (a checkpoint proposal is an entry too): ``C`` and its causal past.

The version is computed by replaying those entries into an in-memory database, exactly as a new
replica would apply them (the merge is deterministic), so it holds the rows, the schema and the
merge state a node that had received just those entries would show. A light node has forgotten the
entries below its checkpoint: a point it cannot replay raises :class:`HistoryUnreachable`.

Cost: finding the entries of a time reads every entry of the log once; the replay applies every
entry of the version. :class:`Versions` keeps the last few versions, by their heads (a version at
given heads never changes), so repeated queries at one point replay once.
"""

from __future__ import annotations

import collections
import datetime
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import apsw

from p2pdb.log import CID, Identity, Manifest
from p2pdb.log.blockstore import FloorNode
from p2pdb.log.entry import decode_entry
from p2pdb.store.checkpointing import restore
from p2pdb.store.collation import connect
from p2pdb.store.database import Database
from p2pdb.store.engine import FileEngine, MemoryEngine
from p2pdb.store.errors import StoreError
from p2pdb.store.snapshot import SnapshotError, SnapshotRoot, SnapshotStore

_BATCH = 2000


class HistoryUnreachable(StoreError):
    """The point is not in this node's log (unknown, or pruned on a light node)."""


_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")


def parse_point(text: str, zone: datetime.tzinfo = datetime.UTC) -> int | CID:
    """A point written as text: an entry CID (``bafy…``), or a time (``2026-12-06 10:00:00[.fff]``,
    read in ``zone``) as ms since the epoch. Raises ValueError for anything else."""
    text = text.strip()
    if text[:1].isalpha() and len(text) > 32:  # a CIDv1 in base32 has 59 characters
        try:
            return CID.parse(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an entry CID: {exc}") from exc
    for form in _FORMATS:
        try:
            moment = datetime.datetime.strptime(text, form)
        except ValueError:
            continue
        return int(moment.replace(tzinfo=zone).timestamp() * 1000)
    raise ValueError(f"{text!r} is neither a time (YYYY-MM-DD hh:mm:ss) nor an entry CID")


def heads_of(db: Database, at: int | CID, written: Sequence[CID] | None = None) -> tuple[CID, ...]:
    """The heads of the version at a point (see :func:`heads_at_time`, :func:`heads_at_entry`)."""
    return heads_at_entry(db, at) if isinstance(at, CID) else heads_at_time(db, at, written)


def version_of(db: Database, at: int | CID, snapshots: Path | None = None) -> Database:
    """The version of ``db`` at a point, built here (tools; the server builds in a worker thread).
    ``snapshots``: where a light node keeps its snapshots (its replay starts from one)."""
    heads = heads_of(db, at)
    base = base_for(db, heads, snapshots) if db.log.floor else None
    return build(plan(db, heads, base, str(snapshots) if snapshots is not None else None))


def written_by(path: str, wall_ms: int) -> list[CID]:
    """The entries stored in the database file ``path`` whose author wrote them at or before
    ``wall_ms`` (any thread: its own read connection; each block read once)."""
    conn = connect(path, apsw.SQLITE_OPEN_READONLY)
    try:
        out = []
        for cid, data in conn.execute("SELECT cid, data FROM _p2pdb_blocks"):
            entry = decode_entry(bytes(data), CID(bytes(cid)), checked=True)
            if 0 < entry.wall <= wall_ms:
                out.append(entry.cid)
        return out
    finally:
        conn.close()


def heads_at_time(db: Database, wall_ms: int, written: Sequence[CID] | None = None) -> tuple[CID, ...]:
    """The heads of the version at wall time ``wall_ms`` (empty: nothing was written by then).
    ``written``: the entries written by then, from :func:`written_by` (else read here)."""
    if written is None:
        written = [e.cid for e in db.log.traverse() if 0 < e.wall <= wall_ms]
    floor = db.log.floor
    return _maximal(db, [c for c in written if c in db.log and c not in floor])


def heads_at_entry(db: Database, cid: CID) -> tuple[CID, ...]:
    """The heads of the version at entry ``cid``: the entry itself."""
    if cid in db.log.floor:
        raise HistoryUnreachable(
            f"entry {cid} is below the checkpoint this light node keeps (its history was pruned);"
            " read it on an archive node"
        )
    if cid not in db.log:
        hint = " (a light node forgets the entries below its checkpoint: try an archive node)"
        raise HistoryUnreachable(f"entry {cid} is not in this node's log{hint if db.log.floor else ''}")
    return (cid,)


def _maximal(db: Database, cids: Sequence[CID]) -> tuple[CID, ...]:
    """The entries of ``cids`` that are not ancestors of another one of them."""
    inner: set[CID] = set()
    for cid in cids:
        inner.update(db.log.parents_of(cid))
    past = db.log.past(inner)
    return tuple(sorted(c for c in set(cids) if c not in past))


@dataclass(slots=True)
class Plan:
    """What building a version needs, gathered on the database's owner (its event loop): the
    entries in causal order, and where their blocks are read (the file, or blocks read already)."""

    identity: Identity
    manifest: Manifest
    quorum: int
    heads: tuple[CID, ...]
    cids: list[CID]
    path: str | None
    blocks: dict[CID, bytes] | None = None
    #: A light node's snapshot the replay starts from (its file: ``snapshots``, or an open store
    #: read in the calling thread), or None.
    base: SnapshotRoot | None = None
    snapshots: str | SnapshotStore | None = None
    #: Parents of the planned entries that lie below the snapshot without being in its floor: the
    #: replay knows them by id (their effects are in the snapshot's state).
    boundary: list[FloorNode] | None = None


def plan(
    db: Database,
    heads: Sequence[CID],
    base: SnapshotRoot | None = None,
    snapshots: str | SnapshotStore | None = None,
) -> Plan:
    """Gather the entries of the version at ``heads`` (call where ``db`` is used: it reads its log).
    A light node's version starts from ``base``, a snapshot it keeps (in the file ``snapshots``)
    whose heads lie in the point's past. Raises :class:`HistoryUnreachable` when the version needs
    entries a light node pruned."""
    heads = tuple(sorted(heads))
    below: list[CID] = []
    if db.log.floor and heads and db.log.past(heads) & db.log.floor:
        if base is None or snapshots is None:
            raise HistoryUnreachable(
                "this point is below the checkpoint this light node keeps (its history was pruned);"
                " read it on an archive node"
            )
        below = list(base.heads)
    else:
        base = None
    cids = db.log.since_cids(below, below=heads) if heads else []
    boundary = db.log.parents_outside(cids) if base is not None else None
    path = db.engine.location if isinstance(db.engine, FileEngine) else None
    blocks = None
    if path is None:  # in memory: read now, on the owner's thread
        blocks = {c: data for c in cids if (data := db.log.store.get(c)) is not None}
    return Plan(
        db.identity, db.manifest, db.checkpoints.quorum, heads, cids, path, blocks, base, snapshots, boundary
    )


def base_for(
    db: Database, heads: Sequence[CID], snapshots: Path | SnapshotStore | None
) -> SnapshotRoot | None:
    """The newest snapshot a light node keeps (in ``snapshots``) of a final checkpoint whose heads
    lie in the past of ``heads`` (None: none). Only chain checkpoints count: a light node prunes
    below its latest one, so nothing between that snapshot and a later point was pruned (other
    snapshots it keeps, of proposals not final, give no such promise). The entries a light node
    learned later by id below it (boundary entries) are the replay's boundary (:func:`plan`)."""
    if snapshots is None or not heads or (isinstance(snapshots, Path) and not snapshots.exists()):
        return None
    past = db.log.past(heads)
    store = snapshots if isinstance(snapshots, SnapshotStore) else SnapshotStore(snapshots)
    try:
        for status in reversed(db.checkpoints.chain().chain):
            root = store.root_of(status.proposal.cid)
            if root is not None and all(h in past for h in root.heads):
                return root
    finally:
        if store is not snapshots:
            store.close()
    return None


def build(plan: Plan) -> Database:
    """A new in-memory database holding the planned version (runs in any thread: it reads the
    file through its own connection). Blocks are the node's own, verified when they were stored."""
    version = Database(plan.identity, plan.manifest, MemoryEngine(), checkpoint_quorum=plan.quorum)
    conn = None
    try:
        if plan.base is not None and plan.snapshots is not None:
            given = plan.snapshots
            store = given if isinstance(given, SnapshotStore) else SnapshotStore(Path(given))
            try:
                restore(version, plan.base, store.get)
            except SnapshotError as exc:
                raise HistoryUnreachable(f"the snapshot this light node keeps cannot be read: {exc}") from exc
            finally:
                if store is not given:
                    store.close()
        if plan.boundary:
            version.add_floor(plan.boundary)
        version.log.trust_clocks = False  # the planned entries are above the snapshot, all of them
        if plan.path is not None:
            conn = connect(plan.path, apsw.SQLITE_OPEN_READONLY)
        for i in range(0, len(plan.cids), _BATCH):
            part = plan.cids[i : i + _BATCH]
            batch = []
            for cid in part:
                data = _read(conn, cid) if conn is not None else (plan.blocks or {}).get(cid)
                if data is None:
                    raise HistoryUnreachable(f"entry {cid} has no block here (pruned)")
                batch.append((cid, data))
            version.join(batch, checked=set(part))
        if set(version.log.heads) != set(plan.heads):
            raise HistoryUnreachable("the replay did not reach the point (entries missing)")
    except BaseException:
        version.close()
        raise
    finally:
        if conn is not None:
            conn.close()
    return version


def _read(conn: apsw.Connection, cid: CID) -> bytes | None:
    for (data,) in conn.execute("SELECT data FROM _p2pdb_blocks WHERE cid = ?", (bytes(cid),)):
        return bytes(data)
    return None


class Versions:
    """The last few versions replayed, by database and heads. An evicted one is closed when the last
    query reading it lets it go (it is an in-memory database)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[tuple[str, tuple[CID, ...]], Database] = (
            collections.OrderedDict()
        )

    def cached(self, db: Database, heads: Sequence[CID]) -> Database | None:
        key = (db.manifest.address, tuple(sorted(heads)))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def add(self, plan: Plan, version: Database) -> Database:
        """Keep ``version`` (or the one another query built meanwhile, which is returned instead).
        An evicted version is not closed here: a query may still read it (it closes when dropped)."""
        key = (plan.manifest.address, plan.heads)
        with self._lock:
            kept = self._cache.setdefault(key, version)
            self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return kept
