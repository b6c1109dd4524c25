"""The Noise protocol framework, restricted to what P2PDB links use (DESIGN.md §5).

Two handshake patterns over one cipher suite, following revision 34 of the Noise specification
(https://noiseprotocol.org/noise.html):

- ``Noise_XX_25519_ChaChaPoly_SHA256`` (the open network), and
- ``Noise_XXpsk3_25519_ChaChaPoly_SHA256`` (a private network: the 32-byte network key is mixed in
  after the third message's ``se``, so a peer without it cannot finish the handshake).

The module is free of I/O: a :class:`HandshakeState` turns payloads into handshake messages and
back, then :meth:`HandshakeState.split` hands out the two transport :class:`CipherState` objects.
It is checked byte for byte against the cacophony test vectors (``tests/net/test_noise.py``).
Every failure (bad tag, bad key, misuse) raises :class:`NoiseError`; callers translate it.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

DHLEN = 32
HASHLEN = 32
TAGLEN = 16
PSKLEN = 32
MAX_MESSAGE = 65535  # the largest Noise message, handshake or transport, tag included
_MAX_NONCE = 2**64 - 1  # reserved by the specification: never used to encrypt

XX = "Noise_XX_25519_ChaChaPoly_SHA256"
XXPSK3 = "Noise_XXpsk3_25519_ChaChaPoly_SHA256"
_PATTERN: tuple[tuple[str, ...], ...] = (("e",), ("e", "ee", "s", "es"), ("s", "se"))
_PATTERN_PSK3: tuple[tuple[str, ...], ...] = (("e",), ("e", "ee", "s", "es"), ("s", "se", "psk"))


class NoiseError(Exception):
    """A Noise message failed to authenticate or decode, or the state machine was misused."""


def generate_private_key() -> bytes:
    """A fresh X25519 private key (32 raw bytes)."""
    return X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key(private_key: bytes) -> bytes:
    """The X25519 public key (32 raw bytes) of a raw private key."""
    return (
        X25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hkdf(chaining_key: bytes, ikm: bytes, outputs: int) -> list[bytes]:
    """Noise's HKDF (section 4.3): HMAC-SHA256 with the chaining key as salt, 2 or 3 outputs."""
    temp_key = hmac.digest(chaining_key, ikm, "sha256")
    out: list[bytes] = []
    previous = b""
    for i in range(1, outputs + 1):
        previous = hmac.digest(temp_key, previous + bytes((i,)), "sha256")
        out.append(previous)
    return out


def _dh(private_key: bytes, remote_public: bytes) -> bytes:
    try:
        return X25519PrivateKey.from_private_bytes(private_key).exchange(
            X25519PublicKey.from_public_bytes(remote_public)
        )
    except ValueError as exc:  # a low-order point gives an all-zero secret, which cryptography refuses
        raise NoiseError(f"invalid X25519 public key: {exc}") from exc


class CipherState:
    """ChaCha20-Poly1305 under one key with a 64-bit counter nonce (section 5.1)."""

    __slots__ = ("_aead", "nonce")

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = ChaCha20Poly1305(key) if key is not None else None
        self.nonce = 0

    @property
    def has_key(self) -> bool:
        return self._aead is not None

    def _next_nonce(self) -> bytes:
        if self.nonce >= _MAX_NONCE:
            raise NoiseError("nonce exhausted: the link must be re-established")
        nonce = b"\x00\x00\x00\x00" + self.nonce.to_bytes(8, "little")
        self.nonce += 1
        return nonce

    def encrypt(self, ad: bytes, plaintext: bytes) -> bytes:
        """Encrypt (or pass through while there is no key)."""
        if self._aead is None:
            return plaintext
        return self._aead.encrypt(self._next_nonce(), plaintext, ad or None)

    def decrypt(self, ad: bytes, ciphertext: bytes) -> bytes:
        """Decrypt and authenticate (or pass through while there is no key); the nonce only advances on success."""
        if self._aead is None:
            return ciphertext
        if self.nonce >= _MAX_NONCE:
            raise NoiseError("nonce exhausted: the link must be re-established")
        nonce = b"\x00\x00\x00\x00" + self.nonce.to_bytes(8, "little")
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, ad or None)
        except InvalidTag:
            raise NoiseError("message failed to authenticate") from None
        self.nonce += 1
        return plaintext


class _SymmetricState:
    """Chaining key, handshake hash and the handshake cipher (section 5.2)."""

    __slots__ = ("cipher", "ck", "h")

    def __init__(self, protocol_name: bytes) -> None:
        self.h = (
            protocol_name.ljust(HASHLEN, b"\x00") if len(protocol_name) <= HASHLEN else _hash(protocol_name)
        )
        self.ck = self.h
        self.cipher = CipherState()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = _hkdf(self.ck, ikm, 2)
        self.cipher = CipherState(temp_k)

    def mix_hash(self, data: bytes) -> None:
        self.h = _hash(self.h + data)

    def mix_key_and_hash(self, ikm: bytes) -> None:
        self.ck, temp_h, temp_k = _hkdf(self.ck, ikm, 3)
        self.mix_hash(temp_h)
        self.cipher = CipherState(temp_k)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = _hkdf(self.ck, b"", 2)
        return CipherState(k1), CipherState(k2)


