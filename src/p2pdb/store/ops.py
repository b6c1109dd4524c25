"""The ops of a log entry: what one committed transaction changed (the ``ops`` field of DESIGN §3).

An entry's ``ops`` is a list; each op is a map of one of these shapes, decoded strictly (any other key,
type or value is refused, and with it the whole entry):

- row change: ``{"t": table, "k": [key values], "cl": causal length, "v": {column: value}}``, plus
  ``"d": {column: delta}`` for counter increments and ``"i": true`` when the change inserts the row.
  Table and column names are identities (ASCII-lowercase, :func:`p2pdb.schema.ident`). The key of a
  table without a primary key is its rows' hidden identity (one byte string);
- schema change: ``{"ddl": kind, ...}`` (see :mod:`p2pdb.schema` for the bodies);
- AUTO_INCREMENT id range: ``{"ids": {"to": peer key, "o": offset, "m": modulus, "w": {table: id}}}``
  (see :mod:`p2pdb.store.autoinc`);
- access rule change: ``{"acl": kind, ...}`` (see :mod:`p2pdb.acl`);
- a checkpoint or a countersignature: ``{"checkpoint": seq, ...}`` / ``{"countersign": CID, ...}``, the
  only op of its entry (see :mod:`p2pdb.checkpoint`);
- the other ops of an encrypted database's entry, sealed: ``{"enc": key id, "n": nonce, "c": ciphertext}``
  (see :mod:`p2pdb.store.sealed`); it comes first, the entry's ACL ops after it.

Values are SQL values: null, 64-bit integers, finite floats, text, bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p2pdb.acl import AclOp, InvalidAcl, decode_acl_op
from p2pdb.checkpoint import CheckpointOp, CountersignOp, InvalidCheckpoint, decode_checkpoint_op
from p2pdb.crdt import InvalidChangeError, RowChange
from p2pdb.schema import DDL_KINDS, ident
from p2pdb.store.errors import InvalidOps
from p2pdb.store.sealed import SealedOps, decode_sealed

_ROW_KEYS = frozenset(("t", "k", "cl", "v"))
_ROW_OPTIONAL = frozenset(("d", "i"))
_INT64 = (-(2**63), 2**63 - 1)
MAX_KEY_PARTS = 16


@dataclass(frozen=True, slots=True)
class DDLOp:
    kind: str
    body: dict[str, Any]

    def to_ipld(self) -> dict[str, Any]:
        return {"ddl": self.kind, **self.body}


@dataclass(frozen=True, slots=True)
class IdsOp:
    """An AUTO_INCREMENT id range given to a peer: ids ``≡ offset (mod modulus)`` above ``watermarks``."""

    to: bytes
    offset: int
    modulus: int
    watermarks: dict[str, int]

    def to_ipld(self) -> dict[str, Any]:
        return {"ids": {"to": self.to, "o": self.offset, "m": self.modulus, "w": dict(self.watermarks)}}


Op = RowChange | DDLOp | IdsOp | AclOp | SealedOps | CheckpointOp | CountersignOp


def row_to_ipld(change: RowChange) -> dict[str, Any]:
    op: dict[str, Any] = {"t": change.table, "k": list(change.pk), "cl": change.cl, "v": dict(change.values)}
    if change.deltas:
        op["d"] = dict(change.deltas)
    if change.insert:
        op["i"] = True
    return op


def encode_ops(ops: list[Op]) -> list[dict[str, Any]]:
    return [row_to_ipld(op) if isinstance(op, RowChange) else op.to_ipld() for op in ops]


def _int64(value: Any) -> bool:
    return type(value) is int and _INT64[0] <= value <= _INT64[1]


_PLAIN_SQL = frozenset((str, bytes, float, type(None)))


def _sql_values(values: Any) -> bool:
    """Every item of ``values`` is an SQL value (a loop, not a generator: this runs per row)."""
    low, high = _INT64
    for value in values:
        kind = type(value)
        if kind is int:
            if not low <= value <= high:
                return False
        elif kind not in _PLAIN_SQL:
            return False
    return True


def _names_ok(keys: Any) -> bool:
    """Every key is a name identity: the known ones by one set comparison, the others one by one."""
    return keys <= _NAMES or all(_name(k) for k in keys)


#: Strings already found to be name identities (bounded: emptied when full).
_NAMES: set[str] = set()


def _name(value: Any) -> bool:
    if type(value) is not str:
        return False
    if value in _NAMES:
        return True
    if not value or ident(value) != value:
        return False
    if len(_NAMES) >= 4096:
        _NAMES.clear()
    _NAMES.add(value)
    return True


def decode_ops(value: Any) -> list[Op]:
    """Parse an entry's ops; raise :class:`InvalidOps` on any malformed op."""
    if type(value) is not list:
        raise InvalidOps("ops must be a list")
    out: list[Op] = []
    for item in value:
        if type(item) is not dict:
            raise InvalidOps("an op must be a map")
        if "enc" in item:  # before "ddl": sealed ops that change the schema carry "ddl": true
            if len(value) != 1:
                raise InvalidOps("sealed ops are the only op of their entry")
            out.append(decode_sealed(item))
        elif "ddl" in item:
            kind = item["ddl"]
            if kind not in DDL_KINDS:
                raise InvalidOps(f"unknown schema change {str(kind)[:40]!r}")
            out.append(DDLOp(kind, {k: v for k, v in item.items() if k != "ddl"}))
        elif "checkpoint" in item or "countersign" in item:
            if len(value) != 1:
                raise InvalidOps("a checkpoint or countersignature is the only op of its entry")
            try:
                out.append(decode_checkpoint_op(item))
            except InvalidCheckpoint as exc:
                raise InvalidOps(str(exc)) from exc
        elif "ids" in item:
            out.append(_decode_ids(item))
        elif "acl" in item:
            try:
                out.append(decode_acl_op(item))
            except InvalidAcl as exc:
                raise InvalidOps(str(exc)) from exc
        else:
            out.append(_decode_row(item))
    return out


