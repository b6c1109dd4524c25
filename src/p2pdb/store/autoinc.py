"""AUTO_INCREMENT id ranges: which ids each peer may generate, so that no two peers ever generate one id.

MySQL's multi-primary scheme hands each server the ids ``≡ offset (mod increment)``. Here the ranges
are *classes* ``(offset, modulus)`` (values ``offset, offset + modulus, ...``; modulus a power of two)
recorded in the database's log by ``ids`` ops, and they are given out hierarchically, which makes them
distinct by construction:

- The first peer that needs ids in a database where nobody holds a class takes the root class ``(1, 1)``:
  a lone node numbers rows 1, 2, 3... exactly like MySQL.
- A peer that needs ids asks a peer that holds a class. The holder gives away one of its spare classes;
  when it has none it splits its own class into 16 (``(o + j·m, 16m)``), keeps the first, keeps 14 as
  spares and gives one. Only a holder gives out parts of its class, and it never gives one part twice,
  so the classes of different peers never overlap.
- A grant carries the holder's *watermarks*: per table, the highest id it had generated or seen. The
  new holder generates ids above them, so ids the holder made under its undivided class are never made
  again.

A peer uses its largest class (smallest modulus, then lowest offset) that it still holds: a class is held
by the peer its latest ``ids`` op names, until a smaller class inside it is given to someone (a split).
``SHOW VARIABLES LIKE 'auto_increment%'`` shows that class.

What is not by construction: two peers that each take the root class before either has seen the other's
(a database created on two disconnected peers at once). The second root in log order then holds nothing
and asks for a class; ids it generated meanwhile may equal the other root's, and such rows are recorded
as concurrent inserts of one key (``duplicate_key`` conflicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import apsw

from p2pdb.log import codec
from p2pdb.store.ops import IdsOp

IDS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_ids (time INTEGER NOT NULL, author BLOB NOT NULL, cid BLOB NOT NULL,"
    " idx INTEGER NOT NULL, dest BLOB NOT NULL, offset INTEGER NOT NULL, modulus INTEGER NOT NULL,"
    " marks BLOB NOT NULL, PRIMARY KEY (cid, idx)) WITHOUT ROWID",
)
FANOUT = 16

#: Largest AUTO_INCREMENT value per MySQL integer type (signed, unsigned); SQLite stops at 2^63 - 1.
TYPE_MAX = {
    "tinyint": (127, 255),
    "smallint": (32767, 65535),
    "mediumint": (8388607, 16777215),
    "int": (2147483647, 4294967295),
    "integer": (2147483647, 4294967295),
    "bigint": (2**63 - 1, 2**63 - 1),
    "serial": (2**63 - 1, 2**63 - 1),
}


def type_max(mysql_type: str | None) -> int:
    """Largest value of a column of this MySQL type (its AUTO_INCREMENT limit)."""
    if not mysql_type:
        return 2**63 - 1
    base = mysql_type.split("(")[0].split(" ")[0]
    signed, unsigned = TYPE_MAX.get(base, (2**63 - 1, 2**63 - 1))
    return unsigned if "unsigned" in mysql_type else signed


@dataclass(frozen=True, slots=True)
class IdClass:
    offset: int
    modulus: int
    #: Watermarks of the grant that gave this class: ids at or below them are not this holder's.
    watermarks: Mapping[str, int]

    def contains(self, other: IdClass) -> bool:
        """``other`` is a strictly smaller class inside this one."""
        return other.modulus > self.modulus and (other.offset - self.offset) % self.modulus == 0

    def first_above(self, floor: int) -> int:
        """The smallest id of this class above ``floor``."""
        start = floor + 1
        return start + (self.offset - start) % self.modulus


class IdSpace:
    """The id classes of one database, from its ``ids`` ops, on the writer connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        for statement in IDS_SCHEMA:
            conn.execute(statement)
        self._ops: list[tuple[tuple[int, bytes, bytes, int], IdsOp]] = []
        self._held: dict[bytes, list[IdClass]] = {}
        self.reload()

    def reload(self) -> None:
        self._ops = []
        for time, author, cid, idx, dest, offset, modulus, marks in self._conn.execute(
            "SELECT * FROM _p2pdb_ids"
        ):
            op = IdsOp(bytes(dest), offset, modulus, dict(codec.decode(marks)))
            self._ops.append(((time, bytes(author), bytes(cid), idx), op))
        self._resolve()

    def add(self, ops: Iterable[tuple[int, IdsOp]], *, time: int, author: bytes, cid: bytes) -> None:
        self._ops = [item for item in self._ops if item[0][0] != 2**63]  # staged ops now come for real
        for idx, op in ops:
            self._conn.execute(
                "INSERT OR IGNORE INTO _p2pdb_ids VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time, author, cid, idx, op.to, op.offset, op.modulus, codec.encode(op.watermarks)),
            )
            self._ops.append(((time, author, cid, idx), op))
        self._resolve()

    def stage(self, ops: Iterable[IdsOp]) -> None:
        """Ops of the running local transaction, counted until it commits (or :meth:`reload`)."""
        for op in ops:
            self._ops.append(((2**63, b"", b"", len(self._ops)), op))
        self._resolve()

    def _resolve(self) -> None:
        """Who holds which class: a pure function of the set of ``ids`` ops (processed in log order)."""
        latest: dict[tuple[int, int], tuple[tuple[int, bytes, bytes, int], IdsOp]] = {}
        for eid, op in sorted(self._ops, key=lambda item: item[0]):
            if (op.offset, op.modulus) == (1, 1) and (1, 1) in latest:
                continue  # the root class belongs to the first peer that took it
            latest[(op.offset, op.modulus)] = (eid, op)
        held: dict[bytes, list[IdClass]] = {}
        for (offset, modulus), (eid, op) in latest.items():
            cls = IdClass(offset, modulus, op.watermarks)
            # A class is split (no longer usable as a whole) once a smaller class inside it was given later.
            split = any(
                cls.contains(IdClass(o, m, {})) and other_eid > eid
                for (o, m), (other_eid, _) in latest.items()
            )
            if not split:
                held.setdefault(op.to, []).append(cls)
        for classes in held.values():
            classes.sort(key=lambda c: (c.modulus, c.offset))
        self._held = held

    @property
    def empty(self) -> bool:
        """No class was ever given in this database."""
        return not self._ops

    def held(self, peer: bytes) -> list[IdClass]:
        return list(self._held.get(peer, ()))

    def main(self, peer: bytes) -> IdClass | None:
        """The class ``peer`` generates ids from (its largest), or None."""
        classes = self._held.get(peer)
        return classes[0] if classes else None

    def grant(self, holder: bytes, to: bytes, watermarks: Mapping[str, int]) -> list[IdsOp]:
        """The ops by which ``holder`` gives ``to`` a class (empty if it holds none to give)."""
        classes = self._held.get(holder)
        if not classes:
            return []
        marks = dict(watermarks)
        if len(classes) > 1:
            spare = min(classes[1:], key=lambda c: (c.modulus, c.offset))
            return [IdsOp(to, spare.offset, spare.modulus, marks)]
        main = classes[0]
        modulus = main.modulus * FANOUT
        ops = [IdsOp(holder, main.offset, modulus, dict(main.watermarks))]
        ops.extend(IdsOp(holder, main.offset + j * main.modulus, modulus, marks) for j in range(2, FANOUT))
        ops.append(IdsOp(to, main.offset + main.modulus, modulus, marks))
        return ops

    @staticmethod
    def root(holder: bytes) -> list[IdsOp]:
        return [IdsOp(holder, 1, 1, {})]
