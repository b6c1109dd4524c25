"""Errors raised by the log library. Every decoding failure has its own type so callers can
log a precise reason and penalise the peer that sent the bytes."""

from __future__ import annotations


class LogError(Exception):
    """Base class of every error of ``p2pdb.log``."""


class IdentityError(LogError):
    """A key file is missing, unreadable, malformed or too permissive."""


class EntryError(LogError):
    """An entry (or block) was rejected. ``cid`` names it when known."""

    def __init__(self, message: str, cid: object | None = None) -> None:
        super().__init__(message)
        self.cid = cid


class EntryTooLarge(EntryError):
    """The encoded entry is larger than the configured limit."""


class TransactionTooLarge(LogError, ValueError):
    """A local transaction's changes do not fit in one entry (``size`` bytes, the limit ``limit``).
    A ValueError too: callers that retry the transactions of a batch one by one catch those."""

    def __init__(self, size: int, limit: int, *, items: int | None = None) -> None:
        if items is None:
            super().__init__(f"entry of {size} bytes exceeds the limit of {limit}")
        else:  # within the size limit, but more data items than one encoded value may hold
            super().__init__(f"entry of {size} bytes holds more than {items} data items")
        self.size = size
        self.limit = limit
        self.items = items


class MalformedEntry(EntryError):
    """The bytes are not valid dag-cbor or do not have the shape of an entry."""


class NonCanonicalEncoding(EntryError):
    """The bytes decode, but are not the canonical dag-cbor encoding of what they contain."""


class UnsupportedVersion(EntryError):
    """The entry's ``v`` field names a version this library does not know."""


class CIDMismatch(EntryError):
    """The bytes do not hash to the CID they were announced under."""


class InvalidSignature(EntryError):
    """The signature does not verify against the author's public key."""


class InvalidClock(EntryError):
    """The entry's Lamport time is not ``1 + max(parents' times)``."""


class WrongDatabase(EntryError):
    """The entry belongs to another database's log."""


class AccessDenied(EntryError):
    """The author may not write to this database."""
