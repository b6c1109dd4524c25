"""Manifests: database addresses derived from (network, name), write access, strict decoding."""

from __future__ import annotations

from typing import Any

import pytest
from multiformats import CID as MfCID
from multiformats import multihash

from p2pdb.log import ANYONE, DEFAULT_NETWORK_ID, MalformedEntry, Manifest, codec, database_address

from .helpers import ALICE, BOB, CAROL


def test_address_is_a_raw_cid_of_network_and_name() -> None:
    material = b"p2pdb/db/v1\x00" + DEFAULT_NETWORK_ID.encode() + b"\x00" + b"shop"
    expected = MfCID("base32", 1, "raw", multihash.digest(material, "sha2-256"))
    assert database_address(DEFAULT_NETWORK_ID, "shop") == str(expected)
    assert database_address(DEFAULT_NETWORK_ID, "shop").startswith("bafkrei")


def test_same_name_same_database_everywhere() -> None:
    # Two peers creating `shop` concurrently, with different owners, name the same database.
    mine = Manifest("shop", owners=(ALICE.public_key,))
    theirs = Manifest("shop", owners=(BOB.public_key,))
    assert mine.address == theirs.address == database_address(DEFAULT_NETWORK_ID, "shop")
    assert Manifest("shop", network_id="private").address != mine.address
    assert Manifest("shop2").address != mine.address
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert database_address("ab", "c") != database_address("a", "bc")


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError):
        database_address(DEFAULT_NETWORK_ID, "")
    with pytest.raises(ValueError):
        Manifest("")


def test_can_write() -> None:
    open_db = Manifest("shop")
    assert open_db.writers == ANYONE
    assert open_db.can_write(ALICE.public_key) and open_db.can_write(BOB.public_key)
    closed = Manifest("shop", owners=(ALICE.public_key,), writers=(BOB.public_key,))
    assert closed.can_write(ALICE.public_key)  # owners may always write
    assert closed.can_write(BOB.public_key)
    assert not closed.can_write(CAROL.public_key)
    owners_only = Manifest("shop", owners=(ALICE.public_key,), writers=())
    assert owners_only.can_write(ALICE.public_key)
    assert not owners_only.can_write(BOB.public_key)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"writers": "everyone"},
        {"owners": (b"short",)},
        {"writers": (ALICE.public_key + b"x",)},
        {"owners": ("alice",)},
    ],
)
def test_invalid_manifests_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Manifest("shop", **kwargs)


def test_encode_decode_round_trip() -> None:
    manifest = Manifest("shop", "net", owners=(ALICE.public_key,), writers=(CAROL.public_key, BOB.public_key))
    data = manifest.encode()
    assert codec.decode(data) == {
        "name": "shop",
        "network": "net",
        "owners": [ALICE.public_key],
        "writers": sorted([BOB.public_key, CAROL.public_key]),
    }
    decoded = Manifest.decode(data)
    assert decoded.address == manifest.address
    assert set(decoded.writers) == set(manifest.writers)
    assert decoded.encode() == data
    anyone = Manifest.decode(Manifest("shop").encode())
    assert anyone.writers == ANYONE


GOOD: dict[str, Any] = {"name": "shop", "network": "net", "owners": [], "writers": "*"}


@pytest.mark.parametrize(
    "value",
    [
        [],
        "shop",
        {},
        {**GOOD, "extra": 1},
        {k: v for k, v in GOOD.items() if k != "owners"},
        {**GOOD, "name": 5},
        {**GOOD, "name": None},
        {**GOOD, "name": b"shop"},
        {**GOOD, "name": ""},
        {**GOOD, "network": 1},
        {**GOOD, "network": ["net"]},
        {**GOOD, "owners": 5},
        {**GOOD, "owners": "ab"},
        {**GOOD, "owners": [b"short"]},
        {**GOOD, "writers": 5},
        {**GOOD, "writers": "x"},
        {**GOOD, "writers": [1]},
        {**GOOD, "writers": {}},
    ],
)
def test_from_ipld_rejects_garbage_with_malformed_entry(value: Any) -> None:
    with pytest.raises(MalformedEntry):
        Manifest.from_ipld(value)
    with pytest.raises(MalformedEntry):
        Manifest.decode(codec.encode(value))


def test_decode_rejects_non_canonical_bytes() -> None:
    with pytest.raises(MalformedEntry):
        Manifest.decode(b"\xff")
