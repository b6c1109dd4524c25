"""The options of CREATE DATABASE and ALTER DATABASE.

``ENCRYPTION = 'Y'`` makes a database encrypted (docs/security.md): from then on its entries are
sealed for its readers (owners, and peers granted SELECT on the whole database). ``ENCRYPTION = 'N'``
is accepted for a database in clear and refused (1235) for an encrypted one, whose history cannot be
unsealed for everyone. ``CHARACTER SET`` and ``COLLATE`` are accepted: text is always utf8mb4 in
P2PDB, each column keeps its own collation (docs/mysql-compatibility.md).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from p2pdb.sql.errors_map import syntax_error, to_mysql
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import OkResult, Result

if TYPE_CHECKING:
    from p2pdb.sql.session import SQLSession
    from p2pdb.store import Database

_I = re.IGNORECASE
_OPTION = re.compile(
    r"\s*(?:DEFAULT\s+)?(?:(?P<charset>CHARACTER\s+SET|CHARSET)\s*=?\s*(?P<cs>'[^']*'|\"[^\"]*\"|`[^`]*`|\w+)"
    r"|(?P<collate>COLLATE)\s*=?\s*(?P<co>'[^']*'|\"[^\"]*\"|`[^`]*`|\w+)"
    r"|ENCRYPTION\s*=?\s*(?P<enc>'[YyNn]'|\"[YyNn]\")"
    r"|READ\s+ONLY\s*=?\s*(?P<ro>DEFAULT|0|1))",
    _I,
)
_ALTER = re.compile(
    r"^\s*ALTER\s+(?:DATABASE|SCHEMA)\b\s*(?:`((?:[^`]|``)+)`|(?!(?:DEFAULT|CHARACTER|CHARSET|COLLATE|ENCRYPTION|READ)\b)(\w+))?",
    _I,
)


def parse_options(text: str) -> bool | None:
    """The ENCRYPTION the options ask for (None: not named); 1064 for anything unknown."""
    encryption: bool | None = None
    rest = text.strip().rstrip(";")
    while rest.strip():
        match = _OPTION.match(rest)
        if match is None:
            raise syntax_error(rest.strip())
        if match.group("enc"):
            encryption = match.group("enc").strip("'\"").upper() == "Y"
        elif match.group("ro") is not None and match.group("ro") == "1":
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET, "This version of P2PDB doesn't yet support 'READ ONLY = 1'"
            )
        rest = rest[match.end() :]
    return encryption


def apply_encryption(db: Database, encryption: bool | None) -> None:
    if encryption is None:
        return
    sealed = db.access.current().key_id is not None
    if encryption:
        try:
            db.encrypt()
        except Exception as exc:
            raise to_mysql(exc, db.name) from exc
    elif sealed:
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET,
            "This version of P2PDB doesn't yet support 'ENCRYPTION = N' for an encrypted database",
        )


def alter_database(session: SQLSession, text: str) -> Result:
    match = _ALTER.match(text)
    if match is None:
        raise syntax_error(text)
    name = (match.group(1) or "").replace("``", "`") or match.group(2) or session.database
    if name is None:
        raise MySQLError(ErrorCode.NO_DB_ERROR, "No database selected")
    db = session.backend.registry.get(name)
    if db is None:
        raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{name}'")
    apply_encryption(db, parse_options(text[match.end() :]))
    return OkResult(affected_rows=1)
