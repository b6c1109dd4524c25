"""``p2pdb.log``: the signed, content-addressed Merkle-CRDT log, usable on its own.

It imports nothing else of P2PDB, and nothing async or SQL-specific (the SQLite block store works
on any DB-API-like connection).
"""

from p2pdb.log.blockstore import BlockStore, MemoryBlockStore
from p2pdb.log.cid import CID, cid_for_block, cid_for_raw
from p2pdb.log.clock import Clock
from p2pdb.log.entry import DEFAULT_MAX_ENTRY_SIZE, Entry, create_entry, decode_entry
from p2pdb.log.errors import (
    AccessDenied,
    CIDMismatch,
    EntryError,
    EntryTooLarge,
    IdentityError,
    InvalidClock,
    InvalidSignature,
    LogError,
    MalformedEntry,
    NonCanonicalEncoding,
    UnsupportedVersion,
    WrongDatabase,
)
from p2pdb.log.identity import Identity, peer_id, verify
from p2pdb.log.log import JoinResult, Limits, Log
from p2pdb.log.manifest import ANYONE, DEFAULT_NETWORK_ID, Manifest, database_address
from p2pdb.log.sqlite_blockstore import SQLiteBlockStore

__all__ = [
    "ANYONE",
    "CID",
    "DEFAULT_MAX_ENTRY_SIZE",
    "DEFAULT_NETWORK_ID",
    "AccessDenied",
    "BlockStore",
    "CIDMismatch",
    "Clock",
    "Entry",
    "EntryError",
    "EntryTooLarge",
    "Identity",
    "IdentityError",
    "InvalidClock",
    "InvalidSignature",
    "JoinResult",
    "Limits",
    "Log",
    "LogError",
    "MalformedEntry",
    "Manifest",
    "MemoryBlockStore",
    "NonCanonicalEncoding",
    "SQLiteBlockStore",
    "UnsupportedVersion",
    "WrongDatabase",
    "cid_for_block",
    "cid_for_raw",
    "create_entry",
    "database_address",
    "decode_entry",
    "peer_id",
    "verify",
]