class HandshakeState:
    """One side of an XX (or XXpsk3) handshake (section 5.3).

    ``-> e``, ``<- e, ee, s, es``, ``-> s, se[, psk]``. Call :meth:`write_message` and
    :meth:`read_message` alternately, the initiator writing first; after the third message
    :attr:`complete` is true and :meth:`split` gives ``(send, receive)`` cipher states.
    ``ephemeral_private`` is for test vectors only: never reuse an ephemeral key.
    """

    __slots__ = ("_e", "_initiator", "_pattern", "_psk", "_re", "_s", "_step", "_sym", "remote_static")

    def __init__(
        self,
        initiator: bool,
        static_private: bytes,
        *,
        psk: bytes | None = None,
        prologue: bytes = b"",
        ephemeral_private: bytes | None = None,
    ) -> None:
        if psk is not None and len(psk) != PSKLEN:
            raise ValueError(f"a Noise pre-shared key is {PSKLEN} bytes")
        if len(static_private) != DHLEN:
            raise ValueError(f"an X25519 private key is {DHLEN} bytes")
        self._initiator = initiator
        self._psk = psk
        self._pattern = _PATTERN if psk is None else _PATTERN_PSK3
        self._sym = _SymmetricState((XX if psk is None else XXPSK3).encode("ascii"))
        self._sym.mix_hash(prologue)
        self._s = static_private
        self._e = ephemeral_private
        self._re: bytes | None = None
        self.remote_static: bytes | None = None
        self._step = 0

    @property
    def complete(self) -> bool:
        return self._step == len(self._pattern)

    @property
    def handshake_hash(self) -> bytes:
        """``h``: unique to this session, equal on both sides once complete (channel binding)."""
        return self._sym.h

    def _my_turn(self) -> bool:
        return (self._step % 2 == 0) == self._initiator

    def write_message(self, payload: bytes = b"") -> bytes:
        if self.complete or not self._my_turn():
            raise NoiseError("not this side's turn to write a handshake message")
        out = bytearray()
        for token in self._pattern[self._step]:
            if token == "e":
                if self._e is None:
                    self._e = generate_private_key()
                e_pub = public_key(self._e)
                out += e_pub
                self._sym.mix_hash(e_pub)
                if self._psk is not None:
                    self._sym.mix_key(e_pub)
            elif token == "s":
                out += self._sym.encrypt_and_hash(public_key(self._s))
            else:
                self._token_dh_or_psk(token)
        out += self._sym.encrypt_and_hash(payload)
        if len(out) > MAX_MESSAGE:
            raise NoiseError("handshake message over 65535 bytes")
        self._step += 1
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        if self.complete or self._my_turn():
            raise NoiseError("not this side's turn to read a handshake message")
        if len(message) > MAX_MESSAGE:
            raise NoiseError("handshake message over 65535 bytes")
        view = memoryview(message)
        for token in self._pattern[self._step]:
            if token == "e":
                if len(view) < DHLEN:
                    raise NoiseError("handshake message too short for an ephemeral key")
                self._re = bytes(view[:DHLEN])
                view = view[DHLEN:]
                self._sym.mix_hash(self._re)
                if self._psk is not None:
                    self._sym.mix_key(self._re)
            elif token == "s":
                size = DHLEN + (TAGLEN if self._sym.cipher.has_key else 0)
                if len(view) < size:
                    raise NoiseError("handshake message too short for a static key")
                self.remote_static = self._sym.decrypt_and_hash(bytes(view[:size]))
                view = view[size:]
            else:
                self._token_dh_or_psk(token)
        payload = self._sym.decrypt_and_hash(bytes(view))
        self._step += 1
        return payload

    def _token_dh_or_psk(self, token: str) -> None:
        if token == "psk":
            assert self._psk is not None
            self._sym.mix_key_and_hash(self._psk)
            return
        assert self._e is not None and self._re is not None
        if token == "ee":
            self._sym.mix_key(_dh(self._e, self._re))
            return
        # es: initiator's ephemeral with responder's static; se: initiator's static with responder's ephemeral.
        if (token == "es") == self._initiator:
            assert self.remote_static is not None
            self._sym.mix_key(_dh(self._e, self.remote_static))
        else:
            self._sym.mix_key(_dh(self._s, self._re))

    def split(self) -> tuple[CipherState, CipherState]:
        """``(send, receive)`` transport ciphers; only once the handshake is complete."""
        if not self.complete:
            raise NoiseError("handshake not complete")
        c1, c2 = self._sym.split()
        return (c1, c2) if self._initiator else (c2, c1)
