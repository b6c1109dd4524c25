"""Checkpoint ops: what a checkpoint or a countersignature entry carries (docs/checkpoints.md).

Both are ordinary signed entries of the database's log, so gossip, anti-entropy and the log's
verification carry them; an entry holding one holds nothing else. Decoded strictly:

- ``{"checkpoint": seq, "prev": CID | null, "state": 32 bytes, "merge": 32 bytes, "entries": n,
  "rows": n, "at": ms}``: a proposal. It covers the entry's parents, or, with an optional
  ``"heads": [CID, ...]`` (sorted, distinct), those heads: the proposer computed the version while
  its own writes went on, and its entry follows its current heads, so that one author's entries
  always form a chain (the version vectors of snapshots rely on it). ``state`` and ``merge`` are the
  hashes ``p2pdb verify`` computes (:meth:`Database.state_hash`, :meth:`Database.merge_state_hash`)
  of the database at exactly the covered heads; ``entries`` counts the entries in their causal past,
  ``rows`` the visible rows; ``prev`` is the checkpoint it follows (null and ``seq`` 1 for the
  first); ``at`` the proposer's wall clock, for people only.
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
_CHECKPOINT_KEYS_WITH_HEADS = _CHECKPOINT_KEYS | {"heads"}
#: At most this many covered heads in a proposal (a log's heads are its concurrent branches).
MAX_HEADS = 1024
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
    #: The heads covered, when they are not the entry's parents (sorted, distinct).
    heads: tuple[CID, ...] | None = None

    def to_ipld(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checkpoint": self.seq,
            "prev": self.prev,
            "state": self.state,
            "merge": self.merge,
            "entries": self.entries,
            "rows": self.rows,
            "at": self.at,
        }
        if self.heads is not None:
            out["heads"] = list(self.heads)
        return out

    def covered(self, parents: tuple[CID, ...]) -> tuple[CID, ...]:
        """The heads this proposal covers, for an entry with ``parents``."""
        return self.heads if self.heads is not None else parents


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
        if item.keys() != _CHECKPOINT_KEYS and item.keys() != _CHECKPOINT_KEYS_WITH_HEADS:
            raise InvalidCheckpoint(
                "a checkpoint is {checkpoint, prev, state, merge, entries, rows, at[, heads]}"
            )
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
        heads = item.get("heads")
        if heads is not None:
            if (
                type(heads) is not list
                or not 0 < len(heads) <= MAX_HEADS
                or not all(isinstance(h, CID) for h in heads)
                or heads != sorted(set(heads))
            ):
                raise InvalidCheckpoint(f"checkpoint heads are 1 to {MAX_HEADS} distinct CIDs, sorted")
            heads = tuple(heads)
        return CheckpointOp(
            seq, prev, item["state"], item["merge"], item["entries"], item["rows"], item["at"], heads
        )
    if item.keys() != _COUNTERSIGN_KEYS:
        raise InvalidCheckpoint("a countersignature is {countersign, state, merge}")
    if not isinstance(item["countersign"], CID):
        raise InvalidCheckpoint("countersign names a checkpoint by CID")
    if not (_hash(item["state"]) and _hash(item["merge"])):
        raise InvalidCheckpoint("countersignature hashes are 32 bytes")
    return CountersignOp(item["countersign"], item["state"], item["merge"])
