"""All databases of one node: one SQLite file each under ``<data-dir>/db/``, or in memory.

A database is named as in MySQL and addressed by network id and name (DESIGN §3b), so two peers
that create ``shop`` share one database. File names are the database name when it is a plain
identifier, else a hex encoding of it, so any MySQL name maps to exactly one file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from p2pdb.log import ANYONE, DEFAULT_NETWORK_ID, Identity, Manifest
from p2pdb.log.identity import public_key_from_peer_id
from p2pdb.store.collation import connect
from p2pdb.store.database import Database
from p2pdb.store.engine import FileEngine, MemoryEngine

log = logging.getLogger(__name__)
_PLAIN = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")
MAX_NAME = 64


def file_name(name: str) -> str:
    return (
        f"{name}.sqlite"
        if _PLAIN.match(name) and not name.startswith("x-")
        else f"x-{name.encode().hex()}.sqlite"
    )


def name_from_file(path: Path) -> str:
    stem = path.name.removesuffix(".sqlite")
    return bytes.fromhex(stem[2:]).decode() if stem.startswith("x-") else stem


def stored(db_dir: Path) -> list[tuple[str, Path]]:
    """The databases kept under ``db_dir``: each one's name and file."""
    return [(name_from_file(path), path) for path in sorted(db_dir.glob("*.sqlite"))]


def manifest_for(name: str, network_id: str, access: dict[str, Any] | None) -> Manifest:
    """The manifest of a database from the ``access`` configuration (peer ids, or ``"*"``)."""
    if not access:
        return Manifest(name, network_id=network_id)
    owners = tuple(public_key_from_peer_id(p) for p in access.get("owners", []))
    writers_spec = access.get("writers", ANYONE if not owners else [])
    writers: tuple[bytes, ...] | str = (
        ANYONE if writers_spec == ANYONE else tuple(public_key_from_peer_id(p) for p in writers_spec)
    )
    return Manifest(name, network_id=network_id, owners=owners, writers=writers)


class Registry:
    """Opens, creates and lists a node's databases."""

    def __init__(
        self,
        identity: Identity,
        data_dir: Path | None,
        *,
        network_id: str = DEFAULT_NETWORK_ID,
        durability: str = "normal",
        access: dict[str, dict[str, Any]] | None = None,
        new_database_access: str = "owned",
        checkpoint_quorum: int = 2,
    ) -> None:
        self.identity = identity
        self.checkpoint_quorum = checkpoint_quorum
        #: The access rules of a database created here (Database.genesis)
        self.new_database_access = new_database_access
        self.dir = data_dir / "db" if data_dir is not None else None
        self.network_id = network_id
        self.durability = durability
        self.access = access or {}
        self._open: dict[str, Database] = {}
        self.listeners: list[Callable[[str], None]] = []
        #: Called with a database's name after drop() removed it.
        self.dropped: list[Callable[[str], None]] = []
        #: Databases found damaged at start (name -> what was wrong and what was done).
        self.damaged: dict[str, str] = {}
        self._left: set[str] = set()
        self._left_path = data_dir / "left.json" if data_dir is not None else None
        if self._left_path is not None and self._left_path.exists():
            self._left = set(json.loads(self._left_path.read_text()))
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            for name, path in stored(self.dir):
                try:
                    self._open_db(name)
                except Exception as exc:  # one damaged database never keeps the others from starting
                    self._repair(name, path, exc)

    def names(self) -> list[str]:
        return sorted(self._open)

    def get(self, name: str) -> Database | None:
        return self._open.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._open

    def _open_db(self, name: str) -> Database:
        engine = (
            FileEngine(self.dir / file_name(name), durability=self.durability)
            if self.dir is not None
            else MemoryEngine()
        )
        manifest = manifest_for(name, self.network_id, self.access.get(name))
        db = Database(self.identity, manifest, engine, checkpoint_quorum=self.checkpoint_quorum)
        self._open[name] = db
        return db

    def replace(self, name: str, source: Path) -> Database:
        """Put the database file ``source`` (a restored snapshot) in place of database ``name``."""
        assert self.dir is not None
        old = self._open.pop(name, None)
        if old is not None:
            old.close()
        target = self.dir / file_name(name)
        for suffix in ("-wal", "-shm"):
            stale = target.with_name(target.name + suffix)
            if stale.exists():
                stale.unlink()
        os.replace(source, target)
        db = self._open_db(name)
        for listener in self.listeners:
            listener(name)
        return db

    def snapshot_path(self, name: str) -> Path | None:
        """Where the snapshots of database ``name`` are kept (None: in memory)."""
        return self.dir / (file_name(name).removesuffix(".sqlite") + ".snapshots") if self.dir else None

    def left(self, name: str) -> bool:
        """True if this node left database ``name`` (DROP DATABASE): peers offering it are ignored
        until a local CREATE DATABASE joins it again."""
        return name in self._left

    def _save_left(self) -> None:
        if self._left_path is not None:
            tmp = self._left_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(sorted(self._left)))
            os.replace(tmp, self._left_path)

    def _repair(self, name: str, path: Path, error: Exception) -> None:
        """Set a database that cannot be opened aside (``<file>.damaged-<time>``), start it afresh
        and rejoin every block of the damaged file that still verifies: rows are rebuilt from the
        log, and ancestors that are lost are fetched from peers like any missing entry."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                os.replace(part, moved.with_name(moved.name + suffix))
        salvaged = 0
        blocks: list[bytes] = []
        try:
            source = connect(str(moved), apsw.SQLITE_OPEN_READONLY)
            try:
                blocks = [bytes(data) for (data,) in source.execute("SELECT data FROM _p2pdb_blocks")]
            finally:
                source.close()
        except Exception as exc:  # the file may be beyond reading
            log.warning("cannot read blocks of damaged database %s: %s", name, exc)
        db = self._open_db(name)
        if blocks:
            result = db.join(blocks)
            salvaged = len(result.applied)
        report = (
            f"{type(error).__name__}: {error}; moved to {moved.name}, {salvaged} of {len(blocks)} blocks"
            f" rejoined, {len(db.log.missing())} missing (fetched from peers)"
        )
        self.damaged[name] = report
        log.error("database %s was damaged: %s", name, report)

    def create(self, name: str) -> Database:
        """Create (or return the existing) database ``name``; creating a database this node left
        joins it again."""
        if not name or len(name) > MAX_NAME or name.strip() != name:
            raise ValueError(f"invalid database name {name!r}")
        existing = self._open.get(name)
        if existing is not None:
            return existing
        if name in self._left:
            self._left.discard(name)
            self._save_left()
        db = self._open_db(name)
        for listener in self.listeners:
            listener(name)
        return db

    def drop(self, name: str, *, leave: bool = True) -> None:
        """Remove this node's replica of ``name``; peers keep theirs. With ``leave`` (DROP DATABASE)
        the node also stops replicating it, for good, until a local CREATE DATABASE of that name."""
        db = self._open.pop(name)
        db.close()
        if leave:
            self._left.add(name)
            self._save_left()
        if self.dir is not None:
            snapshots = self.snapshot_path(name)
            for base in (self.dir / file_name(name), snapshots):
                assert base is not None
                for suffix in ("", "-wal", "-shm"):
                    path = base.with_name(base.name + suffix)
                    if path.exists():
                        path.unlink()
        for listener in self.dropped:
            listener(name)

    def close(self) -> None:
        for db in self._open.values():
            db.close()
        self._open.clear()

    def remove_all(self) -> None:
        """Delete every database file (tests)."""
        self.close()
        if self.dir is not None and self.dir.exists():
            shutil.rmtree(self.dir)
