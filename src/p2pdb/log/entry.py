"""Log entries: signed, content-addressed blocks of the Merkle-CRDT log (DESIGN.md §3).

An entry (version 2) is the dag-cbor map
``{v, db, ops, sig, wall, clock: {id, time}, author, parents}`` (keys in dag-cbor order).
``wall`` is the author's wall-clock time of writing, in milliseconds since the Unix epoch: a claim
of the author, signed but not trusted for ordering (the Lamport clock orders); it answers "when"
(time travel, row history). Version 1 entries (no ``wall``) are still read, with ``wall`` 0.
``sig`` is the author's Ed25519 signature over the canonical encoding of the same map without
``sig``; ``clock.id`` and ``author`` are both the author's raw public key and must be equal.
``parents`` is the sorted list of the CIDs of the heads the author had when writing.

Encoding and decoding live here, apart from the in-memory :class:`Entry`. :func:`decode_entry`
parses a block only with the strict dag-cbor decoder (:func:`p2pdb.log.codec.decode`), which
refuses anything but the canonical encoding in time linear in its length; it then rebuilds the
bytes of every field around ``ops`` and checks the signature over exactly the signed bytes, so a
verified entry is exactly what its author wrote.
"""

from __future__ import annotations

import itertools
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from p2pdb.log import codec
from p2pdb.log.cid import CID, cid_for_block
from p2pdb.log.clock import Clock
from p2pdb.log.errors import (
    CIDMismatch,
    EntryError,
    EntryTooLarge,
    InvalidSignature,
    MalformedEntry,
    NonCanonicalEncoding,
    UnsupportedVersion,
)
from p2pdb.log.identity import PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, Identity, verify

VERSION = 2
VERSIONS = (1, 2)
DEFAULT_MAX_ENTRY_SIZE = 4 * 1024 * 1024
MAX_PARENTS = 1024
MAX_DB_LENGTH = 512
# The limits of the strict decoder for a whole entry block: `ops` may be any value that
# codec.encode accepts (codec.MAX_DEPTH levels, codec.MAX_ITEMS items) inside the entry's own map,
# which adds one level, 18 items of its own fields and one per parent (some slack on top).
MAX_BLOCK_DEPTH = codec.MAX_DEPTH + 1
MAX_BLOCK_ITEMS = codec.MAX_ITEMS + 64 + MAX_PARENTS

