"""Block stores: where a log keeps its encoded entries and its heads.

Every implementation honours the same contract (one conformance suite runs against all):

- ``get(cid)`` returns the exact bytes stored under ``cid``, or ``None``.
- ``has(cid)`` is ``get(cid) is not None`` without reading the bytes.
- ``put(cid, data)`` / ``put_many`` are idempotent: storing the same block again is a no-op.
  The store trusts the caller: only blocks that were verified (or written locally) are put.
- ``delete(cid)`` removes a block; deleting a missing block is a no-op.
- ``get_heads(log_id)`` returns the heads last saved for that log (empty if none), in the order
  given to ``set_heads``; ``set_heads`` replaces them.
- ``__len__`` counts stored blocks; ``cids()`` iterates over them in no particular order.
- ``get_floor(log_id)`` / ``set_floor``: the log's *floor*, entries whose blocks were pruned below a
  checkpoint but whose ids later entries may still name as parents (:class:`FloorNode`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from p2pdb.log.cid import CID


@dataclass(frozen=True, slots=True)
class FloorNode:
    """A pruned entry a log still knows: its id, Lamport time, author and the control entries of
    its causal past (itself included when it is one), and those of its parents that are floor entries
    too (so ancestry within the floor stays known); enough to integrate an entry that names it."""

    cid: CID
    time: int
    author: bytes
    control: frozenset[CID]
    parents: tuple[CID, ...] = ()


@runtime_checkable
class BlockStore(Protocol):
    def get(self, cid: CID) -> bytes | None: ...
    def has(self, cid: CID) -> bool: ...
    def put(self, cid: CID, data: bytes) -> None: ...
    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None: ...
    def delete(self, cid: CID) -> None: ...
    def get_heads(self, log_id: str) -> list[CID]: ...
    def set_heads(self, log_id: str, heads: Iterable[CID]) -> None: ...
    def cids(self) -> Iterator[CID]: ...
    def __len__(self) -> int: ...
    def get_floor(self, log_id: str) -> list[FloorNode]: ...
    def set_floor(self, log_id: str, nodes: Iterable[FloorNode]) -> None: ...
    def get_pruned(self, log_id: str) -> dict[bytes, int]: ...
    def raise_pruned(self, log_id: str, times: dict[bytes, int]) -> None: ...


class MemoryBlockStore:
    """A block store in a dict: for tests, development and short-lived logs."""

    __slots__ = ("_blocks", "_floor", "_heads", "_pruned")

    def __init__(self) -> None:
        self._blocks: dict[CID, bytes] = {}
        self._heads: dict[str, list[CID]] = {}
        self._floor: dict[str, list[FloorNode]] = {}
        self._pruned: dict[str, dict[bytes, int]] = {}

    def get(self, cid: CID) -> bytes | None:
        return self._blocks.get(cid)

    def has(self, cid: CID) -> bool:
        return cid in self._blocks

    def put(self, cid: CID, data: bytes) -> None:
        self._blocks.setdefault(cid, bytes(data))

    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        for cid, data in blocks:
            self._blocks.setdefault(cid, bytes(data))

    def delete(self, cid: CID) -> None:
        self._blocks.pop(cid, None)

    def get_heads(self, log_id: str) -> list[CID]:
        return list(self._heads.get(log_id, ()))

    def set_heads(self, log_id: str, heads: Iterable[CID]) -> None:
        self._heads[log_id] = list(heads)

    def cids(self) -> Iterator[CID]:
        return iter(list(self._blocks))

    def __len__(self) -> int:
        return len(self._blocks)

    def get_floor(self, log_id: str) -> list[FloorNode]:
        return list(self._floor.get(log_id, ()))

    def set_floor(self, log_id: str, nodes: Iterable[FloorNode]) -> None:
        self._floor[log_id] = list(nodes)

    def get_pruned(self, log_id: str) -> dict[bytes, int]:
        return dict(self._pruned.get(log_id, {}))

    def raise_pruned(self, log_id: str, times: dict[bytes, int]) -> None:
        known = self._pruned.setdefault(log_id, {})
        for author, time in times.items():
            known[author] = max(time, known.get(author, time))