def _decode_ids(item: dict[str, Any]) -> IdsOp:
    body = item["ids"]
    if item.keys() != {"ids"} or type(body) is not dict or body.keys() != {"to", "o", "m", "w"}:
        raise InvalidOps("an ids op is {ids: {to, o, m, w}}")
    to, offset, modulus, marks = body["to"], body["o"], body["m"], body["w"]
    if type(to) is not bytes or len(to) != 32:
        raise InvalidOps("ids.to must be a 32-byte peer key")
    if not (_int64(modulus) and modulus >= 1 and _int64(offset) and 1 <= offset <= modulus):
        raise InvalidOps("ids needs 1 <= offset <= modulus")
    if modulus & (modulus - 1):
        raise InvalidOps("ids modulus must be a power of two")
    if type(marks) is not dict or not all(_name(k) and _int64(v) for k, v in marks.items()):
        raise InvalidOps("ids watermarks map table names to integers")
    return IdsOp(to, offset, modulus, dict(marks))


def _decode_row(item: dict[str, Any]) -> RowChange:
    keys = item.keys()
    if not keys >= _ROW_KEYS or not keys <= _ROW_KEYS | _ROW_OPTIONAL:
        raise InvalidOps("a row change is a map of t, k, cl, v and optionally d, i")
    table, pk, cl, values = item["t"], item["k"], item["cl"], item["v"]
    deltas = item.get("d", {})
    insert = item.get("i", False)
    if not _name(table):
        raise InvalidOps("row change table must be a name identity")
    if type(pk) is not list or not 1 <= len(pk) <= MAX_KEY_PARTS or not _sql_values(pk):
        raise InvalidOps("row change key must be a list of 1 to 16 SQL values")
    if not _int64(cl) or cl < 1:
        raise InvalidOps("causal length must be a positive 64-bit integer")
    if type(values) is not dict or type(deltas) is not dict or ("d" in item and not deltas):
        raise InvalidOps("row change values and deltas must be (non-empty) maps")
    if not (_names_ok(values.keys()) and _sql_values(values.values())):
        raise InvalidOps("row change values map column identities to SQL values")
    if deltas and not all(_name(k) and (type(v) is float or _int64(v)) for k, v in deltas.items()):
        raise InvalidOps("row change deltas map column identities to numbers")
    if insert is not True and "i" in item:
        raise InvalidOps("row change flag i is true when present")
    try:
        return RowChange(table, tuple(pk), cl, values, deltas, bool(insert))
    except InvalidChangeError as exc:
        raise InvalidOps(str(exc)) from exc
