"""From ACL events to the ACL that judges an entry (docs/security.md, "Rules").

The rules, each a function of the events and their causal order only (never of arrival):

1. An entry is judged by the ACL of its causal past: the valid events among its ancestors.
2. ``init`` is valid when no valid ``init`` is in its past. Of concurrent ``init`` events (two peers
   created the same name offline) the one with the lowest ``(time, author, cid)`` decides the owners
   and the openness; the other creator keeps only what its own grants gave it.
3. ``grant``, ``revoke`` and ``owner`` are valid when their author is an owner in the ACL of their
   past. Owners are never removed, so a database always has one.
4. Each privilege of each principal at each scope (database, table, column) is an independent
   register. Its value is decided by its latest events: those no other event of the same register
   has in its past. The privilege is held when all of them are grants: **a revoke wins over a
   concurrent grant** (remove wins). Inside one entry, the later op of a register wins.
5. Keys (encrypted databases): the content key of an entry's writes is the newest key (highest
   ``(time, author, cid)``) introduced in its past; its readers are the keys it was wrapped to.
6. A database whose log has no ``init`` (made by a version before ACLs, or with ``access`` in the
   configuration only) is open to anyone the configuration lets write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from p2pdb.acl._events import ANYONE, PRIVILEGES, AclEvent, AclOp, Principal

#: The privilege a schema change needs.
DDL_PRIVILEGE = {
    "create_table": "CREATE",
    "drop_table": "DROP",
    "add_column": "ALTER",
    "drop_column": "ALTER",
    "modify_column": "ALTER",
    "table_meta": "ALTER",
    "create_index": "INDEX",
    "drop_index": "INDEX",
    "create_view": "CREATE VIEW",
    "drop_view": "DROP",
}

#: (principal, table or None, column or None, privilege)
RegisterKey = tuple[Principal, str | None, str | None, str]


@dataclass(frozen=True, slots=True)
class Grant:
    """One held privilege, for SHOW GRANTS and information_schema."""

    to: Principal
    privilege: str
    table: str | None
    column: str | None


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a change is refused: the privilege it needs and where (``column`` set: error 1143)."""

    privilege: str
    table: str | None
    column: str | None = None


@dataclass(frozen=True, slots=True)
class Acl:
    """The access rules at one point of the log."""

    #: False: no ``init`` in the past (rule 5): anyone may write
    controlled: bool = False
    owners: frozenset[bytes] = frozenset()
    held: frozenset[RegisterKey] = frozenset()
    #: (principal, table, privilege) with at least one column grant: a missing column is 1143, not 1142
    column_scoped: frozenset[tuple[Principal, str, str]] = field(default=frozenset())
    #: encrypted database: the id of the content key writes use now (None: writes are in clear)
    key_id: bytes | None = None
    #: who holds that key
    readers: frozenset[bytes] = frozenset()

    def is_owner(self, key: bytes) -> bool:
        return key in self.owners

    def has(self, key: bytes, privilege: str, table: str | None = None, column: str | None = None) -> bool:
        if not self.controlled or key in self.owners:
            return True
        held = self.held
        for who in (key, ANYONE):
            if (who, None, None, privilege) in held:
                return True
            if table is not None and (who, table, None, privilege) in held:
                return True
            if column is not None and (who, table, column, privilege) in held:
                return True
        return False

    def check(
        self, key: bytes, privilege: str, table: str | None, columns: Iterable[str] = ()
    ) -> Denied | None:
        """None when ``key`` may use ``privilege`` on ``table`` (and each of ``columns``)."""
        if self.has(key, privilege, table):
            return None
        names = list(columns)
        if table is None or not names or privilege not in ("SELECT", "INSERT", "UPDATE"):
            return Denied(privilege, table)
        scoped = any((who, table, privilege) in self.column_scoped for who in (key, ANYONE))
        if not scoped:
            return Denied(privilege, table)
        for name in names:
            if not self.has(key, privilege, table, name):
                return Denied(privilege, table, name)
        return None

    def may_write_any(self, key: bytes) -> bool:
        """Does ``key`` hold any write privilege anywhere (AUTO_INCREMENT ranges need one)?"""
        if not self.controlled or key in self.owners:
            return True
        return any(k[0] in (key, ANYONE) and k[3] != "SELECT" for k in self.held)

    def grants(self) -> list[Grant]:
        """Every held privilege, owners' implicit ones left out, in a stable order."""
        out = [Grant(who, privilege, table, column) for who, table, column, privilege in self.held]
        return sorted(out, key=lambda g: (_principal_order(g.to), g.table or "", g.column or "", g.privilege))


