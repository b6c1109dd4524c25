"""Writer-side TEMP triggers: CHECK constraints and foreign keys enforced on local writes only.

The triggers (made by :mod:`.constraints`) live on the database's writer connection and act only while
a client statement runs (``p2pdb_client_write()``), never when the store applies a peer's changes or
rebuilds a table: what they do (a cascade) is captured like the client's own changes and replicates,
and a replica never enforces them again. TEMP triggers are not part of the replicated schema; they are
(re)made when the schema changed (:func:`ensure`). (ON UPDATE CURRENT_TIMESTAMP is not a trigger: the
UPDATE's plan sets the column, :mod:`p2pdb.sql.plan`.)
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

import apsw

from p2pdb.sql import constraints
from p2pdb.sql.guard import LOCAL_TRIGGER_PREFIX, guard_of
from p2pdb.store.schema import quote

if TYPE_CHECKING:
    from p2pdb.schema import Schema
    from p2pdb.store import Database

_PREFIX = LOCAL_TRIGGER_PREFIX
log = logging.getLogger(__name__)
FUNCTION = "p2pdb_client_write"


class _State:
    def __init__(self, db: Database) -> None:
        self.db = weakref.ref(db)
        self.schema: Schema | None = None
        self.triggers: list[str] = []
        #: foreign_key_checks of the session whose statement runs now
        self.fk_checks = 1


_states: weakref.WeakKeyDictionary[apsw.Connection, _State] = weakref.WeakKeyDictionary()


def register(db: Database, conn: apsw.Connection | None = None) -> None:
    """Install the client-write test on ``db``'s writer connection (or on ``conn``, another
    connection of ``db`` that runs client writes: a transaction window, :mod:`.windows`)."""
    conn = db.conn if conn is None else conn
    guard = guard_of(conn)

    def client_write(*_: Any) -> int:
        return 1 if guard.depth else 0

    state = _states[conn] = _State(db)

    def fk_checks(*_: Any) -> int:
        return state.fk_checks

    conn.create_scalar_function(FUNCTION, client_write, 0, deterministic=False)
    conn.create_scalar_function("p2pdb_fk_checks", fk_checks, 0, deterministic=False)


def ensure(conn: apsw.Connection, fk_checks: Any = 1) -> None:
    """Make the triggers match the schema (cheap when nothing changed); outside client statements.
    ``fk_checks``: the session's ``foreign_key_checks``."""
    state = _states.get(conn)
    if state is None or guard_of(conn).depth:
        return
    state.fk_checks = 1 if fk_checks not in (0, "0", "OFF", "off", False) else 0
    db = state.db()
    if db is None:
        return
    schema = db.catalog.schema
    if schema is state.schema and (not state.triggers or _present(conn) == len(state.triggers)):
        return
    state.schema = schema
    for (name,) in list(conn.execute("SELECT name FROM sqlite_temp_schema WHERE type = 'trigger'")):
        if str(name).startswith(_PREFIX):
            conn.execute(f"DROP TRIGGER IF EXISTS temp.{quote(str(name))}")
    state.triggers = []
    for suffix, body in constraints.triggers(db.name, schema):
        name = f"{_PREFIX}{suffix}"
        try:
            conn.execute(f"CREATE TEMP TRIGGER {quote(name)} {body}")
        except apsw.Error:  # a constraint naming what is not there (a column since dropped)
            log.warning("constraint trigger %s of %s cannot be made", name, db.name, exc_info=True)
            continue
        state.triggers.append(name)


def _present(conn: apsw.Connection) -> int:
    for (count,) in conn.execute(
        "SELECT count(*) FROM sqlite_temp_schema WHERE type = 'trigger' AND name LIKE '\\_p2pdb\\_lt\\_%' ESCAPE '\\'"
    ):
        return int(count)
    return 0
