"""Offline views of a data directory for ``p2pdb status``, ``log`` and ``verify``.

They read the SQLite files read-only, so they work whether or not the node is running.
"""

from __future__ import annotations

import os
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
        databases.append({"name": name_from_file(path), "heads": heads, "entries": entries})
    return {
        "peer_id": identity.peer_id,
        "running": running,
        "pid": node.get("pid") if running and node else None,
        "addresses": node.get("addresses") if running and node else {},
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


def verify_database(data_dir: Path, database: str) -> tuple[int, list[str]]:
    """Check every stored block on its own (the log is not loaded: a damaged block must be reported,
    not stop the check); return how many were checked and one line per bad block."""
    store, manifest = _block_store(data_dir, database)
    errors: list[str] = []
    checked = 0
    for cid in store.cids():
        checked += 1
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


def replay_database(data_dir: Path, database: str) -> tuple[str, str]:
    """Rebuild a database from its log alone and compare: ``(stored state hash, replayed state
    hash)``. Equal hashes show that the rows on disk are exactly what the signed history says."""
    from p2pdb.config import Config
    from p2pdb.store import Database, MemoryEngine

    path = data_dir / "db" / file_name(database)
    if not path.exists():
        raise FileNotFoundError(f"no database {database!r} in {data_dir}")
    manifest = Manifest(database, network_id=Config.load(data_dir, {}).network_id)
    snapshot = MemoryEngine()
    source = _readonly(path)
    try:
        with snapshot.writer().backup("main", source, "main") as backup:
            backup.step()
    finally:
        source.close()
    identity = Identity.load(data_dir / "identity.key")
    stored = Database(identity, manifest, snapshot)
    # The node's own key: it only joins here, and it opens what an encrypted database sealed for it.
    replayed = Database(identity, manifest, MemoryEngine())
    replayed.join(e.block for e in stored.log.traverse())
    # Rows and the merge state behind them (per-row versions, conflicts, settlement, rejections): an
    # edited merge state would otherwise pass and silently decide later merges of that row.
    return (
        f"{stored.state_hash()}:{stored.merge_state_hash()}",
        f"{replayed.state_hash()}:{replayed.merge_state_hash()}",
    )
