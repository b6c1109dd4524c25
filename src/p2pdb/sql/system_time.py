"""``SELECT … FROM t FOR SYSTEM_TIME AS OF …``: reading a database as it was (MariaDB's syntax).

Every P2PDB table is versioned by its log, so every table accepts the clause (no ``WITH SYSTEM
VERSIONING`` needed). The point is a literal:

- ``TIMESTAMP '2026-12-06 10:00:00'`` (or a plain string of that form): the version holding every
  entry written at or before that time by its author's clock, read in the session's ``time_zone``;
- ``'bafyrei…'``: the version at that log entry (a checkpoint's entry too), from ``p2pdb log``,
  ``information_schema.P2PDB_HISTORY.ENTRY_CID`` or the change feed.

The whole statement reads that version: every table it names, with or without the clause (one
point per statement). ``FOR SYSTEM_TIME ALL``, ``BETWEEN`` and ``FROM … TO`` are refused; row
versions over time are in ``information_schema.P2PDB_HISTORY``. See :mod:`p2pdb.store.time_travel`.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from p2pdb.log import CID
from p2pdb.sql.lexer import Lexed
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.store.time_travel import parse_point

_CLAUSE = re.compile(
    r"\bFOR\s+SYSTEM_TIME\s+(?:AS\s+OF\s+(?:TIMESTAMP\s+)?(?::(p\d+)\b)?|(\w+))", re.IGNORECASE
)


def names_system_time(shape: str) -> bool:
    return "SYSTEM_TIME" in shape.upper() and _CLAUSE.search(shape) is not None


def split(lexed: Lexed) -> tuple[Lexed, list[str]]:
    """The statement without its ``FOR SYSTEM_TIME AS OF`` clauses, and the parameters (``pN``)
    holding their points. Other forms of the clause are refused."""
    params: list[str] = []

    def strip(match: re.Match[str]) -> str:
        if match.group(2) is not None or match.group(1) is None:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                "P2PDB supports FOR SYSTEM_TIME AS OF with a timestamp or entry CID literal only;"
                " row versions over time are in information_schema.P2PDB_HISTORY",
            )
        params.append(match.group(1))
        return " "

    shape = _CLAUSE.sub(strip, lexed.shape)
    return Lexed(shape, lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars), params


def point(values: list[Any], zone: datetime.tzinfo) -> int | CID:
    """The one point the clauses name: ms since the epoch, or an entry's CID."""
    distinct = {v.decode() if isinstance(v, bytes) else v for v in values}
    if len(distinct) != 1:
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET, "a statement reads one version: every AS OF must name the same point"
        )
    (value,) = distinct
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return int(moment.timestamp() * 1000)
    if not isinstance(value, str):
        raise MySQLError(ErrorCode.WRONG_ARGUMENTS, f"FOR SYSTEM_TIME AS OF needs a timestamp, not {value!r}")
    try:
        return parse_point(value, zone)
    except ValueError as exc:
        raise MySQLError(
            ErrorCode.WRONG_ARGUMENTS, f"Incorrect DATETIME value in FOR SYSTEM_TIME AS OF: {exc}"
        ) from exc
