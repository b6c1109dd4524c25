"""Entries: layout, signing rule, and one specific error for every defect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.log import (
    CID,
    DEFAULT_MAX_ENTRY_SIZE,
    CIDMismatch,
    Clock,
    EntryError,
    EntryTooLarge,
    InvalidSignature,
    MalformedEntry,
    NonCanonicalEncoding,
    UnsupportedVersion,
    cid_for_block,
    codec,
    create_entry,
    decode_entry,
)

from .helpers import ALICE, BOB, craft_block, ipld_values, unsigned_fields

DB = "bafkreiexampledatabase"
P1 = cid_for_block(b"\x01")
P2 = cid_for_block(b"\x02")
OPS = {"table": "t", "rows": [[1, "a", 2.5, None, True, b"\x00"]], "link": P1}


def fields(**changes: Any) -> dict[str, Any]:
    """Valid entry fields by ALICE with some of them changed (``_REMOVE`` removes a field)."""
    base = unsigned_fields(ALICE, DB, time=3, parents=[P1, P2], ops=OPS)
    for key, value in changes.items():
        if value is _REMOVE:
            del base[key]
        else:
            base[key] = value
    return base


_REMOVE = object()


def test_create_and_decode_round_trip() -> None:
    entry = create_entry(ALICE, DB, Clock(3, ALICE.public_key), [P2, P1, P2], OPS)
    assert entry.parents == (P1, P2)  # sorted, duplicates dropped
    assert entry.cid == cid_for_block(entry.block)
    assert entry.author == ALICE.public_key
    assert entry.v == 2 and entry.wall > 1_700_000_000_000  # now, in ms
    decoded = decode_entry(entry.block, entry.cid)
    assert decoded == entry
    assert decoded.ops == OPS and isinstance(decoded.ops["link"], CID)
    assert repr(entry).startswith(f"Entry({entry.cid}, time=3")


def test_layout_is_the_canonical_map_of_the_fields() -> None:
    entry = create_entry(ALICE, DB, Clock(3, ALICE.public_key), [P1, P2], OPS, wall=1234)
    # The block is exactly the dag-cbor encoding of the eight fields, built independently here.
    assert entry.block == craft_block(fields(v=2, wall=1234), ALICE)
    value = codec.decode(entry.block)
    assert list(value) == ["v", "db", "ops", "sig", "wall", "clock", "author", "parents"]
    assert value["clock"] == {"id": ALICE.public_key, "time": 3}
    # `sig` signs the canonical encoding of every other field.
    unsigned = {k: v for k, v in value.items() if k != "sig"}
    assert value["sig"] == ALICE.sign(codec.encode(unsigned))


def test_a_version_1_entry_without_a_wall_time_is_still_read() -> None:
    entry = decode_entry(craft_block(fields(), ALICE))  # the helper crafts version 1
    assert entry.v == 1 and entry.wall == 0
    assert decode_entry(entry.block, entry.cid, checked=True).wall == 0


def test_the_wall_time_is_signed_and_checked() -> None:
    entry = create_entry(ALICE, DB, Clock(3, ALICE.public_key), [P1], OPS, wall=1_700_000_000_123)
    assert decode_entry(entry.block, entry.cid).wall == 1_700_000_000_123
    assert decode_entry(entry.block, entry.cid, checked=True).wall == 1_700_000_000_123
    signed = codec.decode(entry.block)
    forged = codec.encode({**signed, "wall": 1})  # another time under the author's signature
    with pytest.raises(InvalidSignature):
        decode_entry(forged)
    for bad in (fields(v=2), fields(v=2, wall=-1), fields(v=2, wall="now"), fields(v=1, wall=5)):
        with pytest.raises(MalformedEntry):
            decode_entry(craft_block(bad, ALICE))
    with pytest.raises(ValueError):
        create_entry(ALICE, DB, Clock(3, ALICE.public_key), [], None, wall=-1)


def test_create_refuses_a_clock_of_another_author() -> None:
    with pytest.raises(ValueError):
        create_entry(ALICE, DB, Clock(1, BOB.public_key), [], None)


def _ops_undefined() -> bytes:
    block = craft_block(fields(ops=None), ALICE)
    assert block.count(b"cops\xf6") == 1
    return block.replace(b"cops\xf6", b"cops\xf7")


def _ops_other_tag() -> bytes:
    block = craft_block(fields(ops=None), ALICE)
    return block.replace(b"cops\xf6", b"cops\xc6\x00")


MALFORMED: dict[str, Callable[[], bytes]] = {
    "not cbor": lambda: b"\xff",
    "empty": lambda: b"",
    "truncated": lambda: craft_block(fields(), ALICE)[:-1],
    "a list": lambda: codec.encode([1, 2, 3]),
    "an integer": lambda: codec.encode(1),
    "missing ops": lambda: craft_block(fields(ops=_REMOVE), ALICE),
    "missing author": lambda: craft_block(fields(author=_REMOVE), ALICE),
    "missing sig": lambda: codec.encode(fields()),
    "extra field": lambda: craft_block(fields(extra=1), ALICE),
    "v is a string": lambda: craft_block(fields(v="1"), ALICE),
    "v is a bool": lambda: craft_block(fields(v=True), ALICE),
    "v is a float": lambda: craft_block(fields(v=1.0), ALICE),
    "v is null": lambda: craft_block(fields(v=None), ALICE),
    "db is an int": lambda: craft_block(fields(db=5), ALICE),
    "db is bytes": lambda: craft_block(fields(db=DB.encode()), ALICE),
    "db is empty": lambda: craft_block(fields(db=""), ALICE),
    "db is too long": lambda: craft_block(fields(db="x" * 513), ALICE),
    "clock is a list": lambda: craft_block(fields(clock=[3, ALICE.public_key]), ALICE),
    "clock without time": lambda: craft_block(fields(clock={"id": ALICE.public_key}), ALICE),
    "clock with extra key": lambda: craft_block(
        fields(clock={"id": ALICE.public_key, "time": 3, "x": 1}), ALICE
    ),
    "time is a string": lambda: craft_block(fields(clock={"id": ALICE.public_key, "time": "3"}), ALICE),
    "time is a float": lambda: craft_block(fields(clock={"id": ALICE.public_key, "time": 3.0}), ALICE),
    "time is a bool": lambda: craft_block(fields(clock={"id": ALICE.public_key, "time": True}), ALICE),
    "time is zero": lambda: craft_block(fields(clock={"id": ALICE.public_key, "time": 0}), ALICE),
    "time is negative": lambda: craft_block(fields(clock={"id": ALICE.public_key, "time": -1}), ALICE),
    "time is 2**63": lambda: craft_block(fields(clock={"id": ALICE.public_key, "time": 2**63}), ALICE),
    "author is a string": lambda: craft_block(fields(author="alice"), ALICE),
    "author is 31 bytes": lambda: craft_block(
        fields(author=ALICE.public_key[:31], clock={"id": ALICE.public_key[:31], "time": 3}), ALICE
    ),
    "author differs from clock.id": lambda: craft_block(
        fields(clock={"id": BOB.public_key, "time": 3}), ALICE
    ),
    "clock.id is a string": lambda: craft_block(fields(clock={"id": "alice", "time": 3}), ALICE),
    "parents is a map": lambda: craft_block(fields(parents={}), ALICE),
    "parents holds bytes": lambda: craft_block(fields(parents=[bytes(P1)]), ALICE),
    "parents holds an int": lambda: craft_block(fields(parents=[1]), ALICE),
    "too many parents": lambda: craft_block(
        fields(parents=sorted(cid_for_block(i.to_bytes(2, "big")) for i in range(1025))), ALICE
    ),
    "sig is a string": lambda: craft_block(fields(), ALICE, sig="signature"),  # type: ignore[arg-type]
    "sig is 63 bytes": lambda: craft_block(fields(), ALICE, sig=ALICE.sign(codec.encode(fields()))[:63]),
    "sig is 65 bytes": lambda: craft_block(fields(), ALICE, sig=ALICE.sign(codec.encode(fields())) + b"\0"),
    "ops holds undefined": _ops_undefined,
    "ops holds another tag": _ops_other_tag,
    "ops holds NaN": lambda: craft_block(fields(ops=None), ALICE).replace(
        b"cops\xf6", b"cops\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00"
    ),
}


@pytest.mark.parametrize("make", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed(make: Callable[[], bytes]) -> None:
    data = make()
    with pytest.raises(MalformedEntry) as info:
        decode_entry(data)
    assert info.value.cid == cid_for_block(data)


def test_the_crafting_helper_makes_valid_entries() -> None:
    """The malformed cases differ from a valid entry only by what they name."""
    entry = decode_entry(craft_block(fields(), ALICE))
    assert entry.clock == Clock(3, ALICE.public_key)
    assert entry.parents == (P1, P2)
    assert decode_entry(craft_block(fields(ops=None), ALICE)).ops is None
    assert decode_entry(craft_block(fields(parents=[]), ALICE)).parents == ()


@pytest.mark.parametrize("version", [0, 3, 255, 2**64 - 1])
def test_unsupported_version(version: int) -> None:
    data = craft_block(fields(v=version), ALICE)  # properly signed: only the version is wrong
    with pytest.raises(UnsupportedVersion) as info:
        decode_entry(data)
    assert info.value.cid == cid_for_block(data)
    assert str(version) in str(info.value)


def test_unsupported_version_wins_over_unknown_fields() -> None:
    # A later version may add or drop fields: it is "unsupported", not "malformed".
    for changed in (fields(v=3, extra=[1, 2]), fields(v=3, ops=_REMOVE, sig2=b"")):
        with pytest.raises(UnsupportedVersion):
            decode_entry(craft_block(changed, ALICE))


def _alphabetical_keys() -> bytes:
    prepared = codec.prepare({**fields(), "sig": ALICE.sign(codec.encode(fields()))})
    return cbor2.dumps({key: prepared[key] for key in sorted(prepared)})


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, (old, data)
    return data.replace(old, new)


NON_CANONICAL: dict[str, Callable[[], bytes]] = {
    "keys sorted alphabetically": _alphabetical_keys,
    "non-minimal time": lambda: _replace_once(craft_block(fields(), ALICE), b"dtime\x03", b"dtime\x18\x03"),
    "non-minimal v": lambda: _replace_once(craft_block(fields(), ALICE), b"av\x01", b"av\x18\x01"),
    "half float in ops": lambda: _replace_once(
        craft_block(fields(ops=1.5), ALICE), b"cops\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00", b"cops\xf9\x3e\x00"
    ),
    "indefinite-length ops": lambda: _replace_once(
        craft_block(fields(ops=[1, 2]), ALICE), b"cops\x82\x01\x02", b"cops\x9f\x01\x02\xff"
    ),
    "unsorted parents (signed as such)": lambda: craft_block({**fields(), "parents": [P2, P1]}, ALICE),
    "duplicate parents (signed as such)": lambda: craft_block({**fields(), "parents": [P1, P1]}, ALICE),
    "trailing byte": lambda: craft_block(fields(), ALICE) + b"\x00",
}


@pytest.mark.parametrize("make", NON_CANONICAL.values(), ids=list(NON_CANONICAL))
def test_non_canonical(make: Callable[[], bytes]) -> None:
    data = make()
    with pytest.raises(NonCanonicalEncoding):
        decode_entry(data)


def test_too_large() -> None:
    data = craft_block(fields(), ALICE)
    assert decode_entry(data, max_size=len(data)).block == data
    with pytest.raises(EntryTooLarge):
        decode_entry(data, max_size=len(data) - 1)
    # Checked before parsing: even garbage over the limit is "too large", not "malformed".
    with pytest.raises(EntryTooLarge):
        decode_entry(b"\xff" * 100, max_size=99)
    big = create_entry(ALICE, DB, Clock(1, ALICE.public_key), [], b"x" * DEFAULT_MAX_ENTRY_SIZE)
    with pytest.raises(EntryTooLarge):
        decode_entry(big.block)
    assert decode_entry(big.block, max_size=len(big.block)).cid == big.cid


def test_cid_mismatch() -> None:
    data = craft_block(fields(), ALICE)
    other = cid_for_block(b"something else")
    with pytest.raises(CIDMismatch) as info:
        decode_entry(data, other)
    assert info.value.cid == other
    assert decode_entry(data, cid_for_block(data)).cid == cid_for_block(data)


def test_invalid_signature() -> None:
    good = fields()
    cases = {
        "signed by someone else": craft_block(good, BOB),
        "ops changed after signing": craft_block(
            fields(ops={"table": "t"}), ALICE, sig=ALICE.sign(codec.encode(good))
        ),
        "time changed after signing": craft_block(
            fields(clock={"id": ALICE.public_key, "time": 4}), ALICE, sig=ALICE.sign(codec.encode(good))
        ),
        "signature bytes zeroed": _replace_once(
            craft_block(good, ALICE), ALICE.sign(codec.encode(good))[:8], b"\x00" * 8
        ),
        "author and clock are another key": craft_block(
            fields(author=BOB.public_key, clock={"id": BOB.public_key, "time": 3}), ALICE
        ),
    }
    for why, data in cases.items():
        with pytest.raises(InvalidSignature):
            decode_entry(data)
        # Without signature checking (blocks from our own store) it decodes.
        assert decode_entry(data, verify_signature=False).cid == cid_for_block(data), why


# -- nothing but EntryError on garbage -------------------------------------------------------

VALID_BLOCKS = [
    craft_block(fields(), ALICE),
    craft_block(fields(ops=None, parents=[]), BOB),
    create_entry(ALICE, DB, Clock(7, ALICE.public_key), [P1], {"x": [1.5, -3, "é"]}).block,
]


@given(st.binary(max_size=400))
@settings(max_examples=400, deadline=None)
def test_random_bytes_raise_only_entry_errors(data: bytes) -> None:
    with pytest.raises(EntryError):
        decode_entry(data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bytes]:
    original = draw(st.sampled_from(VALID_BLOCKS))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            data.insert(i, draw(st.integers(0, 255)))
        elif kind == "delete":
            del data[i]
        else:
            del data[i:]
    return original, bytes(data)


@given(mutated())
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutations_raise_only_entry_errors(case: tuple[bytes, bytes]) -> None:
    original, data = case
    try:
        entry = decode_entry(data)
    except EntryError:
        return
    assert data == original  # the only block that decodes is the unmodified one
    assert entry.block == original


json_like = ipld_values(text=10, binary=70, width=4, key=8, leaves=12, links=st.just(P1))


@given(
    st.dictionaries(
        st.sampled_from(["v", "db", "ops", "sig", "clock", "author", "parents", "time", "id", "x"]),
        json_like,
        max_size=4,
    ),
    st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_wrong_shapes_raise_only_entry_errors(changes: dict[str, Any], sign: bool) -> None:
    """Canonical blocks whose fields hold arbitrary data-model values."""
    value = {**fields(), **changes}
    data = craft_block(value, ALICE) if sign else codec.encode(value)
    try:
        entry = decode_entry(data)
    except EntryError:
        return
    # Only a well-formed, well-signed entry may decode.
    assert sign
    assert entry.block == data
