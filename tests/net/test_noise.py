"""Noise XX / XXpsk3 against published vectors and an independent implementation; frames (sans I/O)."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.net.frames import (
    MAX_FRAME_PLAINTEXT,
    FrameDecoder,
    FrameEncoder,
    ProtocolError,
    length_prefixed,
)
from p2pdb.net.noise import (
    CipherState,
    HandshakeState,
    NoiseError,
    generate_private_key,
    public_key,
)

# -- cacophony test vectors -------------------------------------------------------------------------
# From the cacophony vector file (Noise revision 34) that snow ships as tests/vectors/cacophony.txt
# (github.com/mcginty/snow). Messages 0-2 are the handshake, 3-5 transport messages.

_PROLOGUE = "4a6f686e2047616c74"
_INIT_STATIC = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"
_INIT_EPHEMERAL = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"
_RESP_STATIC = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"
_RESP_EPHEMERAL = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"
_PSK = "54686973206973206d7920417573747269616e20706572737065637469766521"
_PAYLOADS = [
    "4c756477696720766f6e204d69736573",
    "4d757272617920526f746862617264",
    "462e20412e20486179656b",
    "4361726c204d656e676572",
    "4a65616e2d426170746973746520536179",
    "457567656e2042f6686d20766f6e2042617765726b",
]

VECTORS = {
    "Noise_XX_25519_ChaChaPoly_SHA256": {
        "psk": None,
        "handshake_hash": "c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e",
        "ciphertexts": [
            "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573",
            "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285"
            "e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f"
            "8814c7194e83f23dbd8d162c9326ad",
            "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f"
            "58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030",
            "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df",
            "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5",
            "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f",
        ],
    },
    "Noise_XXpsk3_25519_ChaChaPoly_SHA256": {
        "psk": _PSK,
        "handshake_hash": "a477edf6a131bbdb54707f6ea30eab6cd935d9b560f0e5fd1f053a95a99669fb",
        "ciphertexts": [
            "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944c9f5ff0e8079630cb7e270c20bbf4808"
            "21b77a384a645c71a2fd9b3db1c16a5f",
            "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843b123def17f71e6ae8e57e0e1dec5949c"
            "5f7415c6f33517398747d821a06dc23ad430aa1fd7381d46195c378a819fd574425462cbb2d4ca339e738a0b7001dc91"
            "423fbf55a99af0c6f1df21012ceb2f",
            "52187316111b118d4c060364f7b975dc0809b2590779aff2d63113c564f11744493384db7bf32d5ae6686df6ab06d508"
            "d2e07caaf1d6afc010b978735fc78900e71ae1d314130d042e729a",
            "eaedc672d4c21e0e2955758756fb98f194c4e90d5deb5b6cf30b27",
            "522d543c5fe799d09a3d9da7ff54d0dc03c8af1dc7751d2ff708339d2290943e98",
            "7d4e2c3873eef6a213b04e72f9df60a91666072d3544c5d96c34a09e2329b5030bee796741",
        ],
    },
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_cacophony_vector(name: str) -> None:
    vector = VECTORS[name]
    psk = bytes.fromhex(vector["psk"]) if vector["psk"] else None
    prologue = bytes.fromhex(_PROLOGUE)
    initiator = HandshakeState(
        True,
        bytes.fromhex(_INIT_STATIC),
        psk=psk,
        prologue=prologue,
        ephemeral_private=bytes.fromhex(_INIT_EPHEMERAL),
    )
    responder = HandshakeState(
        False,
        bytes.fromhex(_RESP_STATIC),
        psk=psk,
        prologue=prologue,
        ephemeral_private=bytes.fromhex(_RESP_EPHEMERAL),
    )
    ciphertexts = [bytes.fromhex(c) for c in vector["ciphertexts"]]
    payloads = [bytes.fromhex(p) for p in _PAYLOADS]
    # 1. the handshake: initiator writes messages 0 and 2, responder message 1
    for i in range(3):
        writer, reader = (initiator, responder) if i % 2 == 0 else (responder, initiator)
        message = writer.write_message(payloads[i])
        assert message == ciphertexts[i], f"handshake message {i}"
        assert reader.read_message(message) == payloads[i]
    assert initiator.complete and responder.complete
    assert initiator.handshake_hash.hex() == vector["handshake_hash"]
    assert responder.handshake_hash == initiator.handshake_hash
    assert initiator.remote_static == public_key(bytes.fromhex(_RESP_STATIC))
    assert responder.remote_static == public_key(bytes.fromhex(_INIT_STATIC))
    # 2. transport messages alternate, starting with the initiator
    i_send, i_recv = initiator.split()
    r_send, r_recv = responder.split()
    for i in range(3, 6):
        send, recv = (i_send, r_recv) if i % 2 == 0 else (r_send, i_recv)
        message = send.encrypt(b"", payloads[i])
        assert message == ciphertexts[i], f"transport message {i}"
        assert recv.decrypt(b"", message) == payloads[i]


# -- interoperability with an independent implementation (the noiseprotocol package) ---------------


def _run_interop(ours_initiates: bool, psk: bytes | None) -> None:
    connection = pytest.importorskip("noise.connection")
    name = b"Noise_XXpsk3_25519_ChaChaPoly_SHA256" if psk else b"Noise_XX_25519_ChaChaPoly_SHA256"
    prologue = b"interop"
    theirs_static, ours_static = generate_private_key(), generate_private_key()
    theirs = connection.NoiseConnection.from_name(name)
    (theirs.set_as_responder if ours_initiates else theirs.set_as_initiator)()
    theirs.set_keypair_from_private_bytes(connection.Keypair.STATIC, theirs_static)
    theirs.set_prologue(prologue)
    if psk:
        theirs.set_psks(psk=psk)
    theirs.start_handshake()
    ours = HandshakeState(ours_initiates, ours_static, psk=psk, prologue=prologue)
    for i in range(3):
        payload = os.urandom(i * 7)
        if (i % 2 == 0) == ours_initiates:
            assert theirs.read_message(ours.write_message(payload)) == payload
        else:
            assert ours.read_message(theirs.write_message(payload)) == payload
    assert theirs.handshake_finished and ours.complete
    assert ours.handshake_hash == theirs.get_handshake_hash()
    assert ours.remote_static == public_key(theirs_static)
    send, recv = ours.split()
    for size in (0, 1, 1000, MAX_FRAME_PLAINTEXT):
        data = os.urandom(size)
        assert theirs.decrypt(send.encrypt(b"", data)) == data
        assert recv.decrypt(b"", theirs.encrypt(data)) == data


@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "theirs-initiates"])
@pytest.mark.parametrize("psk", [None, b"k" * 32], ids=["XX", "XXpsk3"])
def test_interop_with_noiseprotocol(ours_initiates: bool, psk: bytes | None) -> None:
    _run_interop(ours_initiates, psk)


# -- failures ---------------------------------------------------------------------------------------


def _pair(psk_i: bytes | None = None, psk_r: bytes | None = None) -> tuple[HandshakeState, HandshakeState]:
    return (
        HandshakeState(True, generate_private_key(), psk=psk_i),
        HandshakeState(False, generate_private_key(), psk=psk_r),
    )


def test_tampered_handshake_message_fails() -> None:
    initiator, responder = _pair()
    responder.read_message(initiator.write_message())
    message = bytearray(responder.write_message(b"payload"))
    message[40] ^= 1  # inside the encrypted static key
    with pytest.raises(NoiseError):
        initiator.read_message(bytes(message))


def test_different_psks_fail_on_the_third_message() -> None:
    initiator, responder = _pair(b"a" * 32, b"b" * 32)
    responder.read_message(initiator.write_message())
    initiator.read_message(responder.write_message())
    with pytest.raises(NoiseError):
        responder.read_message(initiator.write_message())


def test_out_of_turn_and_truncated_messages_fail() -> None:
    initiator, responder = _pair()
    with pytest.raises(NoiseError):
        responder.write_message()
    with pytest.raises(NoiseError):
        initiator.read_message(b"\x00" * 32)
    with pytest.raises(NoiseError):
        responder.read_message(b"short")
    with pytest.raises(NoiseError):
        initiator.split()


def test_low_order_ephemeral_key_fails() -> None:
    _initiator, responder = _pair()
    responder.read_message(b"\x00" * 32)  # the all-zero point: any DH with it is all zeros
    with pytest.raises(NoiseError):
        responder.write_message()


def test_bad_key_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        HandshakeState(True, b"short")
    with pytest.raises(ValueError):
        HandshakeState(True, generate_private_key(), psk=b"short")


def test_transport_replay_and_reorder_fail() -> None:
    send, recv = CipherState(b"k" * 32), CipherState(b"k" * 32)
    first, second = send.encrypt(b"", b"one"), send.encrypt(b"", b"two")
    with pytest.raises(NoiseError):
        recv.decrypt(b"", second)
    assert recv.decrypt(b"", first) == b"one"
    with pytest.raises(NoiseError):
        recv.decrypt(b"", first)
    assert recv.decrypt(b"", second) == b"two"


# -- frames (sans I/O) ------------------------------------------------------------------------------

_KEY = b"f" * 32
_LIMIT = 300_000


def _codec(limit: int = _LIMIT) -> tuple[FrameEncoder, FrameDecoder]:
    return FrameEncoder(CipherState(_KEY), limit), FrameDecoder(CipherState(_KEY), limit)


@pytest.mark.parametrize(
    "size", [0, 1, MAX_FRAME_PLAINTEXT - 4, MAX_FRAME_PLAINTEXT - 3, 3 * MAX_FRAME_PLAINTEXT + 5]
)
def test_frames_round_trip_at_chunk_boundaries(size: int) -> None:
    encoder, decoder = _codec()
    message = os.urandom(size)
    frames = encoder.encode(message)
    assert all(len(f) <= 65537 for f in frames)
    assert decoder.feed(b"".join(frames)) == [message]
    assert decoder.buffered == 0


def test_frames_refuse_to_encode_over_the_limit() -> None:
    encoder, _ = _codec(limit=10)
    with pytest.raises(ValueError):
        encoder.encode(b"x" * 11)


def _encrypted(cipher: CipherState, plaintext: bytes) -> bytes:
    return length_prefixed(cipher.encrypt(b"", plaintext))


def test_declared_length_over_the_limit_is_a_protocol_error() -> None:
    cipher = CipherState(_KEY)
    decoder = FrameDecoder(CipherState(_KEY), 1000)
    with pytest.raises(ProtocolError, match="over the limit"):
        decoder.feed(_encrypted(cipher, (1001).to_bytes(4, "big") + b"x"))
    with pytest.raises(ProtocolError):  # a failed decoder stays failed
        decoder.feed(b"")


@pytest.mark.parametrize(
    ("plaintexts", "match"),
    [
        ([b"\x00\x00"], "shorter than its length header"),
        ([(3).to_bytes(4, "big") + b"toolong"], "more bytes than its message"),
        ([(200_000).to_bytes(4, "big") + b"short"], "not full"),
        ([(140_000).to_bytes(4, "big") + bytes(MAX_FRAME_PLAINTEXT - 4), b"x"], "not full"),
    ],
    ids=["short-header", "overlong", "short-first-chunk", "short-continuation"],
)
def test_malformed_chunks_are_protocol_errors(plaintexts: list[bytes], match: str) -> None:
    cipher = CipherState(_KEY)
    decoder = FrameDecoder(CipherState(_KEY), _LIMIT)
    with pytest.raises(ProtocolError, match=match):
        decoder.feed(b"".join(_encrypted(cipher, p) for p in plaintexts))


def test_frames_too_short_for_a_tag_and_bad_tags_are_protocol_errors() -> None:
    _, decoder = _codec()
    with pytest.raises(ProtocolError, match="cannot hold"):
        decoder.feed(b"\x00\x10" + bytes(16))
    encoder, decoder = _codec()
    frame = bytearray(encoder.encode(b"hello")[0])
    frame[-1] ^= 0x80
    with pytest.raises(ProtocolError, match="decrypt"):
        decoder.feed(bytes(frame))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_fuzz_random_bytes_only_raise_protocol_error(chunks: list[bytes]) -> None:
    _, decoder = _codec()
    try:
        for chunk in chunks:
            assert decoder.feed(chunk) == []
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 140_000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 600_000), max_size=12),
    flip=st.none() | st.tuples(st.integers(0, 600_000), st.integers(1, 255)),
)
def test_fuzz_valid_streams_split_anywhere_or_corrupted(
    sizes: list[int], cuts: list[int], flip: tuple[int, int] | None
) -> None:
    encoder, decoder = _codec()
    messages = [os.urandom(n) for n in sizes]
    stream = bytearray(b"".join(b"".join(encoder.encode(m)) for m in messages))
    if flip is not None:
        stream[flip[0] % len(stream)] ^= flip[1]
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    received: list[bytes] = []
    try:
        for start, end in itertools.pairwise(bounds):
            received += decoder.feed(bytes(stream[start:end]))
    except ProtocolError:
        assert flip is not None
    # whatever was delivered is a prefix of what was sent: corruption is never silent
    assert received == messages[: len(received)]
    if flip is None:
        assert received == messages
