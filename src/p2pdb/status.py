"""Offline views of a data directory for ``p2pdb status``, ``log`` and ``verify``.

They read the SQLite files read-only, so they work whether or not the node is running.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from p2pdb.log import CID, EntryError, Identity, Log, Manifest, SQLiteBlockStore, decode_entry
from p2pdb.node import read_node_file
from p2pdb.store.collation import connect
from p2pdb.store.registry import file_name, name_from_file


def _readonly(path: Path) -> apsw.Connection:
    return connect(str(path), apsw.SQLITE_OPEN_READONLY)


def collect(data_dir: Path) -> dict[str, Any]:
    key = data_dir / "identity.key"
    if not key.exists():
        raise FileNotFoundError(f"no node in {data_dir} (run p2pdb start or p2pdb init first)")
    identity = Identity.load(key)
    node = read_node_file(data_dir)
    running = node is not None and _alive(int(node.get("pid", 0)))
    live = {d.get("name"): d for d in (node or {}).get("databases", [])} if running else {}
    databases = []
    for path in sorted((data_dir / "db").glob("*.sqlite")):
        conn = _readonly(path)
        try:
            heads = [
                str(CID(bytes(c))) for (c,) in conn.execute("SELECT cid FROM _p2pdb_heads ORDER BY position")
            ]
            entries = next(iter(conn.execute("SELECT count(*) FROM _p2pdb_blocks")))[0]
        except apsw.Error:
            heads, entries = [], 0
        finally:
            conn.close()
        name = name_from_file(path)
        item: dict[str, Any] = {"name": name, "heads": heads, "entries": entries}
        for field in ("checkpoints", "bootstrap", "missing_rules"):
            if live.get(name, {}).get(field) is not None:
                item[field] = live[name][field]
        databases.append(item)
    seen = {d["name"] for d in databases}
    for name, state in sorted(live.items()):  # in memory only (storage = memory): what the node says
        if name is not None and name not in seen:
            item = {"name": name, "heads": state.get("heads", []), "entries": state.get("entries", 0)}
            for field in ("checkpoints", "bootstrap", "missing_rules"):
                if state.get(field) is not None:
                    item[field] = state[field]
            databases.append(item)
    return {
        "peer_id": identity.peer_id,
        "running": running,
        "pid": node.get("pid") if running and node else None,
        "addresses": node.get("addresses") if running and node else {},
        "storage": node.get("storage", "file") if running and node else "file",
        "databases": databases,
    }


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _block_store(data_dir: Path, database: str) -> tuple[SQLiteBlockStore, Manifest]:
    path = data_dir / "db" / file_name(database)
    if not path.exists():
        raise FileNotFoundError(f"no database {database!r} in {data_dir}")
    from p2pdb.config import Config

    store = SQLiteBlockStore(_readonly(path), autocommit=False)
    return store, Manifest(database, network_id=Config.load(data_dir, {}).network_id)


def open_log(data_dir: Path, database: str) -> Log:
    store, manifest = _block_store(data_dir, database)
    identity = Identity.load(data_dir / "identity.key")
    return Log(identity, manifest, store)


def block_count(data_dir: Path, database: str) -> int:
    """How many blocks the database's store holds (what :func:`verify_database` checks)."""
    store, _ = _block_store(data_dir, database)
    return len(store)


