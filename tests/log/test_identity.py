"""Identity: a persistent 0600 Ed25519 key, libp2p peer ids, signatures."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import multibase, multihash

from p2pdb.log import Identity, IdentityError, peer_id, verify
from p2pdb.log.identity import base58btc, peer_id_bytes

# libp2p peer-id spec test vector (libp2p/specs peer-ids/peer-ids.md): the Ed25519 private key
# protobuf 0801 1240 <seed || public key> and public key protobuf 0801 1220 <public key>.
SPEC_SEED = bytes.fromhex("7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d")
SPEC_PUBLIC_KEY = bytes.fromhex("1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
SPEC_PUBLIC_PROTOBUF = bytes.fromhex(
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"
)
# Its peer id, as computed by go-libp2p and other implementations from that key.
SPEC_PEER_ID = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """A permissive umask, to prove the 0600 mode does not depend on the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_once_with_0600_and_reloaded(tmp_path: Path, umask_zero: None) -> None:
    key = tmp_path / "data" / "identity.key"
    first = Identity.load_or_create(key)
    assert key.exists()
    assert mode_of(key) == 0o600
    content = key.read_bytes()
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----")
    second = Identity.load_or_create(key)  # restart
    assert second.peer_id == first.peer_id
    assert second.public_key == first.public_key
    assert key.read_bytes() == content  # never rewritten
    third = Identity.load(key)
    assert third.peer_id == first.peer_id
    # A signature from before the restart verifies with the reloaded key and vice versa.
    assert verify(third.public_key, first.sign(b"m"), b"m")
    assert verify(first.public_key, third.sign(b"m"), b"m")


def test_two_nodes_get_different_identities(tmp_path: Path) -> None:
    a = Identity.load_or_create(tmp_path / "a.key")
    b = Identity.load_or_create(tmp_path / "b.key")
    assert a.peer_id != b.peer_id


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o004])
def test_permissive_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    key = tmp_path / "identity.key"
    Identity.load_or_create(key)
    key.chmod(mode)
    with pytest.raises(IdentityError, match="chmod 600"):
        Identity.load_or_create(key)
    with pytest.raises(IdentityError):
        Identity.load(key)


def test_0400_is_accepted(tmp_path: Path) -> None:
    key = tmp_path / "identity.key"
    created = Identity.load_or_create(key)
    key.chmod(0o400)
    assert Identity.load(key).peer_id == created.peer_id


def test_missing_garbage_and_foreign_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IdentityError):
        Identity.load(tmp_path / "absent.key")
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(IdentityError):
        Identity.load(garbage)
    foreign = tmp_path / "ec.key"
    foreign.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    foreign.chmod(0o600)
    with pytest.raises(IdentityError, match="not an Ed25519"):
        Identity.load(foreign)


def test_save_never_overwrites(tmp_path: Path) -> None:
    key = tmp_path / "identity.key"
    original = Identity.load_or_create(key)
    with pytest.raises(FileExistsError):
        Identity.generate().save(key)
    assert Identity.load(key).peer_id == original.peer_id


def test_libp2p_spec_vector() -> None:
    identity = Identity.from_seed(SPEC_SEED)
    assert identity.public_key == SPEC_PUBLIC_KEY
    assert peer_id_bytes(SPEC_PUBLIC_KEY) == b"\x00\x24" + SPEC_PUBLIC_PROTOBUF
    assert identity.peer_id == SPEC_PEER_ID
    assert peer_id(SPEC_PUBLIC_KEY) == SPEC_PEER_ID
    assert repr(identity) == f"Identity({SPEC_PEER_ID})"


def independent_peer_id(public_key: bytes) -> str:
    """The peer id computed with ``multiformats``: identity multihash of the protobuf key, base58btc."""
    digest = multihash.wrap(b"\x08\x01\x12\x20" + public_key, "identity")
    encoded = multibase.encode(digest, "base58btc")
    assert encoded.startswith("z")  # multibase prefix, not part of a libp2p peer id
    return encoded[1:]


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=50, deadline=None)
def test_peer_id_matches_multiformats(seed: bytes) -> None:
    identity = Identity.from_seed(seed)
    assert identity.peer_id.startswith("12D3KooW")
    assert identity.peer_id == independent_peer_id(identity.public_key)


def test_base58btc_leading_zeros_and_empty() -> None:
    assert base58btc(b"") == ""
    assert base58btc(b"\x00\x00\x01") == "112"
    assert base58btc(b"hello world") == multibase.encode(b"hello world", "base58btc")[1:]


def test_peer_id_rejects_wrong_key_length() -> None:
    with pytest.raises(ValueError):
        peer_id(b"\x01" * 31)


def test_sign_and_verify() -> None:
    identity = Identity.from_seed(b"\x05" * 32)
    other = Identity.from_seed(b"\x06" * 32)
    message = b"the canonical bytes of an entry"
    sig = identity.sign(message)
    assert len(sig) == 64
    assert sig == identity.sign(message)  # Ed25519 is deterministic
    assert verify(identity.public_key, sig, message)
    # Independent implementation (OpenSSL via cryptography) accepts it too.
    Ed25519PublicKey.from_public_bytes(identity.public_key).verify(sig, message)
    with pytest.raises(CryptoInvalidSignature):
        Ed25519PublicKey.from_public_bytes(other.public_key).verify(sig, message)


def test_verify_rejections() -> None:
    identity = Identity.from_seed(b"\x05" * 32)
    other = Identity.from_seed(b"\x06" * 32)
    message = b"message"
    sig = identity.sign(message)
    assert not verify(other.public_key, sig, message)  # wrong key
    assert not verify(identity.public_key, sig, message + b"!")  # modified message
    assert not verify(identity.public_key, sig, b"")  # empty message
    assert not verify(identity.public_key, sig[:-1], message)  # short signature
    assert not verify(identity.public_key, sig + b"\x00", message)  # long signature
    assert not verify(identity.public_key, b"", message)
    assert not verify(identity.public_key[:31], sig, message)  # short key
    assert not verify(bytes(32), sig, message)  # not a valid key point for this signature
    assert not verify(identity.public_key, other.sign(message), message)
    for i in range(64):
        flipped = bytearray(sig)
        flipped[i] ^= 0x01
        assert not verify(identity.public_key, bytes(flipped), message), i
