"""Merging one row change into a row's state, and what the store must then do to SQL (docs/crdt.md §3-§4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

from p2pdb.log.clock import Clock

from ._change import RowChange
from ._lww import LWWRule
from ._rule import ConflictRule
from ._state import EMPTY_STATE, Cell, RowState
from ._values import SqlValue, same_value

#: What the store does to the SQL row after a merge.
Action: TypeAlias = Literal["none", "insert", "update", "delete"]

_NOTHING: Mapping[str, SqlValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """The result of :func:`merge`.

    ``action``:
      * ``"insert"``: the row is alive in a life SQL does not show yet. Write ``row`` in full, replacing any
        SQL row with this key (it holds an older life); columns missing from ``row`` take their defaults.
      * ``"update"``: some visible values changed; write ``changed`` (a subset of ``row``).
      * ``"delete"``: the row was alive and is now deleted; delete the SQL row.
      * ``"none"``: SQL stays as it is.

    ``row`` is the full visible row for insert and update (empty otherwise); ``changed`` holds the values to
    write (``row`` for insert, the changed columns for update, empty otherwise). ``state`` is the new row
    state; persist it when ``state_changed`` (which can be true even when ``action`` is ``"none"``).
    """

    action: Action
    row: Mapping[str, SqlValue]
    changed: Mapping[str, SqlValue]
    state: RowState
    state_changed: bool
    #: When an insert met another insert of the same life (concurrent inserts of one key): the clock of
    #: the one that lost (the lower), so the store can record it. None otherwise.
    duplicate: Clock | None = None


def merge(state: RowState | None, change: RowChange, clock: Clock, rule: ConflictRule) -> MergeOutcome:
    """Merge ``change``, from the log entry with ``clock``, into the row's ``state`` (None: never seen).

    Commutative, associative and idempotent: any set of ``(change, clock)`` pairs merged in any order, any
    number of times, gives equal states (for counter increments: each author's changes in that author's
    order, as the log delivers them). Raises :class:`InvalidChangeError` if ``rule`` rejects the change,
    before anything is decided.
    """
    # 1. Refuse what this table's rule cannot merge.
    rule.check(change)
    old = EMPTY_STATE if state is None else state
    # 2. Choose the row life the change merges into, by causal length.
    if change.cl < old.cl:
        # Tie-break: the longer causal history wins. The change belongs to an older life of the row (made
        # before a delete or re-insert that this replica has already merged): ignore it. So a delete never
        # loses to an older concurrent update, and an update never resurrects a deleted row.
        return MergeOutcome("none", _NOTHING, _NOTHING, old, False)
    new_life = change.cl > old.cl
    duplicate: Clock | None = None
    if new_life:
        # The change starts a newer life: every cell and contribution of the older life is dropped, so the
        # state depends only on changes of the newest life, whatever order they come in.
        new = rule.apply(RowState(change.cl), change, clock)
        origin = clock if change.insert else None
    else:
        # Same life: the rule's per-column join decides (last-writer-wins by default).
        new = rule.apply(old, change, clock)
        origin = old.origin
        if change.insert and change.alive and origin != clock:
            # Two inserts of one life: concurrent inserts of one key. The origin is the latest of them
            # (a maximum: order-independent); the lower one is reported, whichever arrives second.
            if origin is not None:
                duplicate = min(origin, clock)
            origin = clock if origin is None else max(origin, clock)
        if new is old and origin == old.origin:
            return MergeOutcome("none", _NOTHING, _NOTHING, old, False, duplicate)
    if new.alive and new.origin != origin:
        new = RowState(new.cl, new.cells, new.contribs, origin)
    # 3. Translate the visible difference into one SQL action.
    if not new.alive:
        return MergeOutcome("delete" if old.alive else "none", _NOTHING, _NOTHING, new, True)
    row = rule.visible(new)
    if new_life:
        return MergeOutcome("insert", row, row, new, True)
    before = rule.visible(old)
    changed = {col: v for col, v in row.items() if col not in before or not same_value(before[col], v)}
    action: Action = "update" if changed else "none"
    return MergeOutcome(action, row if changed else _NOTHING, changed, new, True, duplicate)


def first_insert(
    state: RowState | None, change: RowChange, clock: Clock, rule: ConflictRule
) -> RowState | None:
    """What :func:`merge` makes of a row's first insert under last-writer-wins, built directly: a new
    life, begun by this insert, holding every written cell at ``clock``. None when that is not the
    case (the replica holds a state for the row, a delete or update, counter deltas, another rule):
    then :func:`merge` decides. Local commits and remote applies take it for new rows, most rows."""
    if (
        state is not None
        or not change.insert
        or change.deltas
        or not change.alive
        or type(rule) is not LWWRule
    ):
        return None
    return RowState(change.cl, {col: Cell(value, clock) for col, value in change.values.items()}, {}, clock)
