"""Replication messages: round trips, strict decoding, size limits."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.net import messages
from p2pdb.net.frames import ProtocolError
from p2pdb.net.messages import (
    MAX_CID,
    MAX_CIDS,
    MAX_DB_NAME,
    MAX_PUBLISH_MORE,
    Blocks,
    Boundary,
    HandshakePayload,
    HandshakeVerdict,
    Heads,
    Hello,
    IHave,
    Message,
    Peers,
    Ping,
    Pong,
    Publish,
    Want,
    decode,
    encode,
)

CID = bytes.fromhex("01711220") + bytes(range(32))

EXAMPLES: list[Message] = [
    Hello(peer_id="12D3KooWabc", listen=["127.0.0.1:4001"], databases=["shop", "crm"], version=1),
    Heads(db="shop", heads=[CID, CID[::-1]]),
    Want(db="shop", cids=[CID]),
    Blocks(db="shop", blocks=[b"\xa1a\x01", b"block"]),
    Publish(db="shop", block=b"\xa1a\x01"),
    Publish(db="shop", block=b"\xa1a\x01", more=[b"b", b"c"]),
    IHave(db="shop", cids=[]),
    Peers(addresses=["127.0.0.1:4002", "[::1]:4003"]),
    Ping(nonce=0),
    Pong(nonce=2**63 - 1),
    Boundary(db="shop", blocks=[b"\xa1a\x01"], controls=[[CID]], below=[[CID, CID[::-1]]]),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    data = encode(message)
    assert decode(data) == message
    assert type(decode(data)) is type(message)


def test_wire_form_is_a_map_tagged_with_type() -> None:
    assert msgspec.msgpack.decode(encode(Ping(nonce=7))) == {"type": "ping", "nonce": 7}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = msgspec.msgpack.encode({"type": "want", "db": "shop", "cids": [CID], "priority": 3})
    assert decode(data) == Want(db="shop", cids=[CID])


def test_publishes_of_earlier_and_later_builds_decode() -> None:
    """A Publish without ``more`` (an earlier build) is one entry; a later build's reads as its
    entries in order, and an earlier build would take its first (unknown fields are ignored)."""
    one = msgspec.msgpack.encode({"type": "publish", "db": "shop", "block": b"a"})
    assert decode(one) == Publish(db="shop", block=b"a") and decode(one).blocks == [b"a"]  # type: ignore[union-attr]
    burst = encode(Publish(db="shop", block=b"a", more=[b"b", b"c"]))
    assert decode(burst).blocks == [b"a", b"b", b"c"]  # type: ignore[union-attr]
    assert msgspec.msgpack.decode(burst)["block"] == b"a"


def test_a_boundary_from_a_peer_that_names_no_floor_ancestors_still_decodes() -> None:
    data = msgspec.msgpack.encode({"type": "boundary", "db": "shop", "blocks": [b"x"], "controls": [[CID]]})
    assert decode(data) == Boundary(db="shop", blocks=[b"x"], controls=[[CID]], below=[])


def _raw(**fields: object) -> bytes:
    return msgspec.msgpack.encode(fields)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x93\x01\x02\x03",
        _raw(type="nope"),
        _raw(nonce=1),
        _raw(type="ping"),
        _raw(type="ping", nonce=-1),
        _raw(type="ping", nonce=2**64 - 1),
        _raw(type="ping", nonce="1"),
        _raw(type="want", db="", cids=[]),
        _raw(type="want", db="x" * (MAX_DB_NAME + 1), cids=[]),
        _raw(type="want", db="shop", cids=[b""]),
        _raw(type="want", db="shop", cids=[b"c" * (MAX_CID + 1)]),
        _raw(type="want", db="shop", cids=[CID] * (MAX_CIDS + 1)),
        _raw(type="want", db="shop", cids=["not bytes"]),
        _raw(type="publish", db="shop", block=b""),
        _raw(type="publish", db="shop", block=b"a", more=[b""]),
        _raw(type="publish", db="shop", block=b"a", more=[b"b"] * (MAX_PUBLISH_MORE + 1)),
        _raw(type="peers", addresses=[""]),
        _raw(type="hello", peer_id="p", listen=[], databases=[], version=-1),
        encode(Ping(nonce=1)) + b"\x00",
    ],
)
def test_malformed_messages_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_decode_only_raises_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(data)


_cid = st.binary(min_size=1, max_size=MAX_CID)
_db = st.text(min_size=1, max_size=MAX_DB_NAME)
_address = st.text(min_size=1, max_size=40)
_messages = st.one_of(
    st.builds(Hello, peer_id=st.text(min_size=1, max_size=60), listen=st.lists(_address, max_size=3),
              databases=st.lists(_db, max_size=3), version=st.integers(0, 2**32 - 1)),
    st.builds(Heads, db=_db, heads=st.lists(_cid, max_size=5)),
    st.builds(Want, db=_db, cids=st.lists(_cid, max_size=5)),
    st.builds(Blocks, db=_db, blocks=st.lists(st.binary(min_size=1, max_size=100), max_size=3)),
    st.builds(Publish, db=_db, block=st.binary(min_size=1, max_size=100),
              more=st.lists(st.binary(min_size=1, max_size=100), max_size=3)),
    st.builds(IHave, db=_db, cids=st.lists(_cid, max_size=5)),
    st.builds(Peers, addresses=st.lists(_address, max_size=3)),
    st.builds(Ping, nonce=st.integers(0, 2**63 - 1)),
    st.builds(Pong, nonce=st.integers(0, 2**63 - 1)),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_messages)
def test_fuzz_round_trip(message: Message) -> None:
    assert decode(encode(message)) == message


def test_handshake_structs_round_trip_and_are_strict() -> None:
    payload = HandshakePayload(version=1, network_id="n", identity_key=b"k" * 32, identity_sig=b"s" * 64)
    assert messages.decode_payload(messages.encode_handshake(payload)) == payload
    verdict = HandshakeVerdict(False, "no")
    assert messages.decode_verdict(messages.encode_handshake(verdict)) == verdict
    short_key = HandshakePayload(version=1, network_id="n", identity_key=b"k" * 31, identity_sig=b"s" * 64)
    with pytest.raises(msgspec.ValidationError):
        messages.decode_payload(messages.encode_handshake(short_key))
    with pytest.raises(msgspec.ValidationError):
        messages.decode_verdict(messages.encode_handshake(HandshakeVerdict(False, "x" * 201)))
