"""Canonical dag-cbor: published fixtures, key order, numbers, links and strict decoding."""

from __future__ import annotations

import math
import struct
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.log import CID, MalformedEntry, NonCanonicalEncoding, cid_for_block, codec

from .helpers import ipld_values as ipld_values_of

LINK = CID.parse("bafyreidj5idub6mapiupjwjsyyxhyhedxycv4vihfsicm2vt46o7morwlm")

# (value, canonical bytes, CID) from ipld/codec-fixtures (IPLD specs, dag-cbor cross-codec fixtures).
FIXTURES: list[tuple[str, Any, str, str]] = [
    (
        "map-keysort",
        {
            # given in bytewise order: encode() must reorder length-first
            "aaaaaa": 6,
            "aaaaab": 7,
            "aaaaac": 8,
            "aaaabb": 9,
            "bbbbb": 5,
            "cccc": 4,
            "ddd": 3,
            "ee": 2,
            "f": 1,
        },
        "a96166016265650263646464036463636363046562626262620566616161616161066661616161616207666161616161"
        "63086661616161626209",
        "bafyreifzcy56s5jog3scrc7c3rlaohrwu3recxgf5c7fddfjlnlhh6p6p4",
    ),
    (
        "array-5-nested",
        ["array", ["of", [5, ["nested", ["arrays", "!"]]]]],
        "8265617272617982626f66820582666e657374656482666172726179736121",
        "bafyreihmxfmn5wcpzpiqa6zfefgabxmd2jzr2bd4y2v7c2ss4plkgkabgq",
    ),
    (
        "map-with_complex_entries",
        {
            "one": 6433713753386423,
            "six": -1,
            "ten": -6433713753386424,
            "two": 65536,
            "five": 0,
            "four": 2,
            "nine": -2784428724,
            "eight": -256,
            "seven": -3,
            "three": 500,
            "eleven": b"a1",
            "twelve": "Čaues ßvěte!",
            "fourteen": {"f": "four", "o": 1, "t": 2, "th": 3},
            "thirteen": [2, 3, 4, "five"],
        },
        "ae636f6e651b0016db6db6db6db763736978206374656e3b0016db6db6db6db76374776f1a0001000064666976650064"
        "666f757202646e696e653aa5f702b365656967687438ff65736576656e226574687265651901f466656c6576656e4261"
        "31667477656c76656fc48c6175657320c39f76c49b74652168666f75727465656ea4616664666f7572616f0161740262"
        "74680368746869727465656e840203046466697665",
        "bafyreia3jgnpn6w3wpvdc7qlyv7rkqjmxrrdaqohtgmwwje5mbpcef6hkq",
    ),
    (
        "cid-bafyreidj5idub6mapiupjwjsyyxhyhedxycv4vihfsicm2vt46o7morwlm",
        LINK,
        "d82a5825000171122069ea0740f9807a28f4d932c62e7c1c83be055e55072c90266ab3e79df63a365b",
        "bafyreihfnilmqbnwzcmqrspmmyik5qdocjdrf3rnkuxb2aanrh2qycf6wy",
    ),
    (
        "int-18446744073709551615",
        2**64 - 1,
        "1bffffffffffffffff",
        "bafyreibnpsyje7iwfx3smzlnofkxqdyeqz3a4qzhwu33ktibq7sxeckrpq",
    ),
    (
        "string-Čaues__ßvěte!",
        "Čaues ßvěte!",
        "6fc48c6175657320c39f76c49b746521",
        "bafyreigxqkzjak6m4vnenitdpwfryihbvy3wotdle2ldsfgkebeh56ruda",
    ),
]


