"""Identity of names: how two spellings of a table, column or index name are found to be one name.

MySQL clients and SQLite both treat table and column names case-insensitively for ASCII letters only
(SQLite folds ``A``-``Z``, not ``Ä``), so the identity of a name is its ASCII-lowercase form: ``Users``
and ``users`` written concurrently on two peers are one table. The spelling users see is chosen by the
schema merge (the winning definition's).
"""

from __future__ import annotations

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

#: Longest table, column or index name (MySQL's limit).
MAX_NAME = 64
INTERNAL_PREFIX = "_p2pdb_"


def ident(name: str) -> str:
    """The identity of a name: ASCII letters folded to lowercase, everything else kept."""
    return name.translate(_ASCII_LOWER)


def is_internal(name: str) -> bool:
    """Names reserved for P2PDB's bookkeeping tables and SQLite's own."""
    folded = ident(name)
    return folded.startswith(INTERNAL_PREFIX) or folded.startswith("sqlite_")
