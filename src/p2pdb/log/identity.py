"""Node identity: a persistent Ed25519 key pair and the libp2p-style peer id derived from it.

The private key is created once, written with 0600 permissions (PKCS#8 PEM) and loaded on every
restart; a key file readable by group or others is refused, as ssh does. The peer id follows the
libp2p convention: the identity multihash of the protobuf-encoded public key
(``KeyType.Ed25519 = 1``), shown in base58btc (``12D3KooW...``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from p2pdb.log.errors import IdentityError

PUBLIC_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    """Base58 (bitcoin alphabet) of ``data``, leading zero bytes kept as '1'."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_B58_ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(digits))


def public_key_from_peer_id(text: str) -> bytes:
    """The Ed25519 public key inside a peer id (``12D3KooW...``); ValueError if it holds none."""
    number = 0
    for char in text:
        index = _B58_ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"{text!r} is not base58btc")
        number = number * 58 + index
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(text) - len(text.lstrip("1"))) + raw
    if len(raw) != 38 or raw[:6] != b"\x00\x24\x08\x01\x12\x20":
        raise ValueError(f"{text!r} is not the peer id of an Ed25519 key")
    return raw[6:]


def peer_id_bytes(public_key: bytes) -> bytes:
    """Binary peer id: identity multihash (0x00, length) of the protobuf PublicKey message."""
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise ValueError("an Ed25519 public key is 32 bytes")
    # protobuf: field 1 (Type, varint) = 1 (Ed25519); field 2 (Data, bytes) = the raw key.
    proto = b"\x08\x01\x12\x20" + public_key
    return bytes((0x00, len(proto))) + proto


def peer_id(public_key: bytes) -> str:
    """The base58btc peer id string of an Ed25519 public key."""
    return base58btc(peer_id_bytes(public_key))


def x25519_public_key(public_key: bytes) -> bytes:
    """The X25519 public key of an Ed25519 identity key (raises ValueError for an invalid point)."""
    try:
        converted: bytes = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public_key)
    except nacl.exceptions.RuntimeError as exc:
        raise ValueError("not a valid Ed25519 public key") from exc
    return converted


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.

    Uses libsodium (PyNaCl): about twice as fast as OpenSSL's Ed25519 verify here, and
    verification is the cost that bounds how fast a node can join remote entries.
    """
    if len(signature) != SIGNATURE_LENGTH or len(public_key) != PUBLIC_KEY_LENGTH:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


class Identity:
    """An Ed25519 key pair that signs log entries."""

    __slots__ = ("_private", "_secret", "peer_id", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        seed = private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        self.public_key, self._secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        self.peer_id: str = peer_id(self.public_key)

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """Deterministic identity from a 32-byte seed (tests, fixtures)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> Identity:
        """Load the key at ``path``, or create it (mode 0600) if it does not exist yet."""
        key_path = Path(path)
        if key_path.exists():
            return cls.load(key_path)
        identity = cls.generate()
        identity.save(key_path)
        return identity

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        key_path = Path(path)
        try:
            mode = key_path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise IdentityError(
                    f"{key_path} is accessible by group or others (mode {stat.S_IMODE(mode):o});"
                    f" run: chmod 600 {key_path}"
                )
            private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except OSError as exc:
            raise IdentityError(f"cannot read identity key {key_path}: {exc}") from exc
        except ValueError as exc:
            raise IdentityError(f"{key_path} is not a PEM private key: {exc}") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise IdentityError(f"{key_path} holds a {type(private).__name__}, not an Ed25519 key")
        return cls(private)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private key as PKCS#8 PEM, creating the file with mode 0600 (never overwrites)."""
        key_path = Path(path)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        pem = self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())

    def x25519_private_key(self) -> bytes:
        """The X25519 secret of this identity (its Ed25519 key converted): opens key wraps sealed to
        :func:`x25519_public_key` of :attr:`public_key` (encrypted databases, docs/security.md)."""
        secret: bytes = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(self._secret)
        return secret

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) of ``message``."""
        signed: bytes = nacl.bindings.crypto_sign(message, self._secret)
        return signed[:SIGNATURE_LENGTH]

    def __repr__(self) -> str:
        return f"Identity({self.peer_id})"