@pytest.mark.parametrize(("name", "value", "hex_bytes", "cid"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_published_fixtures(name: str, value: Any, hex_bytes: str, cid: str) -> None:
    data = bytes.fromhex(hex_bytes)
    assert codec.encode(value) == data
    if isinstance(value, dict):  # insertion order never matters
        assert codec.encode(dict(reversed(value.items()))) == data
    assert str(cid_for_block(data)) == cid
    decoded = codec.decode(data)
    assert decoded == value
    assert codec.encode(decoded) == data


def test_keys_are_sorted_length_first() -> None:
    # Bytewise order would put "aa" first; dag-cbor puts the shorter key first.
    assert codec.encode({"aa": 1, "b": 2}) == bytes.fromhex("a2 6162 02 626161 01")
    assert list(codec.decode(codec.encode({"aa": 1, "b": 2, "ab": 3}))) == ["b", "aa", "ab"]
    # Length is that of the UTF-8 encoding: "é" (2 bytes) sorts after "z" (1 byte).
    assert list(codec.decode(codec.encode({"é": 1, "z": 2}))) == ["z", "é"]


@pytest.mark.parametrize("value", [0.0, 1.5, -2.25, 1e300, 5e-324, 0.1])
def test_floats_are_always_64_bit(value: float) -> None:
    data = codec.encode(value)
    assert data == b"\xfb" + struct.pack(">d", value)
    assert codec.decode(data) == value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_cannot_be_encoded(value: float) -> None:
    with pytest.raises(ValueError):
        codec.encode(value)
    with pytest.raises(ValueError):
        codec.encode({"x": [value]})


@pytest.mark.parametrize("hex_bytes", ["fb7ff8000000000000", "fb7ff0000000000000", "f97e00", "f97c00"])
def test_nan_and_infinity_are_rejected_on_decode(hex_bytes: str) -> None:
    with pytest.raises(MalformedEntry):
        codec.decode(bytes.fromhex(hex_bytes))


def test_integer_range() -> None:
    assert codec.encode(2**64 - 1) == bytes.fromhex("1bffffffffffffffff")
    assert codec.encode(-(2**64)) == bytes.fromhex("3bffffffffffffffff")
    assert codec.decode(bytes.fromhex("3bffffffffffffffff")) == -(2**64)
    for too_big in (2**64, -(2**64) - 1, 2**100):
        with pytest.raises(ValueError):
            codec.encode(too_big)
        with pytest.raises(ValueError):
            codec.encode([{"n": too_big}])
    # A bignum (tag 2) beyond 64 bits is outside the data model.
    with pytest.raises(MalformedEntry):
        codec.decode(bytes.fromhex("c249010000000000000000"))


def test_cid_links_round_trip_as_tag_42() -> None:
    value = {"link": LINK, "links": [LINK, cid_for_block(b"\xa0")]}
    data = codec.encode(value)
    assert bytes.fromhex("d82a5825") + b"\x00" + bytes(LINK) in data
    decoded = codec.decode(data)
    assert decoded == value
    assert isinstance(decoded["link"], CID)
    assert all(isinstance(link, CID) for link in decoded["links"])
    # Plain bytes stay bytes, not links.
    assert type(codec.decode(codec.encode(bytes(LINK)))) is bytes


@pytest.mark.parametrize(
    ("hex_bytes", "why"),
    [
        ("a2 626161 01 6162 02", "keys sorted bytewise instead of length-first"),
        ("a2 6162 01 6161 02", "keys in reverse order"),
        ("a2 6161 01 6161 02", "duplicate key"),
        ("1801", "non-minimal integer (1 in two bytes)"),
        ("190001", "non-minimal integer (1 in three bytes)"),
        ("3800", "non-minimal negative integer"),
        ("f93e00", "half-precision float"),
        ("fa3fc00000", "single-precision float"),
        ("9f0102ff", "indefinite-length array"),
        ("bf616101ff", "indefinite-length map"),
        ("5f4101ff", "indefinite-length bytes"),
        ("7f6161ff", "indefinite-length string"),
        ("a0a0", "trailing bytes"),
        ("5800", "non-minimal byte string length"),
    ],
)
def test_non_canonical_inputs_are_rejected(hex_bytes: str, why: str) -> None:
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(bytes.fromhex(hex_bytes.replace(" ", "")))


@pytest.mark.parametrize(
    ("hex_bytes", "why"),
    [
        ("c600", "tag 6 (unassigned)"),
        ("d86400", "tag 100"),
        ("c11a514b67b0", "tag 1 (epoch date)"),
        ("c074323031332d30332d32315432303a30343a30305a", "tag 0 (date string)"),
        ("d9010280", "tag 258 (set)"),
        ("d82a4100", "tag 42 around a CID without a CID inside"),
        (
            "d82a5825010171122069ea0740f9807a28f4d932c62e7c1c83be055e55072c90266ab3e79df63a365b",
            "tag 42 without 0x00",
        ),
        ("d82a01", "tag 42 around an integer"),
        ("d82a582300122031c3d57080d8463a3c63b2923df5a1d40ad7a73eae5a14af584213e5f504ac33", "CIDv0 link"),
        ("f7", "undefined"),
        ("f0", "simple value 16"),
        ("a10102", "integer map key"),
        ("a1410102", "byte-string map key"),
        ("62c328", "invalid UTF-8"),
        ("", "empty input"),
        ("82", "truncated array"),
        ("5a ffffffff", "byte string longer than the input"),
        ("1c", "reserved additional information"),
        ("ff", "lone break"),
    ],
)
def test_malformed_inputs_are_rejected(hex_bytes: str, why: str) -> None:
    with pytest.raises(MalformedEntry):
        codec.decode(bytes.fromhex(hex_bytes.replace(" ", "")))


def test_deep_nesting_is_rejected() -> None:
    with pytest.raises(MalformedEntry):
        codec.decode(b"\x81" * 100 + b"\x00")
    assert codec.decode(b"\x81" * 10 + b"\x00") is not None


@pytest.mark.parametrize("value", [{1: 2}, {b"k": 1}, {1, 2}, object(), 1j, {"x": {"y": object()}}])
def test_values_outside_the_data_model_cannot_be_encoded(value: Any) -> None:
    with pytest.raises(ValueError):
        codec.encode(value)


def test_tuples_encode_as_lists() -> None:
    assert codec.encode((1, "a")) == codec.encode([1, "a"]) == bytes.fromhex("820161 61".replace(" ", ""))


ipld_values = ipld_values_of(text=20, binary=20, width=5, key=8, leaves=20)


@given(ipld_values)
@settings(max_examples=300, deadline=None)
def test_round_trip_and_agreement_with_cbor2_canonical(value: Any) -> None:
    data = codec.encode(value)
    decoded = codec.decode(data)
    assert codec.encode(decoded) == data
    # Independent check of the canonical form against cbor2's canonical mode (which also sorts
    # keys length-first) on values without floats (cbor2 canonical shrinks floats, dag-cbor does not).
    if not _has_float(value):
        tagged = codec.prepare(value)
        assert cbor2.dumps(tagged, canonical=True) == data


@given(st.lists(ipld_values, max_size=30), st.sampled_from([0, 1, 23, 24, 255, 256, 65535, 65536]))
@settings(max_examples=200, deadline=None)
def test_a_list_of_encoded_items_is_the_encoding_of_the_list(values: list[Any], copies: int) -> None:
    items = [codec.encode(v) for v in values]
    assert codec.encode_list(items) == codec.encode(values)
    many = [values[0] if values and len(items[0]) < 16 else "x"] * copies  # each length form of the head
    assert codec.encode_list([codec.encode(v) for v in many]) == codec.encode(many)


def test_encode_list_refuses_what_encode_refuses() -> None:
    with pytest.raises(codec.TooManyItems):
        codec.encode_list([codec.encode(0)] * (codec.MAX_ITEMS + 1))


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    return False


@given(st.binary(max_size=64))
@settings(max_examples=500, deadline=None)
def test_decode_raises_only_entry_errors(data: bytes) -> None:
    try:
        value = codec.decode(data)
    except (MalformedEntry, NonCanonicalEncoding):
        return
    assert codec.encode(value) == data


@given(st.lists(st.text(max_size=6), min_size=1, max_size=8, unique=True), st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_maps_with_the_same_keys_encode_alike_in_any_insertion_order(keys: list[str], rnd: Any) -> None:
    """The order of a map's keys is remembered by the keys in insertion order (codec._ORDERS):
    whatever order a map was built in, and whether its order was remembered or not, it encodes
    canonically."""
    shuffled = list(keys)
    rnd.shuffle(shuffled)
    maps = [{k: i for i, k in enumerate(keys)}, {k: keys.index(k) for k in shuffled}]
    expected = cbor2.dumps(maps[0], canonical=True)
    codec._ORDERS.clear()
    for _ in range(2):  # cold, then remembered
        for value in maps:
            assert codec.encode(value) == expected
            assert codec.encode([value, {"x": value}]) == cbor2.dumps(
                [maps[0], {"x": maps[0]}], canonical=True
            )


def test_a_map_with_a_key_that_is_no_string_is_refused_after_string_maps() -> None:
    assert codec.encode({"1": 0}) == codec.encode({"1": 0})
    with pytest.raises(ValueError, match="map keys must be strings"):
        codec.encode({1: 0})
    with pytest.raises(ValueError, match="map keys must be strings"):
        codec.encode({1.0: 0, "a": 1})


class _Text(str):
    pass


class _Number(int):
    pass


def _plain_prepare(value: Any, depth: int = 0) -> Any:
    """What ``codec.prepare`` must give, the plain way: one recursive step per value, no shortcuts."""
    if isinstance(value, CID):
        return cbor2.CBORTag(42, b"\x00" + bytes(value))
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, int):
        if not -(2**64) <= value <= 2**64 - 1:
            raise ValueError("out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not finite")
        return value
    if depth >= codec.MAX_DEPTH:
        raise ValueError("too deep")
    if isinstance(value, (list, tuple)):
        return [_plain_prepare(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("key")
        order = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {k: _plain_prepare(value[k], depth + 1) for k in order}
    raise ValueError("outside the data model")


_odd_scalars = (
    st.integers(min_value=-(2**66), max_value=2**66)  # some out of range
    | st.text(max_size=4).map(_Text)
    | st.integers(min_value=-5, max_value=5).map(_Number)
    | st.lists(st.integers(min_value=0, max_value=3), max_size=3).map(tuple)
)
_mixed_values = st.recursive(
    ipld_values | _odd_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=25,
)


@given(_mixed_values)
@settings(max_examples=500, deadline=None)
def test_encode_is_a_plain_recursive_prepare(value: Any) -> None:
    """The fast paths of ``prepare`` (flat values of maps and lists taken as they are) change
    nothing: the same bytes as the plain recursion, or a ValueError where it refuses, with integers
    out of range, str and int subclasses and tuples anywhere in maps and lists."""
    try:
        expected = cbor2.dumps(_plain_prepare(value))
    except ValueError:
        with pytest.raises(ValueError):
            codec.encode(value)
        return
    assert codec.encode(value) == expected
