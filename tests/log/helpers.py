"""Helpers for the ``p2pdb.log`` tests.

Identities are deterministic (fixed seeds) so failures reproduce; ``craft_block`` builds entry
blocks field by field, signed by a real identity, so a test can make exactly one thing wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from hypothesis import strategies as st

from p2pdb.log import CID, Identity, Log, MemoryBlockStore, codec
from p2pdb.log.blockstore import FloorNode
from p2pdb.log.cid import cid_for_block


def seeded_identity(n: int) -> Identity:
    """A deterministic identity; ``n`` picks the seed."""
    return Identity.from_seed(bytes([n]) * 32)


ALICE = seeded_identity(1)
BOB = seeded_identity(2)
CAROL = seeded_identity(3)


def unsigned_fields(
    identity: Identity,
    db: str,
    *,
    time: int = 1,
    parents: Iterable[CID] = (),
    ops: Any = None,
) -> dict[str, Any]:
    """The fields of a version-1 entry without ``sig`` (a dag-cbor data-model value)."""
    return {
        "v": 1,
        "db": db,
        "clock": {"id": identity.public_key, "time": time},
        "parents": sorted(parents),
        "ops": ops,
        "author": identity.public_key,
    }


def craft_block(fields: dict[str, Any], signer: Identity, *, sig: bytes | None = None) -> bytes:
    """Encode ``fields`` canonically with a signature by ``signer`` over the encoding of the
    fields (or the given ``sig``). Lets a test make any single field wrong and still sign it."""
    if sig is None:
        sig = signer.sign(codec.encode(fields))
    return codec.encode({**fields, "sig": sig})


class CountingStore:
    """A block store wrapper that counts calls, to prove what a join touches."""

    def __init__(self, inner: MemoryBlockStore | None = None) -> None:
        self.inner = inner if inner is not None else MemoryBlockStore()
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def reset(self) -> None:
        self.calls.clear()

    def get(self, cid: CID) -> bytes | None:
        self._count("get")
        return self.inner.get(cid)

    def has(self, cid: CID) -> bool:
        self._count("has")
        return self.inner.has(cid)

    def put(self, cid: CID, data: bytes) -> None:
        self._count("put")
        self.inner.put(cid, data)

    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        self._count("put_many")
        self.inner.put_many(blocks)

    def delete(self, cid: CID) -> None:
        self._count("delete")
        self.inner.delete(cid)

    def get_heads(self, log_id: str) -> list[CID]:
        self._count("get_heads")
        return self.inner.get_heads(log_id)

    def set_heads(self, log_id: str, heads: Iterable[CID]) -> None:
        self._count("set_heads")
        self.inner.set_heads(log_id, heads)

    def cids(self) -> Iterator[CID]:
        self._count("cids")
        return self.inner.cids()

    def get_floor(self, log_id: str) -> list[FloorNode]:
        self._count("get_floor")
        return self.inner.get_floor(log_id)

    def set_floor(self, log_id: str, nodes: Iterable[FloorNode]) -> None:
        self._count("set_floor")
        self.inner.set_floor(log_id, nodes)

    def get_pruned(self, log_id: str) -> dict[bytes, int]:
        self._count("get_pruned")
        return self.inner.get_pruned(log_id)

    def raise_pruned(self, log_id: str, times: dict[bytes, int]) -> None:
        self._count("raise_pruned")
        self.inner.raise_pruned(log_id, times)

    def __len__(self) -> int:
        return len(self.inner)


def blocks_of(log: Log) -> list[bytes]:
    """Every integrated entry's block, in the log's total order."""
    return [entry.block for entry in log.traverse()]


def order_of(log: Log) -> list[CID]:
    """The CIDs of a log in its total order."""
    return [entry.cid for entry in log.traverse()]


def ipld_values(
    *,
    text: int,
    binary: int,
    width: int,
    key: int,
    leaves: int,
    links: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Any]:
    """Values of the IPLD data model: scalars (strings up to ``text`` characters, bytes up to
    ``binary``), links (CIDs, or ``links``), and lists and maps up to ``width`` items (keys up to
    ``key`` characters), at most ``leaves`` scalars in all."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**64), max_value=2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=text)
        | st.binary(max_size=binary)
        | (links if links is not None else st.binary(max_size=8).map(cid_for_block))
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=width)
            | st.dictionaries(st.text(max_size=key), children, max_size=width)
        ),
        max_leaves=leaves,
    )
