"""ACL ops (what an entry carries) and ACL events (an op placed in the log's causal order).

An ACL op is one map of an entry's ``ops`` list, decoded strictly:

- ``{"acl": "init", "owners": [key, ...], "open": bool}``: the genesis of an access-controlled
  database. ``open`` grants every privilege on the whole database to anyone (``"*"``), revocable
  like any grant.
- ``{"acl": "grant" | "revoke", "to": key | "*", "p": [privilege, ...], "t": table, "c": [column, ...]}``:
  ``t`` absent means the whole database, ``c`` absent means the whole table.
- ``{"acl": "owner", "to": key}``: one more owner (owners are never removed, docs/security.md).
- ``{"acl": "key", "id": key id, "w": [[reader, wrapped key], ...]}``: a content key of an encrypted
  database, wrapped to each reader (a sealed box to the reader's X25519 key). An id not seen in the
  event's past is a new key (a rotation: later entries are encrypted with it); a known id gives that
  key to more readers.

Keys are 32-byte Ed25519 public keys; table and column names are identities (ASCII-lowercase).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANYONE = "*"
KEY_LENGTH = 32
ACL_KINDS = frozenset(("init", "grant", "revoke", "owner", "key"))
KEY_ID_LENGTH = 16
#: A 32-byte content key in a sealed box (X25519 ephemeral key + Poly1305 tag: 48 bytes more).
WRAPPED_LENGTH = 80
#: What can be granted. ``ALL`` in SQL means all of them. The schema privileges map to DDL kinds in
#: :data:`p2pdb.acl._resolve.DDL_PRIVILEGE`.
PRIVILEGES = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "CREATE VIEW",
)
#: Privileges that can be granted on single columns (as in MySQL).
COLUMN_PRIVILEGES = frozenset(("SELECT", "INSERT", "UPDATE"))
MAX_NAMES = 256


class InvalidAcl(ValueError):
    """A malformed ACL op: the whole entry is refused."""


Principal = bytes | str  # a key, or ANYONE


@dataclass(frozen=True, slots=True)
class AclOp:
    kind: str
    #: init: the owners; owner: the one new owner
    owners: tuple[bytes, ...] = ()
    open: bool = False
    #: grant / revoke
    to: Principal = b""
    privileges: tuple[str, ...] = ()
    table: str | None = None
    columns: tuple[str, ...] = ()
    #: key: the content key's id, and (reader, wrapped key) pairs sorted by reader
    key_id: bytes = b""
    wraps: tuple[tuple[bytes, bytes], ...] = ()

    def to_ipld(self) -> dict[str, Any]:
        if self.kind == "key":
            return {"acl": "key", "id": self.key_id, "w": [[r, w] for r, w in self.wraps]}
        if self.kind == "init":
            return {"acl": "init", "owners": sorted(self.owners), "open": self.open}
        if self.kind == "owner":
            return {"acl": "owner", "to": self.owners[0]}
        out: dict[str, Any] = {"acl": self.kind, "to": self.to, "p": sorted(self.privileges)}
        if self.table is not None:
            out["t"] = self.table
        if self.columns:
            out["c"] = sorted(self.columns)
        return out


@dataclass(frozen=True, slots=True)
class AclEvent:
    """An ACL op of an integrated entry: ``cid`` and ``index`` name it, ``author`` and ``time`` are
    the entry's, ``past`` holds (at least) the CIDs of the ACL entries in the entry's causal past."""

    cid: bytes
    index: int
    author: bytes
    time: int
    op: AclOp
    past: frozenset[bytes] = field(default_factory=frozenset)

    @property
    def order(self) -> tuple[int, bytes, bytes, int]:
        return (self.time, self.author, self.cid, self.index)


def _key(value: Any) -> bool:
    return type(value) is bytes and len(value) == KEY_LENGTH


def _name(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 64 and value == value.lower()


def decode_acl_op(item: dict[str, Any]) -> AclOp:
    """Parse one ``{"acl": ...}`` map; raise :class:`InvalidAcl` on anything else."""
    kind = item.get("acl")
    if kind not in ACL_KINDS:
        raise InvalidAcl(f"unknown ACL change {str(kind)[:40]!r}")
    keys = set(item)
    if kind == "init":
        owners, is_open = item.get("owners"), item.get("open")
        if keys != {"acl", "owners", "open"} or type(owners) is not list or type(is_open) is not bool:
            raise InvalidAcl("an ACL init is {acl, owners: [key], open: bool}")
        if not 1 <= len(owners) <= MAX_NAMES or not all(_key(k) for k in owners):
            raise InvalidAcl("ACL init owners: 1 to 256 32-byte keys")
        if owners != sorted(set(owners)):
            raise InvalidAcl("ACL init owners are sorted and distinct")
        return AclOp("init", owners=tuple(owners), open=is_open)
    if kind == "key":
        key_id, wraps = item.get("id"), item.get("w")
        if keys != {"acl", "id", "w"} or type(key_id) is not bytes or len(key_id) != KEY_ID_LENGTH:
            raise InvalidAcl("an ACL key is {acl, id: 16 bytes, w: [[reader, wrapped key]]}")
        if type(wraps) is not list or not 1 <= len(wraps) <= MAX_NAMES:
            raise InvalidAcl("ACL key wraps: 1 to 256 [reader, wrapped key] pairs")
        pairs: list[tuple[bytes, bytes]] = []
        for pair in wraps:
            if type(pair) is not list or len(pair) != 2 or not _key(pair[0]):
                raise InvalidAcl("an ACL key wrap is [32-byte reader key, wrapped key]")
            if type(pair[1]) is not bytes or len(pair[1]) != WRAPPED_LENGTH:
                raise InvalidAcl(f"a wrapped key is {WRAPPED_LENGTH} bytes")
            pairs.append((pair[0], pair[1]))
        if [r for r, _ in pairs] != sorted({r for r, _ in pairs}):
            raise InvalidAcl("ACL key wraps are sorted by reader, one per reader")
        return AclOp("key", key_id=key_id, wraps=tuple(pairs))
    if kind == "owner":
        if keys != {"acl", "to"} or not _key(item["to"]):
            raise InvalidAcl("an ACL owner change is {acl, to: key}")
        return AclOp("owner", owners=(item["to"],))
    if not keys >= {"acl", "to", "p"} or not keys <= {"acl", "to", "p", "t", "c"}:
        raise InvalidAcl("an ACL grant or revoke is {acl, to, p} and optionally t, c")
    to, privileges = item["to"], item["p"]
    if not (_key(to) or to == ANYONE):
        raise InvalidAcl("ACL grant to: a 32-byte key or '*'")
    if type(privileges) is not list or not privileges or not all(p in PRIVILEGES for p in privileges):
        raise InvalidAcl(f"ACL privileges are a non-empty list of {', '.join(PRIVILEGES)}")
    if privileges != sorted(set(privileges)):
        raise InvalidAcl("ACL privileges are sorted and distinct")
    table = item.get("t")
    if "t" in item and not _name(table):
        raise InvalidAcl("ACL table: a name identity")
    columns = item.get("c", [])
    if "c" in item:
        if table is None or type(columns) is not list or not 1 <= len(columns) <= MAX_NAMES:
            raise InvalidAcl("ACL columns: a non-empty list, with a table")
        if not all(_name(c) for c in columns) or columns != sorted(set(columns)):
            raise InvalidAcl("ACL columns: sorted, distinct name identities")
        if not set(privileges) <= COLUMN_PRIVILEGES:
            raise InvalidAcl("only SELECT, INSERT and UPDATE can be granted on columns")
    return AclOp(kind, to=to, privileges=tuple(privileges), table=table, columns=tuple(columns))
