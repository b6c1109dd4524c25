"""Encrypted databases: the ops of an entry sealed with a content key only readers hold.

An entry of an encrypted database keeps its clock, parents, author, signature and ACL ops in clear,
so any peer verifies, stores and forwards it (a blind relay); its other ops become one map

    {"enc": key id, "n": 24-byte nonce, "c": ciphertext}        (+ "ddl": true when they change the schema)

where ``c`` is XChaCha20-Poly1305 (libsodium, via PyNaCl) of the dag-cbor list of ops, with the
database's address as associated data. The content key (32 random bytes) reaches each reader in an
ACL ``key`` event as a sealed box to the reader's X25519 key, derived from its Ed25519 identity.
``"ddl": true`` tells every replica, readers or not, that the entry is a control entry; it is the only
thing the ciphertext gives away besides its size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import nacl.bindings
import nacl.exceptions
from nacl.public import PrivateKey, PublicKey, SealedBox

from p2pdb.acl import AclOp
from p2pdb.log import codec
from p2pdb.log.identity import Identity, x25519_public_key
from p2pdb.store.errors import InvalidOps, StoreError

KEY_LENGTH = 32
NONCE_LENGTH = 24


class NotAReader(StoreError):
    """This node writes to an encrypted database whose content key it was not given."""


@dataclass(frozen=True, slots=True)
class SealedOps:
    """The encrypted ops of one entry."""

    key_id: bytes
    nonce: bytes
    ciphertext: bytes
    ddl: bool = False

    def to_ipld(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enc": self.key_id, "n": self.nonce, "c": self.ciphertext}
        if self.ddl:
            out["ddl"] = True
        return out


def decode_sealed(item: dict[str, Any]) -> SealedOps:
    keys = set(item)
    key_id, nonce, ciphertext = item.get("enc"), item.get("n"), item.get("c")
    if not {"enc", "n", "c"} <= keys <= {"enc", "n", "c", "ddl"} or item.get("ddl", True) is not True:
        raise InvalidOps("sealed ops are {enc, n, c} and optionally ddl: true")
    if (
        type(key_id) is not bytes
        or len(key_id) != 16
        or type(nonce) is not bytes
        or len(nonce) != NONCE_LENGTH
    ):
        raise InvalidOps("sealed ops: a 16-byte key id and a 24-byte nonce")
    if type(ciphertext) is not bytes or len(ciphertext) < 16:
        raise InvalidOps("sealed ops: ciphertext bytes")
    return SealedOps(key_id, nonce, ciphertext, "ddl" in item)


def key_id_of(key: bytes) -> bytes:
    """The public name of a content key (a keyed hash: it tells nothing about the key)."""
    return hashlib.blake2b(key, digest_size=16, person=b"p2pdb-key-id").digest()


def new_key() -> bytes:
    return os.urandom(KEY_LENGTH)


def wrap(key: bytes, reader: bytes) -> bytes:
    """``key`` sealed to the X25519 key of identity key ``reader``."""
    return bytes(SealedBox(PublicKey(x25519_public_key(reader))).encrypt(key))


def key_event(key: bytes, readers: Iterable[bytes]) -> AclOp:
    """The ACL op that gives ``key`` to ``readers``."""
    wraps = tuple((r, wrap(key, r)) for r in sorted(set(readers)))
    return AclOp("key", key_id=key_id_of(key), wraps=wraps)


def seal(key: bytes, database: str, ops: list[dict[str, Any]], *, ddl: bool) -> SealedOps:
    nonce = os.urandom(NONCE_LENGTH)
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        codec.encode(ops), database.encode(), nonce, key
    )
    return SealedOps(key_id_of(key), nonce, ciphertext, ddl)


def unseal(key: bytes, database: str, sealed: SealedOps) -> Any:
    try:
        plain = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed.ciphertext, database.encode(), sealed.nonce, key
        )
    except nacl.exceptions.CryptoError as exc:
        raise InvalidOps("sealed ops do not open with their key (forged or corrupt)") from exc
    return codec.decode(plain)


class KeyRing:
    """The content keys this node was given, by id (unwrapped from the ACL key events)."""

    def __init__(self, identity: Identity) -> None:
        self.me = identity.public_key
        self._box = SealedBox(PrivateKey(identity.x25519_private_key()))
        self.keys: dict[bytes, bytes] = {}

    def learn(self, op: AclOp) -> bool:
        """Take a key event; True if it gave this node a key it did not have."""
        if op.kind != "key" or op.key_id in self.keys:
            return False
        for reader, wrapped in op.wraps:
            if reader != self.me:
                continue
            try:
                key = bytes(self._box.decrypt(wrapped))
            except nacl.exceptions.CryptoError:
                return False  # a wrap that does not open: the owner made a mistake; no key
            if len(key) == KEY_LENGTH and key_id_of(key) == op.key_id:
                self.keys[op.key_id] = key
                return True
        return False

    def get(self, key_id: bytes) -> bytes | None:
        return self.keys.get(key_id)