def _principal_order(who: Principal) -> bytes:
    return who if isinstance(who, bytes) else b""


def _registers(op: AclOp) -> list[RegisterKey]:
    if op.columns:
        return [(op.to, op.table, c, p) for c in op.columns for p in op.privileges]
    return [(op.to, op.table, None, p) for p in op.privileges]


class AclBook:
    """Every ACL event of one log, and the ACL at any causal past (cached)."""

    def __init__(self, events: Iterable[AclEvent] = ()) -> None:
        self._events: dict[bytes, list[AclEvent]] = {}
        self._cache: dict[frozenset[bytes], Acl] = {}
        self._valid: dict[tuple[bytes, int], bool] = {}
        for event in events:
            self.add(event)

    def add(self, event: AclEvent) -> None:
        self._events.setdefault(event.cid, []).append(event)
        self._events[event.cid].sort(key=lambda e: e.index)
        self._cache.clear()
        self._valid.clear()  # an event added out of causal order may change what its descendants were

    def __len__(self) -> int:
        return sum(len(v) for v in self._events.values())

    def events(self) -> list[AclEvent]:
        return sorted((e for v in self._events.values() for e in v), key=lambda e: e.order)

    def valid(self, event: AclEvent) -> bool:
        key = (event.cid, event.index)
        known = self._valid.get(key)
        if known is None:
            before = self.at(event.past)
            if event.op.kind == "init":
                known = not before.controlled
            else:
                known = before.controlled and before.is_owner(event.author)
            self._valid[key] = known
        return known

    def at(self, past: Iterable[bytes]) -> Acl:
        """The ACL of a point whose causal past holds the entries ``past`` (other CIDs are ignored)."""
        cids = frozenset(c for c in past if c in self._events)
        acl = self._cache.get(cids)
        if acl is None:
            acl = self._build([e for c in cids for e in self._events[c]])
            self._cache[cids] = acl
        return acl

    def current(self) -> Acl:
        return self.at(self._events)

    def _build(self, events: list[AclEvent]) -> Acl:
        events = [e for e in events if self.valid(e)]
        inits = [e for e in events if e.op.kind == "init"]
        if not inits:
            return Acl()
        winner = min(inits, key=lambda e: e.order)
        owners = set(winner.op.owners)
        owners.update(e.op.owners[0] for e in events if e.op.kind == "owner")
        # register -> {cid: (index, is_grant, past)}: the last op of each entry per register
        registers: dict[RegisterKey, dict[bytes, tuple[int, bool, frozenset[bytes]]]] = {}
        if winner.op.open:
            for privilege in PRIVILEGES:
                registers.setdefault((ANYONE, None, None, privilege), {})[winner.cid] = (
                    winner.index,
                    True,
                    winner.past,
                )
        for event in events:
            if event.op.kind not in ("grant", "revoke"):
                continue
            for key in _registers(event.op):
                slot = registers.setdefault(key, {})
                seen = slot.get(event.cid)
                if seen is None or seen[0] < event.index:
                    slot[event.cid] = (event.index, event.op.kind == "grant", event.past)
        held: set[RegisterKey] = set()
        for key, by_cid in registers.items():
            latest = [v for cid, v in by_cid.items() if not any(cid in o[2] for o in by_cid.values())]
            if latest and all(v[1] for v in latest):
                held.add(key)
        scoped = {(k[0], k[1], k[3]) for k in held if k[2] is not None and k[1] is not None}
        keys = [e for e in events if e.op.kind == "key"]
        key_id: bytes | None = None
        readers: frozenset[bytes] = frozenset()
        if keys:
            fresh = [e for e in keys if not any(f.op.key_id == e.op.key_id and f.cid in e.past for f in keys)]
            key_id = max(fresh, key=lambda e: e.order).op.key_id
            readers = frozenset(r for e in keys if e.op.key_id == key_id for r, _ in e.op.wraps)
        return Acl(True, frozenset(owners), frozenset(held), frozenset(scoped), key_id, readers)


def resolve(events: Iterable[AclEvent]) -> Acl:
    """The ACL after all ``events`` (each judged against its own past)."""
    return AclBook(events).current()
