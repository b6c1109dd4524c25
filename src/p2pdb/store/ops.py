"""The ops of a log entry: what one committed transaction changed (the ``ops`` field of DESIGN §3).

An entry's ``ops`` is a list; each op is a map of one of these shapes:

- row change: ``{"t": table, "k": [pk values], "cl": causal length, "v": {col: value}}``, plus
  ``"d": {col: delta}`` for counter columns when there are increments;
- schema change: ``{"ddl": "create_table", "spec": table spec}``,
  ``{"ddl": "add_column", "t": table, "col": column spec}``,
  ``{"ddl": "create_index", "spec": index spec}``, ``{"ddl": "drop_index", "name": index}``,
  ``{"ddl": "drop_table", "t": table}``.

Values are SQL values (null, integer, real, text, blob) as dag-cbor scalars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p2pdb.crdt import InvalidChangeError, RowChange
from p2pdb.store.errors import InvalidOps

DDL_KINDS = frozenset(("create_table", "add_column", "create_index", "drop_index", "drop_table"))


@dataclass(frozen=True, slots=True)
class DDLOp:
    kind: str
    body: dict[str, Any]

    def to_ipld(self) -> dict[str, Any]:
        return {"ddl": self.kind, **self.body}


Op = RowChange | DDLOp


def row_to_ipld(change: RowChange) -> dict[str, Any]:
    op: dict[str, Any] = {"t": change.table, "k": list(change.pk), "cl": change.cl, "v": dict(change.values)}
    if change.deltas:
        op["d"] = dict(change.deltas)
    return op


def encode_ops(ops: list[Op]) -> list[dict[str, Any]]:
    return [op.to_ipld() if isinstance(op, DDLOp) else row_to_ipld(op) for op in ops]


def decode_ops(value: Any) -> list[Op]:
    """Parse an entry's ops; raise :class:`InvalidOps` on any malformed op."""
    if not isinstance(value, list):
        raise InvalidOps("ops must be a list")
    out: list[Op] = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidOps("an op must be a map")
        if "ddl" in item:
            kind = item["ddl"]
            if kind not in DDL_KINDS:
                raise InvalidOps(f"unknown schema change {kind!r}")
            out.append(DDLOp(kind, {k: v for k, v in item.items() if k != "ddl"}))
            continue
        keys = set(item)
        if not {"t", "k", "cl", "v"} <= keys or not keys <= {"t", "k", "cl", "v", "d"}:
            raise InvalidOps("a row change is a map of t, k, cl, v and optionally d")
        values, deltas = item["v"], item.get("d", {})
        if not isinstance(item["k"], list) or not isinstance(values, dict) or not isinstance(deltas, dict):
            raise InvalidOps("row change fields have the wrong types")
        try:
            out.append(RowChange(item["t"], tuple(item["k"]), item["cl"], values, deltas))
        except InvalidChangeError as exc:
            raise InvalidOps(str(exc)) from exc
    return out
