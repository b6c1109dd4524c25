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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from p2pdb.log.cid import CID


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


class MemoryBlockStore:
    """A block store in a dict: for tests, development and short-lived logs."""

    __slots__ = ("_blocks", "_heads")

    def __init__(self) -> None:
        self._blocks: dict[CID, bytes] = {}
        self._heads: dict[str, list[CID]] = {}

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