_FIELDS_V1 = frozenset(("v", "db", "ops", "sig", "clock", "author", "parents"))
_FIELDS = _FIELDS_V1 | {"wall"}
_K_V, _K_DB, _K_OPS, _K_SIG, _K_WALL = (cbor2.dumps(k) for k in ("v", "db", "ops", "sig", "wall"))
_K_CLOCK, _K_AUTHOR, _K_PARENTS = (cbor2.dumps(k) for k in ("clock", "author", "parents"))
_LINK_PREFIX = b"\xd8\x2a\x58\x25\x00"  # tag 42, then bytes of length 37: 0x00 and a 36-byte CID


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded, verified entry. Build one with :func:`create_entry` or :func:`decode_entry`."""

    cid: CID
    db: str
    clock: Clock
    parents: tuple[CID, ...]
    ops: Any
    sig: bytes
    block: bytes
    v: int = VERSION
    #: the author's wall clock when writing (ms since the epoch; 0: unknown, a version 1 entry)
    wall: int = 0

    @property
    def author(self) -> bytes:
        return self.clock.id

    def __repr__(self) -> str:
        return f"Entry({self.cid}, time={self.clock.time}, parents={len(self.parents)})"


def _encode_parents(parents: Sequence[CID]) -> bytes:
    """The list of parent links, byte for byte what cbor2 writes for a list of tag-42 CIDs
    (every CID has the same length, so every link has the same 5-byte prefix)."""
    count = len(parents)
    if count < 24:
        head = bytes((0x80 + count,))
    else:
        width = 1 if count < 0x100 else 2 if count < 0x10000 else 4 if count < 0x100000000 else 8
        head = bytes((0x98 + width.bit_length() - 1,)) + count.to_bytes(width)
    return head + b"".join([_LINK_PREFIX + p for p in parents])


def _split_encoding(
    db: str, clock: Clock, parents: Sequence[CID], ops_bytes: bytes, v: int = VERSION, wall: int = 0
) -> tuple[bytes, bytes]:
    """The encoded fields before and after ``sig`` in dag-cbor key order."""
    head = b"".join((_K_V, cbor2.dumps(v), _K_DB, cbor2.dumps(db), _K_OPS, ops_bytes))
    tail = b"".join(
        (
            *((_K_WALL, cbor2.dumps(wall)) if v >= 2 else ()),
            _K_CLOCK,
            cbor2.dumps({"id": clock.id, "time": clock.time}),
            _K_AUTHOR,
            cbor2.dumps(clock.id),
            _K_PARENTS,
            _encode_parents(parents),
        )
    )
    return head, tail


def create_entry(
    identity: Identity,
    db: str,
    clock: Clock,
    parents: Sequence[CID],
    ops: Any,
    *,
    wall: int | None = None,
    encoded: list[bytes] | None = None,
) -> Entry:
    """Encode, sign and address a new entry. ``clock.id`` must be the identity's public key;
    ``wall`` defaults to now (ms since the epoch); ``encoded``: when ``ops`` is a list, its items
    each encoded already (``codec.encode``), which are not encoded again."""
    if clock.id != identity.public_key:
        raise ValueError("the clock must carry the signing identity's public key")
    if wall is None:
        wall = _time.time_ns() // 1_000_000
    if not 0 <= wall < 2**63:
        raise ValueError("wall must be a non-negative 63-bit integer")
    ordered = tuple(sorted(set(parents)))
    ops_bytes = codec.encode(ops) if encoded is None else codec.encode_list(encoded)
    head, tail = _split_encoding(db, clock, ordered, ops_bytes, wall=wall)
    sig = identity.sign(b"\xa7" + head + tail)
    block = b"\xa8" + head + _K_SIG + cbor2.dumps(sig) + tail
    return Entry(cid_for_block(block), db, clock, ordered, ops, sig, block, VERSION, wall)


def _field(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedEntry(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def decode_entry(
    data: bytes,
    expected_cid: CID | None = None,
    *,
    max_size: int = DEFAULT_MAX_ENTRY_SIZE,
    verify_signature: bool = True,
    checked: bool = False,
) -> Entry:
    """Strictly decode and verify an encoded entry.

    Raises a specific :class:`~p2pdb.log.errors.EntryError` subclass for every defect: size over
    ``max_size``, invalid CBOR or wrong field types, unknown version, non-canonical bytes, a CID
    that does not match, or a bad signature. Never returns a partly checked entry.

    ``checked`` (with ``expected_cid``): these exact bytes were fully verified before, by this
    function, as ``expected_cid`` (a block this node stored, or one its verifier process checked,
    :mod:`p2pdb.log.verifier`): the hash, the byte walk and the signature are not done again.
    """
    if checked:
        if expected_cid is None:
            raise ValueError("a checked block needs its CID")
        return _decode_fields(codec.as_bytes(data), expected_cid, checked=True, verify_signature=False)
    # 1. Size first, so that nothing large is ever parsed.
    data = codec.as_bytes(data)
    if len(data) > max_size:
        raise EntryTooLarge(f"entry of {len(data)} bytes exceeds the limit of {max_size}", expected_cid)
    # 2. Content address: the bytes must hash to the CID they were announced under.
    cid = cid_for_block(data)
    if expected_cid is not None and cid != expected_cid:
        raise CIDMismatch(f"bytes hash to {cid}, expected {expected_cid}", expected_cid)
    # 3. Strict dag-cbor before anything else looks at the bytes: a linear-time check of every
    #    byte (no tag but 42, no shared references, no indefinite lengths, bounded nesting and
    #    item count, canonical form), and only then are objects built.
    return _decode_fields(data, cid, checked=False, verify_signature=verify_signature)


def _decode_fields(data: bytes, cid: CID, *, checked: bool, verify_signature: bool) -> Entry:
    try:
        raw = codec.decode(data, max_depth=MAX_BLOCK_DEPTH, max_items=MAX_BLOCK_ITEMS, validated=checked)
    except EntryError as exc:
        exc.cid = cid
        raise
    if not isinstance(raw, dict):
        raise MalformedEntry("an entry is a map", cid)
    try:
        # The version comes first: another version may have other fields.
        v = _field(raw.get("v"), int, "v")
        if v not in VERSIONS:
            raise UnsupportedVersion(f"entry version {v} is not supported (expected {VERSION})", cid)
        if v == 1 and set(raw) != _FIELDS_V1:
            raise MalformedEntry("an entry is a map of exactly v, db, clock, parents, ops, author, sig")
        if v >= 2 and set(raw) != _FIELDS:
            raise MalformedEntry("an entry is a map of exactly v, db, clock, parents, ops, author, sig, wall")
        wall = 0
        if v >= 2:
            wall = _field(raw["wall"], int, "wall")
            if not 0 <= wall < 2**63:
                raise MalformedEntry("wall must be a non-negative 63-bit integer")
        db = _field(raw["db"], str, "db")
        if not db or len(db) > MAX_DB_LENGTH:
            raise MalformedEntry("field 'db' is empty or too long")
        clock_map = _field(raw["clock"], dict, "clock")
        if set(clock_map) != {"id", "time"}:
            raise MalformedEntry("field 'clock' must hold exactly 'id' and 'time'")
        time = _field(clock_map["time"], int, "clock.time")
        author = _field(raw["author"], bytes, "author")
        if time < 1 or time >= 2**63:
            raise MalformedEntry("clock.time must be a positive 63-bit integer")
        if len(author) != PUBLIC_KEY_LENGTH or clock_map["id"] != author:
            raise MalformedEntry("author must be a 32-byte key equal to clock.id")
        parents = _field(raw["parents"], list, "parents")
        if len(parents) > MAX_PARENTS or not all(isinstance(p, CID) for p in parents):
            raise MalformedEntry("parents must be a list of at most 1024 CIDs")
        if any(a >= b for a, b in itertools.pairwise(parents)):
            raise NonCanonicalEncoding("parents must be sorted and unique")
        sig = _field(raw["sig"], bytes, "sig")
        if len(sig) != SIGNATURE_LENGTH:
            raise MalformedEntry("sig must be 64 bytes")
        ops = raw["ops"]
        clock = Clock(time, author)
        if checked:  # its canonical form and signature were proven when it was first checked
            return Entry(cid, db, clock, tuple(parents), ops, sig, data, v, wall)
        # 4. Canonical form, checked again: rebuild the bytes of every field around `ops` (whose
        #    canonical form the strict decoder has proven) and compare.
        head, tail = _split_encoding(db, clock, parents, b"", v, wall)
        after_ops = _K_SIG + cbor2.dumps(sig) + tail
    except MalformedEntry as exc:
        exc.cid = cid
        raise
    except ValueError as exc:
        raise MalformedEntry(str(exc), cid) from exc
    ops_end = len(data) - len(after_ops)
    header = 0xA7 if v == 1 else 0xA8
    if not (
        data[0] == header
        and ops_end > len(head) + 1
        and data.startswith(head, 1)
        and data.endswith(after_ops)
    ):
        raise NonCanonicalEncoding("bytes are not the canonical dag-cbor encoding of the entry", cid)
    # 5. Signature over exactly the canonical fields without `sig`.
    if verify_signature and not verify(author, sig, bytes((header - 1,)) + data[1:ops_end] + tail):
        raise InvalidSignature("signature does not verify against the author key", cid)
    return Entry(cid, db, clock, tuple(parents), ops, sig, data, v, wall)