def verify_database(
    data_dir: Path, database: str, progress: Callable[[int], None] | None = None
) -> tuple[int, list[str]]:
    """Check every stored block on its own (the log is not loaded: a damaged block must be reported,
    not stop the check); return how many were checked and one line per bad block. ``progress`` is
    called with 1 for each block checked."""
    store, manifest = _block_store(data_dir, database)
    errors: list[str] = []
    checked = 0
    for cid in store.cids():
        checked += 1
        if progress is not None:
            progress(1)
        try:
            data = store.get(cid)
            entry = decode_entry(data or b"", cid)
            if entry.db != manifest.address:
                errors.append(f"{cid}: belongs to {entry.db}")
        except EntryError as exc:
            errors.append(f"{cid}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # whatever else a damaged block does to a decoder is reported too
            errors.append(f"{cid}: {type(exc).__name__}: {exc}")
    return checked, errors


def load_database(data_dir: Path, database: str) -> Any:
    """An in-memory copy of a database (read-only on the file; works while the node runs)."""
    from p2pdb.config import Config
    from p2pdb.store import Database, MemoryEngine

    path = data_dir / "db" / file_name(database)
    if not path.exists():
        raise FileNotFoundError(f"no database {database!r} in {data_dir}")
    config = Config.load(data_dir, {})
    manifest = Manifest(database, network_id=config.network_id)
    copy = MemoryEngine()
    source = _readonly(path)
    try:
        with copy.writer().backup("main", source, "main") as backup:
            backup.step()
    finally:
        source.close()
    identity = Identity.load(data_dir / "identity.key")
    # Finality follows a node's quorum: the running node's (started with --checkpoint-quorum, say),
    # else the configuration's.
    node = read_node_file(data_dir)
    quorum = node.get("checkpoint_quorum") if node is not None and _alive(int(node.get("pid", 0))) else None
    if not isinstance(quorum, int) or quorum < 1:
        quorum = config.checkpoint_quorum
    return Database(identity, manifest, copy, checkpoint_quorum=quorum)


def snapshot_path(data_dir: Path, database: str) -> Path:
    """Where a node keeps the snapshots of a database (the file may not exist)."""
    return data_dir / "db" / (file_name(database).removesuffix(".sqlite") + ".snapshots")


def snapshot_store(data_dir: Path, database: str) -> Any:
    """The snapshots kept for a database (an empty store if there are none)."""
    from p2pdb.store.snapshot import SnapshotStore

    path = snapshot_path(data_dir, database)
    return SnapshotStore(path if path.exists() else None)


def verify_checkpoints(data_dir: Path, database: str) -> tuple[list[str], list[str]]:
    """Check the checkpoint chain: every checkpoint and countersignature block (CID, signature,
    database), the chain they make, and the database's state at the latest checkpoint (recomputed
    from the log, or from the kept snapshot on a light node). Returns (report lines, errors)."""
    from p2pdb.store import Database, MemoryEngine
    from p2pdb.store import checkpointing as ck
    from p2pdb.store.snapshot import SnapshotError

    db = load_database(data_dir, database)
    lines: list[str] = []
    errors: list[str] = []
    for cid, block in db.checkpoints.blocks():
        try:
            entry = decode_entry(block, cid)
            if entry.db != db.manifest.address:
                errors.append(f"checkpoint block {cid} belongs to {entry.db}")
        except EntryError as exc:
            errors.append(f"checkpoint block {cid}: {type(exc).__name__}: {exc}")
    chain = db.checkpoints.chain()
    for status in chain.chain:
        p = status.proposal
        if p.prev is not None and p.prev not in chain.statuses:
            errors.append(f"checkpoint {p.cid} names an unknown previous checkpoint")
    latest = chain.latest
    if latest is None:
        lines.append("no final checkpoint yet")
        return lines, errors
    p = latest.proposal
    lines.append(
        f"checkpoint chain: {len(chain.chain)} final, latest seq {p.seq} ({p.cid}),"
        f" {len(latest.signers)} signers, {p.entries} entries, {p.rows} rows"
    )
    store = snapshot_store(data_dir, database)
    try:
        if len(db.log.floor) or any(h not in db.log for h in p.heads):
            # A light node: the newest final checkpoint whose snapshot it keeps (a running node saves
            # the latest one's a little after it became final).
            kept = next(
                (
                    (s.proposal, root)
                    for s in reversed(chain.chain)
                    if (root := store.root_of(s.proposal.cid))
                ),
                None,
            )
            if kept is None:
                errors.append("this light node keeps no snapshot of a final checkpoint")
                return lines, errors
            p, base = kept
            try:
                ck.restore(Database(db.identity, db.manifest, MemoryEngine()), base, store.get)
            except SnapshotError as exc:
                errors.append(f"the kept snapshot does not match checkpoint {p.cid}: {exc}")
                return lines, errors
            lines.append(f"snapshot {base.cid} matches checkpoint seq {p.seq}")
        else:
            computed = ck.run(ck.plan(db, None, p.heads, None), None)
            if (computed.state, computed.merge) != (p.state, p.merge):
                errors.append(f"the log's state at checkpoint {p.cid} differs from the checkpoint's hashes")
            else:
                lines.append(f"state at checkpoint seq {p.seq} matches a replay of the log")
            computed.replay.close()
    finally:
        store.close()
    return lines, errors


_BATCH = 2000


def replay_database(
    data_dir: Path, database: str, progress: Callable[[int, int], None] | None = None
) -> tuple[str, str]:
    """Rebuild a database from its log alone and compare: ``(stored state hash, replayed state
    hash)``. ``progress(done, total)`` is called as batches of entries are replayed. Equal hashes show that the rows on disk are exactly what the signed history says. A
    light node's log starts at a checkpoint: its replay starts from the snapshot it keeps there
    (checked against the checkpoint's hashes as it is restored)."""
    from p2pdb.store import Database, MemoryEngine
    from p2pdb.store import checkpointing as ck

    stored = load_database(data_dir, database)
    # The node's own key: it only joins here, and it opens what an encrypted database sealed for it.
    replayed = Database(stored.identity, stored.manifest, MemoryEngine())
    below: list[CID] = []
    if len(stored.log.floor):
        from p2pdb.store.time_travel import base_for

        # The newest kept snapshot below the log's heads (not necessarily the latest checkpoint's:
        # a running node saves that one a little after it became final).
        base = base_for(stored, stored.log.heads, snapshot_path(data_dir, database))
        if base is None:
            raise FileNotFoundError("this light node keeps no snapshot to replay its log from")
        store = snapshot_store(data_dir, database)
        try:
            ck.restore(replayed, base, store.get)
            below = list(base.heads)
        finally:
            store.close()
    planned = stored.log.since_cids(below)
    if progress is not None:
        progress(0, len(planned))
    for i in range(0, len(planned), _BATCH):  # in batches: memory stays flat, progress moves
        part = planned[i : i + _BATCH]
        replayed.join(stored.log.store.get(c) or b"" for c in part)
        if progress is not None:
            progress(len(part), len(planned))
    # Rows and the merge state behind them (per-row versions, conflicts, settlement, rejections): an
    # edited merge state would otherwise pass and silently decide later merges of that row.
    return (
        f"{stored.state_hash()}:{stored.merge_state_hash()}",
        f"{replayed.state_hash()}:{replayed.merge_state_hash()}",
    )
