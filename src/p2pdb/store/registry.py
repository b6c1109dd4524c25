"""All databases of one node: one SQLite file each under ``<data-dir>/db/``, or in memory.

A database is named as in MySQL and addressed by network id and name (DESIGN §3b), so two peers
that create ``shop`` share one database. File names are the database name when it is a plain
identifier, else a hex encoding of it, so any MySQL name maps to exactly one file.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from p2pdb.log import ANYONE, DEFAULT_NETWORK_ID, Identity, Manifest
from p2pdb.log.identity import public_key_from_peer_id
from p2pdb.store.database import Database
from p2pdb.store.engine import FileEngine, MemoryEngine

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
    ) -> None:
        self.identity = identity
        self.dir = data_dir / "db" if data_dir is not None else None
        self.network_id = network_id
        self.durability = durability
        self.access = access or {}
        self._open: dict[str, Database] = {}
        self.listeners: list[Callable[[str], None]] = []
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.dir.glob("*.sqlite")):
                self._open_db(name_from_file(path))

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
        db = Database(self.identity, manifest, engine)
        self._open[name] = db
        return db

    def create(self, name: str) -> Database:
        """Create (or return the existing) database ``name``."""
        if not name or len(name) > MAX_NAME or name.strip() != name:
            raise ValueError(f"invalid database name {name!r}")
        existing = self._open.get(name)
        if existing is not None:
            return existing
        db = self._open_db(name)
        for listener in self.listeners:
            listener(name)
        return db

    def drop(self, name: str) -> None:
        """Remove this node's replica of ``name`` (peers keep theirs)."""
        db = self._open.pop(name)
        db.close()
        if self.dir is not None:
            base = self.dir / file_name(name)
            for suffix in ("", "-wal", "-shm"):
                path = base.with_name(base.name + suffix)
                if path.exists():
                    path.unlink()

    def close(self) -> None:
        for db in self._open.values():
            db.close()
        self._open.clear()

    def remove_all(self) -> None:
        """Delete every database file (tests)."""
        self.close()
        if self.dir is not None and self.dir.exists():
            shutil.rmtree(self.dir)
