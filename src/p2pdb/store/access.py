"""The access rules of one database, from its log (docs/security.md).

``_p2pdb_acl(cid, idx, time, author, body)`` keeps each accepted ACL op; their causal pasts come from
the log's control index, so :meth:`Access.at` gives the ACL that judges any entry. :func:`needs`
says which privilege each op of an entry needs; :func:`check_ops` refuses an entry whose author lacks
one (the local commit fails with MySQL's 1142/1143, a peer's entry is rejected and recorded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import apsw

from p2pdb.acl import DDL_PRIVILEGE, Acl, AclBook, AclEvent, AclOp, Denied, decode_acl_op
from p2pdb.crdt import RowChange
from p2pdb.log import CID, Log, codec
from p2pdb.log.identity import Identity
from p2pdb.store.errors import StoreError
from p2pdb.store.sealed import KeyRing

ACL_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_acl (cid BLOB NOT NULL, idx INTEGER NOT NULL, time INTEGER NOT NULL,"
    " author BLOB NOT NULL, body BLOB NOT NULL, PRIMARY KEY (cid, idx))"
)


class WriteDenied(StoreError):
    """The author of a change lacks a privilege the database's ACL asks for."""

    def __init__(self, author: bytes, denied: Denied) -> None:
        self.author = author
        self.denied = denied
        where = f"table {denied.table!r}" if denied.table else "the database"
        if denied.column:
            where = f"column {denied.column!r} of {where}"
        super().__init__(f"access denied: {denied.privilege} on {where}")


class AclChangeDenied(StoreError):
    """An ACL change by a key that is not an owner (or a second init)."""


def row_privilege(change: RowChange) -> tuple[str, tuple[str, ...]]:
    """The privilege a row change needs, and the columns it touches."""
    if change.cl % 2 == 0:
        return "DELETE", ()
    columns = tuple(sorted({*change.values, *change.deltas}))
    return ("INSERT" if change.insert else "UPDATE"), columns


class Access:
    """The ACL events of a database's log, persisted beside its rows."""

    def __init__(self, conn: apsw.Connection, log: Log, identity: Identity) -> None:
        self._conn = conn
        self._log = log
        self._identity = identity
        conn.execute(ACL_SCHEMA)
        self.book = AclBook()
        self.keyring = KeyRing(identity)
        self._at: dict[frozenset[Any], Acl] = {}
        self.reload()

    def reload(self) -> None:
        self._at = {}
        self.book = AclBook()
        self.keyring = KeyRing(self._identity)
        for cid, idx, time, author, body in self._conn.execute("SELECT * FROM _p2pdb_acl"):
            key = CID(bytes(cid))
            past = self._log.control_past(key) if key in self._log else frozenset()
            op = decode_acl_op(codec.decode(body))
            self.book.add(AclEvent(bytes(cid), idx, bytes(author), time, op, _bytes(past)))
            self.keyring.learn(op)

    def at(self, past: Iterable[Any]) -> Acl:
        """The ACL of a point whose control past is ``past`` (the log interns these sets: the
        cache is keyed by them, so an entry costs one dict lookup)."""
        key = past if isinstance(past, frozenset) else frozenset(past)
        acl = self._at.get(key)
        if acl is None:
            acl = self._at[key] = self.book.at(_bytes(key))
        return acl

    def current(self) -> Acl:
        """The ACL of the next local entry (it descends from every event this node has)."""
        return self.at(self._log.control_heads())

    def add(self, cid: CID, time: int, author: bytes, ops: Sequence[tuple[int, AclOp]]) -> bool:
        """Keep accepted ACL ops; True when they gave this node a content key it lacked."""
        past = _bytes(self._log.control_past(cid))
        learnt = False
        self._at.clear()
        for index, op in ops:
            self._conn.execute(
                "INSERT OR IGNORE INTO _p2pdb_acl VALUES (?, ?, ?, ?, ?)",
                (bytes(cid), index, time, author, codec.encode(op.to_ipld())),
            )
            self.book.add(AclEvent(bytes(cid), index, author, time, op, past))
            learnt = self.keyring.learn(op) or learnt
        return learnt


def _bytes(cids: Iterable[Any]) -> frozenset[bytes]:
    return frozenset(bytes(c) for c in cids)


def check_acl_op(acl: Acl, author: bytes, op: AclOp) -> None:
    """Refuse an ACL change its author may not make."""
    if op.kind == "init":
        if acl.controlled:
            raise AclChangeDenied("access denied: the database already has owners")
        return
    if not acl.controlled:
        raise AclChangeDenied("access denied: the database has no owners to change its access rules")
    if not acl.is_owner(author):
        raise AclChangeDenied("access denied: only an owner changes the access rules")


def check_row(acl: Acl, author: bytes, change: RowChange) -> None:
    if not acl.controlled:
        return  # no rules in the log (the per-row hot path of most databases)
    privilege, columns = row_privilege(change)
    denied = acl.check(author, privilege, change.table, columns)
    if denied is not None:
        raise WriteDenied(author, denied)


def check_ddl(acl: Acl, author: bytes, kind: str, table: str | None) -> None:
    denied = acl.check(author, DDL_PRIVILEGE.get(kind, "ALTER"), table)
    if denied is not None:
        raise WriteDenied(author, denied)


def check_ids(acl: Acl, author: bytes) -> None:
    if not acl.may_write_any(author):
        raise WriteDenied(author, Denied("INSERT", None))
