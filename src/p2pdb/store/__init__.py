"""``p2pdb.store``: SQLite storage with change capture into the log and merge of remote entries."""

from p2pdb.store.database import ApplyResult, Database, WriteResult
from p2pdb.store.engine import Engine, FileEngine, MemoryEngine
from p2pdb.store.errors import IdRangeExhausted, InvalidOps, NoIdRange, StoreError, UnsupportedChange
from p2pdb.store.ops import DDLOp, decode_ops, encode_ops
from p2pdb.store.schema import Column, IndexSpec, TableSpec

__all__ = [
    "ApplyResult",
    "Column",
    "DDLOp",
    "Database",
    "Engine",
    "FileEngine",
    "IdRangeExhausted",
    "IndexSpec",
    "InvalidOps",
    "MemoryEngine",
    "NoIdRange",
    "StoreError",
    "TableSpec",
    "UnsupportedChange",
    "WriteResult",
    "decode_ops",
    "encode_ops",
]
