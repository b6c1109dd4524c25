"""The quick way of strict decoding (libipld, then cbor2) accepts nothing the byte walk refuses.

``codec.decode`` first tries :func:`codec._decode_fast`; whatever it does not accept goes through
the walk (``_scan``), which alone refuses. These tests
feed both ways the same bytes: canonical encodings, and *sloppy* encodings of the same values
(long heads, unsorted or repeated keys, 16- and 32-bit floats, indefinite lengths, other tags),
single-byte damage, and nesting around the limit, and require the same outcome: the same value, or
the same error type.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.log import codec
from p2pdb.log.cid import CID, cid_for_block
from p2pdb.log.errors import MalformedEntry, NonCanonicalEncoding

from .helpers import ipld_values

values = ipld_values(text=30, binary=40, width=6, key=6, leaves=30)


def outcome(fn: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "value", fn(data)
    except (MalformedEntry, NonCanonicalEncoding) as exc:
        return "error", type(exc)


def by_the_walk(data: bytes) -> Any:
    codec._validate_slowly(data, codec.MAX_DEPTH, codec.MAX_ITEMS)
    return codec.decode(data, validated=True)


def same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    """Outcomes are equal; floats compared by their bits (-0.0 is not 0.0)."""
    return bool(_key(a) == _key(b))


def _key(value: Any) -> Any:
    if isinstance(value, float):
        return ("float", struct.pack(">d", value))
    if isinstance(value, CID):
        return ("cid", bytes(value))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _key(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def check(data: bytes) -> None:
    expected = outcome(by_the_walk, data)
    assert same(outcome(codec.decode, data), expected), data.hex()
    fast = codec._decode_fast(data, codec.MAX_DEPTH, codec.MAX_ITEMS)
    if fast is not codec._UNSURE:  # what the quick way accepts, the walk accepts, as the same value
        assert same(("value", fast), expected), data.hex()
    try:
        codec.validate(data)
        accepted = True
    except (MalformedEntry, NonCanonicalEncoding) as exc:
        accepted = False
        assert expected == ("error", type(exc))
    assert accepted == (expected[0] == "value")


# -- a sloppy encoder: valid CBOR of the same value, in forms dag-cbor may forbid ------------------


def _head(draw: Any, major: int, arg: int) -> bytes:
    smallest = 0 if arg < 24 else 1 if arg < 256 else 2 if arg < 65536 else 3 if arg < 2**32 else 4
    width = draw(st.sampled_from([smallest, smallest, smallest, *range(smallest, 5)]))
    if width == 0:
        return bytes([major << 5 | arg])
    size = 1 << (width - 1)
    return bytes([major << 5 | (23 + width)]) + arg.to_bytes(size, "big")


def _sloppy(draw: Any, value: Any, depth: int = 0) -> bytes:
    if value is None:
        return b"\xf6"
    if value is True or value is False:
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, CID):
        inner = b"\x00" + bytes(value)
        tag: bytes = draw(st.sampled_from([b"\xd8\x2a", b"\xd8\x2a", b"\xd9\x00\x2a", b"\xd8\x2b"]))
        return tag + _head(draw, 2, len(inner)) + inner
    if isinstance(value, int):
        return _head(draw, 0, value) if value >= 0 else _head(draw, 1, -1 - value)
    if isinstance(value, float):
        forms = [b"\xfb" + struct.pack(">d", value)]
        if abs(value) < 3.0e38 and struct.unpack(">f", struct.pack(">f", value))[0] == value:
            forms.append(b"\xfa" + struct.pack(">f", value))
        form: bytes = draw(st.sampled_from(forms))
        return form
    if isinstance(value, (str, bytes)):
        raw = value.encode("utf-8") if isinstance(value, str) else value
        major = 3 if isinstance(value, str) else 2
        if draw(st.integers(0, 9)) == 0:  # indefinite length, in chunks
            return bytes([major << 5 | 31]) + _head(draw, major, len(raw)) + raw + b"\xff"
        return _head(draw, major, len(raw)) + raw
    if isinstance(value, list):
        items = [_sloppy(draw, v, depth + 1) for v in value]
        if draw(st.integers(0, 9)) == 0:
            return b"\x9f" + b"".join(items) + b"\xff"
        return _head(draw, 4, len(items)) + b"".join(items)
    assert isinstance(value, dict)
    keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
    order = draw(st.sampled_from(["canonical", "canonical", "reversed", "by text", "repeat first"]))
    if order == "reversed":
        keys = keys[::-1]
    elif order == "by text":
        keys = sorted(keys)
    pairs = [(k, value[k]) for k in keys]
    if order == "repeat first" and pairs:
        pairs.append(pairs[0])
    body = b"".join(_sloppy(draw, k, depth + 1) + _sloppy(draw, v, depth + 1) for k, v in pairs)
    return _head(draw, 5, len(pairs)) + body


@st.composite
def encodings(draw: Any) -> bytes:
    value = draw(values)
    pad = draw(st.integers(0, 80))  # longer values, with more room for damage
    wrapped = [value, "p" * pad] if pad else value
    data = _sloppy(draw, wrapped) if draw(st.booleans()) else codec.encode(wrapped)
    damage = draw(st.sampled_from(["none", "none", "flip", "insert", "delete", "truncate", "append"]))
    if damage == "none" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if damage == "flip":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if damage == "insert":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at:]
    if damage == "delete":
        return data[:at] + data[at + 1 :]
    if damage == "truncate":
        return data[:at]
    return data + bytes([draw(st.integers(0, 255))])


@given(encodings())
@settings(max_examples=600, deadline=None)
def test_the_quick_way_and_the_walk_agree_on_any_encoding(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize("depth", [62, 63, 64, 65, 66])
@pytest.mark.parametrize(
    "innermost",
    [b"\x00", b"\x80", b"\xa0", b"\xd8\x2a\x58\x25\x00" + bytes(cid_for_block(b"x")), b"\x9f\xff"],
    ids=["int", "empty list", "empty map", "cid", "indefinite"],
)
@pytest.mark.parametrize("opener", [b"\x81", b"\xa1\x61k"], ids=["lists", "maps"])
def test_nesting_around_the_limit_gets_the_walks_answer(opener: bytes, innermost: bytes, depth: int) -> None:
    data = opener * depth + innermost
    data = b"\x82" + data + b"\x78\x40" + b"p" * 64
    check(data)


def test_a_value_that_passes_the_quick_way_takes_it() -> None:
    """Not only agreement: the quick way must actually accept the common case (or it is no use)."""
    data = codec.encode({"ops": [{"i": True, "k": [n], "v": {"a": n, "b": f"value {n}"}} for n in range(50)]})
    assert codec._decode_fast(data, codec.MAX_DEPTH, codec.MAX_ITEMS) == codec.decode(data, validated=True)


def test_non_canonical_bytes_are_left_to_the_walk() -> None:
    value = {"a": 1, "b": "x" * 80}
    canonical = codec.encode(value)
    wide = canonical.replace(b"\x61a\x01", b"\x61a\x18\x01")  # 1 in a two-byte head
    assert codec._decode_fast(wide, codec.MAX_DEPTH, codec.MAX_ITEMS) is codec._UNSURE
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(wide)
    assert cbor2.loads(wide) == value  # plain CBOR, just not dag-cbor


def test_without_libipld_the_walk_decodes_alone() -> None:
    """The dependency missing (no wheel for the platform) costs speed, never a wrong answer: a fresh
    interpreter where ``import libipld`` fails still decodes, and still refuses non-canonical bytes."""
    script = """
import sys
sys.modules["libipld"] = None  # any import of it now raises ImportError
from p2pdb.log import codec
from p2pdb.log.cid import cid_for_block
from p2pdb.log.errors import NonCanonicalEncoding
assert codec.libipld is None
value = {"ops": [{"k": [1], "v": "x" * 70}], "parents": [cid_for_block(b"p")]}
data = codec.encode(value)
assert codec._decode_fast(data, codec.MAX_DEPTH, codec.MAX_ITEMS) is codec._UNSURE
assert codec.decode(data) == value
try:
    codec.decode(data.replace(b"\\x81\\x01", b"\\x81\\x18\\x01"))
except NonCanonicalEncoding:
    print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
