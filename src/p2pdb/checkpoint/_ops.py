"""Checkpoint ops: what a checkpoint or a countersignature entry carries (docs/checkpoints.md).

Both are ordinary signed entries of the database's log, so gossip, anti-entropy and the log's
verification carry them; an entry holding one holds nothing else. Decoded strictly:

- ``{"checkpoint": seq, "prev": CID | null, "state": 32 bytes, "merge": 32 bytes, "entries": n,
  "rows": n, "at": ms}``: a proposal. The entry's parents are the heads it covers; ``state`` and
  ``merge`` are the hashes ``p2pdb verify`` computes (:meth:`Database.state_hash`,
  :meth:`Database.merge_state_hash`) of the database at exactly those heads; ``entries`` counts the
  entries in their causal past, ``rows`` the visible rows; ``prev`` is the checkpoint it follows
  (null and ``seq`` 1 for the first); ``at`` the proposer's wall clock, for people only.
- ``{"countersign": CID, "state": 32 bytes, "merge": 32 bytes}``: the author recomputed the state at
  that checkpoint's heads and found these hashes (equal to the proposal's when it agrees).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p2pdb.log import CID

HASH_LENGTH = 32
_INT64 = 2**63 - 1
_CHECKPOINT_KEYS = frozenset(("checkpoint", "prev", "state", "merge", "entries", "rows", "at"))
_COUNTERSIGN_KEYS = frozenset(("countersign", "state", "merge"))


class InvalidCheckpoint(ValueError):
    """A malformed checkpoint op: the whole entry is refused."""


@dataclass(frozen=True, slots=True)
class CheckpointOp:
    seq: int
    prev: CID | None
    state: bytes
    merge: bytes
    entries: int
    rows: int
    at: int

    def to_ipld(self) -> dict[str, Any]:
        return {
            "checkpoint": self.seq,
            "prev": self.prev,
            "state": self.state,
            "merge": self.merge,
            "entries": self.entries,
            "rows": self.rows,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class CountersignOp:
    target: CID
    state: bytes
    merge: bytes

    def to_ipld(self) -> dict[str, Any]:
        return {"countersign": self.target, "state": self.state, "merge": self.merge}


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _INT64


def _hash(value: Any) -> bool:
    return type(value) is bytes and len(value) == HASH_LENGTH


def decode_checkpoint_op(item: dict[str, Any]) -> CheckpointOp | CountersignOp:
    """Parse one op that has a ``checkpoint`` or ``countersign`` key; raise :class:`InvalidCheckpoint`."""
    if "checkpoint" in item:
        if item.keys() != _CHECKPOINT_KEYS:
            raise InvalidCheckpoint("a checkpoint is {checkpoint, prev, state, merge, entries, rows, at}")
        seq, prev = item["checkpoint"], item["prev"]
        if not _count(seq) or seq < 1:
            raise InvalidCheckpoint("checkpoint sequence must be a positive integer")
        if prev is not None and not isinstance(prev, CID):
            raise InvalidCheckpoint("checkpoint prev must be a CID or null")
        if (prev is None) != (seq == 1):
            raise InvalidCheckpoint("the first checkpoint (and only it) has no prev")
        if not (_hash(item["state"]) and _hash(item["merge"])):
            raise InvalidCheckpoint("checkpoint hashes are 32 bytes")
        if not (_count(item["entries"]) and _count(item["rows"]) and _count(item["at"])):
            raise InvalidCheckpoint("checkpoint counts and time are non-negative integers")
        return CheckpointOp(
            seq, prev, item["state"], item["merge"], item["entries"], item["rows"], item["at"]
        )
    if item.keys() != _COUNTERSIGN_KEYS:
        raise InvalidCheckpoint("a countersignature is {countersign, state, merge}")
    if not isinstance(item["countersign"], CID):
        raise InvalidCheckpoint("countersign names a checkpoint by CID")
    if not (_hash(item["state"]) and _hash(item["merge"])):
        raise InvalidCheckpoint("countersignature hashes are 32 bytes")
    return CountersignOp(item["countersign"], item["state"], item["merge"])
