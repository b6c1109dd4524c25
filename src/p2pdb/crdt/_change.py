"""Row changes: what the store captures from local SQL and carries in log entries (docs/crdt.md §2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._errors import InvalidChangeError
from ._values import NUMBER_TYPES, SQL_TYPES, Number, SqlValue

RowKey = tuple[str, tuple[SqlValue, ...]]


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row's change in one log entry.

    ``cl`` is the causal length of the row life the change is written in (odd: the row is alive after it;
    even: it is a delete). ``values`` sets columns to absolute values; ``deltas`` adds to counter columns
    (empty for tables under the default last-writer-wins rule). A delete has an even ``cl`` and neither.
    An INSERT carries every column of the new row in ``values``. A column is in at most one of the two.

    The mappings are treated as immutable once the change is built. Construction validates the shape and
    the exact value types and raises :class:`InvalidChangeError`.
    """

    table: str
    pk: tuple[SqlValue, ...]
    cl: int
    values: Mapping[str, SqlValue] = field(default_factory=dict)
    deltas: Mapping[str, Number] = field(default_factory=dict)
    #: The change inserts the row (starts the life ``cl`` as its author saw it). Two inserts of one life
    #: by different entries are concurrent inserts of one key: the merge reports them (``duplicate``).
    insert: bool = False

    def __post_init__(self) -> None:
        if type(self.table) is not str or not self.table:
            raise InvalidChangeError(f"table must be a non-empty str, not {self.table!r}")
        if type(self.pk) is not tuple or not self.pk or any(type(v) not in SQL_TYPES for v in self.pk):
            raise InvalidChangeError(f"pk must be a non-empty tuple of SQL values, not {self.pk!r}")
        if type(self.cl) is not int or self.cl < 1:
            raise InvalidChangeError(f"cl must be an int >= 1, not {self.cl!r}")
        if self.cl % 2 == 0 and (self.values or self.deltas or self.insert):
            raise InvalidChangeError("a delete (even cl) carries no values, no deltas and is no insert")
        if type(self.insert) is not bool:
            raise InvalidChangeError("insert must be a bool")
        for col, value in self.values.items():
            if type(col) is not str or type(value) not in SQL_TYPES:
                raise InvalidChangeError(f"bad column value {col!r}: {value!r}")
        for col, delta in self.deltas.items():
            if type(col) is not str or type(delta) not in NUMBER_TYPES:
                raise InvalidChangeError(f"bad counter delta {col!r}: {delta!r}")
            if col in self.values:
                raise InvalidChangeError(f"column {col!r} has both a value and a delta")

    @property
    def key(self) -> RowKey:
        """``(table, pk)``: the row this change is about."""
        return (self.table, self.pk)

    @property
    def alive(self) -> bool:
        """True unless this change is a delete."""
        return self.cl % 2 == 1


def combine(earlier: RowChange, later: RowChange) -> RowChange:
    """One change with the effect of ``earlier`` followed by ``later`` on the same row, same transaction.

    The merge treats a second change under the same entry clock as a duplicate, so the store must hand
    it at most one change per row and entry; :func:`coalesce` folds a transaction's changes with this.
    """
    if earlier.key != later.key:
        raise InvalidChangeError(f"cannot combine changes of different rows {earlier.key} / {later.key}")
    if later.cl < earlier.cl:
        raise InvalidChangeError(f"later change is in an older life ({later.cl} < {earlier.cl})")
    if later.cl > earlier.cl:
        # A delete, or a re-insert that carries the whole new row: nothing of the older life survives.
        return later
    values = {**earlier.values, **later.values}
    # An absolute write replaces earlier increments of the same column.
    deltas = {col: d for col, d in earlier.deltas.items() if col not in later.values}
    for col, delta in later.deltas.items():
        if col in values:
            # Written absolutely earlier in this transaction: fold the increment into that value.
            base = values[col]
            if not isinstance(base, int | float):  # bool cannot occur: values are validated
                raise InvalidChangeError(f"increment of column {col!r} whose value {base!r} is not a number")
            values[col] = base + delta
        else:
            deltas[col] = deltas[col] + delta if col in deltas else delta
    return RowChange(later.table, later.pk, later.cl, values, deltas, earlier.insert or later.insert)


def coalesce(changes: Iterable[RowChange]) -> list[RowChange]:
    """A transaction's changes with one change per row, in order of each row's first change."""
    out: dict[RowKey, RowChange] = {}
    for change in changes:
        prev = out.get(change.key)
        out[change.key] = change if prev is None else combine(prev, change)
    return list(out.values())
