"""Password credentials and the cryptography of ``mysql_native_password`` and ``caching_sha2_password``.

A :class:`Credential` is what the backend stores per account (as the string from :meth:`Credential.encode`),
never the password. ``mysql_native_password`` keeps SHA1(SHA1(password)), as MySQL does, because the
challenge-response needs it. ``caching_sha2_password`` keeps a salted PBKDF2-SHA256 hash: a client's first
login ("full authentication") must send the password over TLS or RSA-encrypted; the server then caches
SHA256(SHA256(password)) in memory (:class:`Sha2Cache`) so later logins need only the scramble exchange.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NATIVE_PASSWORD = "mysql_native_password"
CACHING_SHA2_PASSWORD = "caching_sha2_password"
PLUGINS = (NATIVE_PASSWORD, CACHING_SHA2_PASSWORD)

SCRAMBLE_LENGTH = 20
_PBKDF2_ITERATIONS = 5000
_SALT_BYTES = 16


def new_scramble() -> bytes:
    """20 random bytes in 1..127 without ``$``, like MySQL (some clients treat the scramble as a C string)."""
    out = bytearray(secrets.token_bytes(SCRAMBLE_LENGTH))
    for i, b in enumerate(out):
        b &= 0x7F
        if b in (0, 0x24):
            b += 1
        out[i] = b
    return bytes(out)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True, slots=True)
class Credential:
    """A stored password check for one account. Create with :meth:`from_password` or :meth:`decode`.

    ``plugin`` is the account's authentication plugin; clients proposing another one are switched to it.
    An empty password is a credential of its own (``empty``): it accepts an empty response with either plugin.
    """

    plugin: str
    empty: bool
    digest: bytes = b""
    salt: bytes = b""
    iterations: int = 0

    @classmethod
    def from_password(cls, password: str, plugin: str = CACHING_SHA2_PASSWORD) -> Credential:
        if plugin not in PLUGINS:
            raise ValueError(f"unsupported authentication plugin {plugin!r}")
        if password == "":
            return cls(plugin, True)
        raw = password.encode()
        if plugin == NATIVE_PASSWORD:
            return cls(plugin, False, hashlib.sha1(hashlib.sha1(raw).digest()).digest())
        salt = os.urandom(_SALT_BYTES)
        digest = hashlib.pbkdf2_hmac("sha256", raw, salt, _PBKDF2_ITERATIONS)
        return cls(plugin, False, digest, salt, _PBKDF2_ITERATIONS)

    def encode(self) -> str:
        """A printable form for storage: ``plugin$`` for an empty password, else ``plugin$fields``."""
        if self.empty:
            return f"{self.plugin}$"
        if self.plugin == NATIVE_PASSWORD:
            return f"{self.plugin}${self.digest.hex()}"
        return f"{self.plugin}${self.iterations}${self.salt.hex()}${self.digest.hex()}"

    @classmethod
    def decode(cls, text: str) -> Credential:
        plugin, _, rest = text.partition("$")
        if plugin not in PLUGINS:
            raise ValueError(f"unsupported authentication plugin {plugin!r}")
        if rest == "":
            return cls(plugin, True)
        if plugin == NATIVE_PASSWORD:
            digest = bytes.fromhex(rest)
            if len(digest) != 20:
                raise ValueError("mysql_native_password digest must be 20 bytes")
            return cls(plugin, False, digest)
        iterations, salt_hex, digest_hex = rest.split("$")
        return cls(plugin, False, bytes.fromhex(digest_hex), bytes.fromhex(salt_hex), int(iterations))

    def check_password(self, password: bytes) -> bool:
        """Check a clear-text password (caching_sha2 full authentication)."""
        if self.empty:
            return password == b""
        if self.plugin == NATIVE_PASSWORD:
            candidate = hashlib.sha1(hashlib.sha1(password).digest()).digest()
        else:
            candidate = hashlib.pbkdf2_hmac("sha256", password, self.salt, self.iterations)
        return hmac.compare_digest(candidate, self.digest)


def check_native(credential: Credential, scramble: bytes, response: bytes) -> bool:
    """Check a ``mysql_native_password`` response: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))."""
    if credential.empty:
        return response == b""
    if credential.plugin != NATIVE_PASSWORD or len(response) != 20:
        return False
    stage1 = _xor(response, hashlib.sha1(scramble + credential.digest).digest())
    return hmac.compare_digest(hashlib.sha1(stage1).digest(), credential.digest)


def check_sha2_scramble(stage2: bytes, scramble: bytes, response: bytes) -> bool:
    """Check a ``caching_sha2_password`` fast-auth response: SHA256(pw) XOR SHA256(stage2 + scramble)."""
    if len(response) != 32:
        return False
    stage1 = _xor(response, hashlib.sha256(stage2 + scramble).digest())
    return hmac.compare_digest(hashlib.sha256(stage1).digest(), stage2)


def sha2_stage2(password: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(password).digest()).digest()


class Sha2Cache:
    """In-memory cache of SHA256(SHA256(password)) after a successful full authentication.

    Keyed by user and stored credential, so a changed password (new credential) misses the cache.
    """

    __slots__ = ("_entries", "_limit", "shared")

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: dict[tuple[str, Credential], bytes] = {}
        self._limit = limit
        #: Called after each full authentication's put: the processes serving one port share their
        #: caches (:mod:`p2pdb.sql.serving`), as one server's threads share MySQL's.
        self.shared: Callable[[str, Credential, bytes], None] | None = None

    def get(self, user: str, credential: Credential) -> bytes | None:
        return self._entries.get((user, credential))

    def items(self) -> list[tuple[str, Credential, bytes]]:
        return [(user, credential, stage2) for (user, credential), stage2 in self._entries.items()]

    def put(self, user: str, credential: Credential, stage2: bytes, *, share: bool = True) -> None:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[(user, credential)] = stage2
        if share and self.shared is not None:
            self.shared(user, credential, stage2)


def load_or_create_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    """Load the server's RSA key (PEM, PKCS#8) from ``path``; create a 2048-bit key (mode 0600) if absent."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def public_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rsa_decrypt_password(key: rsa.RSAPrivateKey, data: bytes, scramble: bytes) -> bytes | None:
    """Recover the password a client sent as RSA(password + NUL XOR scramble); None if it does not decrypt."""
    if len(data) != key.key_size // 8:
        return None
    plain: bytes | None = None
    for pad in (
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        padding.PKCS1v15(),
    ):
        try:
            plain = key.decrypt(data, pad)
            break
        except ValueError:
            continue
    if plain is None:
        return None
    mixed = bytes(b ^ scramble[i % len(scramble)] for i, b in enumerate(plain))
    if not mixed.endswith(b"\x00"):
        return None
    return mixed[:-1]
