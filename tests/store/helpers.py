"""Helpers for the ``p2pdb.store`` tests.

Identities are deterministic (fixed seeds) so failures reproduce. ``Forger`` signs entries with a
real identity over the same manifest but writes their ops by hand, bypassing capture: it is how
tests make a peer send ops that no honest store would produce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import apsw

from p2pdb.crdt import RowChange
from p2pdb.log import Entry, Identity, Log, Manifest, MemoryBlockStore
from p2pdb.log.log import Block
from p2pdb.store import ApplyResult, Database, DDLOp, decode_ops

MANIFEST = Manifest("shop")


def seeded_identity(n: int) -> Identity:
    """A deterministic identity; ``n`` picks the seed."""
    return Identity.from_seed(bytes([n]) * 32)


def execute(sql: str, params: Sequence[Any] = ()) -> Callable[[apsw.Connection], None]:
    """A ``Database.write`` callback running one statement."""

    def fn(conn: apsw.Connection) -> None:
        conn.execute(sql, tuple(params))

    return fn


def blocks_of(db: Database) -> list[bytes]:
    """Every integrated entry's block, in the log's total order."""
    return [entry.block for entry in db.log.traverse()]


def sync(dst: Database, src: Database) -> ApplyResult:
    """Give ``dst`` everything ``src`` has."""
    return dst.join(blocks_of(src))


def exchange(*dbs: Database) -> None:
    """Full exchange: afterwards every database holds every entry."""
    everything = [block for db in dbs for block in blocks_of(db)]
    for db in dbs:
        result = db.join(everything)
        assert not result.missing, "a full exchange left entries without their ancestors"


def row_ops(entry: Entry) -> list[RowChange]:
    return [op for op in decode_ops(entry.ops) if isinstance(op, RowChange)]


def ddl_ops(entry: Entry) -> list[DDLOp]:
    return [op for op in decode_ops(entry.ops) if isinstance(op, DDLOp)]


def internal_counts(db: Database) -> dict[str, int]:
    """Row counts of the bookkeeping tables, to prove a failed write left no trace."""
    names = [
        n
        for (n,) in db.query("SELECT name FROM sqlite_schema WHERE type = 'table'")
        if n.startswith("_p2pdb_")
    ]
    return {name: db.query(f'SELECT count(*) FROM "{name}"')[0][0] for name in sorted(names)}


class Forger:
    """A peer that signs entries with arbitrary ops, on top of what it has seen of a database."""

    def __init__(self, seed: int = 9, manifest: Manifest = MANIFEST) -> None:
        self.identity = seeded_identity(seed)
        self.log = Log(self.identity, manifest, MemoryBlockStore())

    def see(self, blocks: Iterable[Block]) -> None:
        """Integrate blocks so the next entries name them as parents."""
        result = self.log.join(blocks)
        assert not result.rejected and not result.missing

    def sign(self, ops: Any) -> Entry:
        """A validly signed entry whose ops are exactly ``ops``."""
        return self.log.append(ops)
