"""AUTO_INCREMENT values for rows that an ``INSERT ... SELECT`` produces.

A multi-row ``VALUES`` insert knows how many ids it needs before it runs, so the session draws them
from the store's allocator up front and binds them as parameters. ``INSERT ... SELECT`` does not, so
its plan routes the AUTO_INCREMENT column through the SQL function ``p2pdb_auto_id(value)``: a row
that gives a value other than NULL or 0 keeps it (MySQL), any other row gets the next id of an
:class:`AutoIds`, which draws from ``Database.next_auto_ids`` (this node's id class, so two nodes
never generate the same id) and remembers what it drew. Running the statement again with the same
:class:`AutoIds` (a transaction's replay, a group commit's retry) hands out the same ids in the same
order, so the rows committed are the rows the client saw.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import apsw

from p2pdb.schema import ident
from p2pdb.sql import guard
from p2pdb.store.autoinc import IdClass, type_max
from p2pdb.store.errors import IdRangeExhausted

if TYPE_CHECKING:
    from p2pdb.store import Database

FUNCTION = "p2pdb_auto_id"


class AutoIds:
    """The AUTO_INCREMENT ids one statement generated, in the order it generated them."""

    __slots__ = ("_draw", "_saw", "ids", "used")

    def __init__(self, draw: Callable[[], int], saw: Callable[[int], None] | None = None) -> None:
        self._draw = draw
        self._saw = saw
        self.ids: list[int] = []
        #: ids handed out by the current run of the statement
        self.used = 0

    @classmethod
    def of(cls, db: Database, table: str, column: str) -> AutoIds:
        """Ids of an existing table, from the store's allocator."""
        return cls(lambda: db.next_auto_ids(table, column, 1)[0])

    @classmethod
    def fresh(cls, id_class: IdClass, table: str, mysql_type: str | None) -> AutoIds:
        """Ids of a table the running transaction creates (``CREATE TABLE ... SELECT``): the store
        knows no such table yet, so they come straight from this node's id class. Nothing else can
        draw ids for that table before the transaction commits, and afterwards the store's
        allocator starts above the ids the table holds."""
        state = [id_class.watermarks.get(ident(table), 0)]
        limit = type_max(mysql_type)

        def draw() -> int:
            value = state[0] = id_class.first_above(state[0])
            if value > limit:
                raise IdRangeExhausted(
                    f"Failed to read auto-increment value from storage engine (at {limit})"
                )
            return value

        def saw(value: int) -> None:  # a row's own id: MySQL goes on above it
            state[0] = max(state[0], value)

        return cls(draw, saw)

    def saw(self, value: Any) -> None:
        """A row gave its own value for the column."""
        if self._saw is not None and isinstance(value, int):
            self._saw(value)

    def next(self) -> int:
        if self.used < len(self.ids):
            value = self.ids[self.used]
        else:
            value = self._draw()
            self.ids.append(value)
        self.used += 1
        return value

    @property
    def first(self) -> int | None:
        """The first id the last run generated (MySQL's LAST_INSERT_ID()), or None."""
        return self.ids[0] if self.used else None


class _Slot:
    __slots__ = ("ids",)

    def __init__(self) -> None:
        self.ids: AutoIds | None = None


_slots: weakref.WeakKeyDictionary[apsw.Connection, _Slot] = weakref.WeakKeyDictionary()


def _is_zero(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, str):
        try:
            return float(value) == 0
        except ValueError:
            return False
    return False


def register(conn: apsw.Connection) -> None:
    """Register ``p2pdb_auto_id`` on a connection (once per connection)."""
    if conn in _slots:
        return
    slot = _slots[conn] = _Slot()
    conn_guard = guard.guard_of(conn)

    def auto_id(value: Any) -> Any:
        if value is not None and not _is_zero(value):
            if slot.ids is not None:
                slot.ids.saw(value)
            return value
        if slot.ids is None:
            raise apsw.SQLError(f"no such function: {FUNCTION}")  # only plans call it
        with conn_guard.internal():  # the store's allocator reads and writes its own tables
            return slot.ids.next()

    conn.create_scalar_function(FUNCTION, auto_id, 1, deterministic=False)  # type: ignore[arg-type]


@contextmanager
def drawing(conn: apsw.Connection, ids: AutoIds) -> Iterator[None]:
    """Run a statement whose ``p2pdb_auto_id`` calls take their ids from ``ids`` (from the first)."""
    slot = _slots.get(conn)
    if slot is None:
        register(conn)
        slot = _slots[conn]
    previous, slot.ids = slot.ids, ids
    ids.used = 0
    try:
        yield
    finally:
        slot.ids = previous
