"""Which physical SQLite collation a replicated column gets (docs/mysql-compatibility.md "Collation").

MySQL compares character columns under their collation, by default a case-insensitive one
(``utf8mb4_general_ci``). A replica compares them under ``P2PDB_CI`` (registered on every connection
by :mod:`p2pdb.store.collation`) when the column is a character column in MySQL terms and is not
binary. The choice is a pure function of the replicated column definition, so every replica builds
the same physical table:

- character column: the MySQL type (extra ``mt``) is CHAR, VARCHAR, TINYTEXT/TEXT/MEDIUMTEXT/LONGTEXT,
  ENUM or SET (columns without ``mt``, made through the store API with SQLite types, stay binary);
- binary: the column's collation (extra ``co``, present only when it differs from the table's
  default) is ``binary`` or ends in ``_bin`` or ``_cs`` (case-sensitive: compared exactly);
- primary key columns stay binary: a row's identity in the log is its exact key value, so two
  replicas must never merge 'a' and 'A' into one physical row.
"""

from __future__ import annotations

import re
from typing import Any

#: The name of the case-insensitive collation in SQLite's schema.
CI_COLLATION = "P2PDB_CI"
_CHARACTER_TYPES = frozenset(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"))
_COLLATION_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


def check_collation_name(name: Any) -> str:
    """A collation name as a column extra may carry it (a lowercase MySQL collation name)."""
    if type(name) is not str or not _COLLATION_NAME.match(name):
        raise ValueError(f"invalid collation name {str(name)[:70]!r}")
    return name


def is_binary_collation(name: str) -> bool:
    """Collations that compare exactly here: binary, ``*_bin`` and the case-sensitive ``*_cs``."""
    return name == "binary" or name.endswith(("_bin", "_cs"))


def column_collation(extra: dict[str, Any], *, key: bool) -> str | None:
    """The SQLite collation of a column with extras ``extra`` (None: SQLite's BINARY); ``key`` when
    the column is part of the primary key."""
    if key:
        return None
    mysql_type = extra.get("mt")
    if type(mysql_type) is not str:
        return None
    if re.split(r"[( ]", mysql_type, maxsplit=1)[0] not in _CHARACTER_TYPES:
        return None
    declared = extra.get("co")
    if type(declared) is str and is_binary_collation(declared):
        return None
    return CI_COLLATION
