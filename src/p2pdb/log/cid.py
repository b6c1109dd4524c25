"""Content identifiers: CIDv1 with the dag-cbor codec and a sha2-256 multihash.

A :class:`CID` is the binary CID itself (a ``bytes`` subclass, so it hashes and compares at C
speed); ``str(cid)`` is the standard base32 multibase form (``bafyrei...``).
"""

from __future__ import annotations

import base64
import hashlib

CID_VERSION = 0x01
DAG_CBOR = 0x71
RAW = 0x55
SHA2_256 = 0x12
_DIGEST_LEN = 32
_DAG_CBOR_PREFIX = bytes((CID_VERSION, DAG_CBOR, SHA2_256, _DIGEST_LEN))
_RAW_PREFIX = bytes((CID_VERSION, RAW, SHA2_256, _DIGEST_LEN))
CID_LENGTH = len(_DAG_CBOR_PREFIX) + _DIGEST_LEN


class CID(bytes):
    """A binary CIDv1 (dag-cbor or raw codec, sha2-256)."""

    __slots__ = ()

    def __new__(cls, value: bytes) -> CID:
        if len(value) != CID_LENGTH or value[:4] not in (_DAG_CBOR_PREFIX, _RAW_PREFIX):
            raise ValueError("not a CIDv1 with the dag-cbor or raw codec and a sha2-256 multihash")
        return super().__new__(cls, value)

    @classmethod
    def parse(cls, text: str) -> CID:
        """Parse the base32 multibase string form (``b`` prefix)."""
        if not text.startswith("b"):
            raise ValueError("only base32 (multibase 'b') CIDs are supported")
        body = text[1:].upper()
        try:
            raw = base64.b32decode(body + "=" * (-len(body) % 8))
        except ValueError as exc:
            raise ValueError(f"invalid base32 CID {text!r}") from exc
        return cls(raw)

    @property
    def digest(self) -> bytes:
        """The sha2-256 digest inside the multihash."""
        return bytes(self[4:])

    @property
    def codec(self) -> int:
        return self[1]

    def __str__(self) -> str:
        return "b" + base64.b32encode(self).decode("ascii").rstrip("=").lower()

    def __repr__(self) -> str:
        return f"CID({str(self)!r})"


def cid_for_block(data: bytes) -> CID:
    """CIDv1 (dag-cbor, sha2-256) of an encoded dag-cbor block."""
    return bytes.__new__(CID, _DAG_CBOR_PREFIX + hashlib.sha256(data).digest())


def cid_for_raw(data: bytes) -> CID:
    """CIDv1 (raw codec, sha2-256) of arbitrary bytes."""
    return bytes.__new__(CID, _RAW_PREFIX + hashlib.sha256(data).digest())
