"""The conflict-rule seam: how a table merges changes within one life of a row (docs/crdt.md §5).

:func:`p2pdb.crdt.merge` owns row existence (causal length) for every table. Within one life it hands the
row to the table's rule, which must make ``apply`` a join: the result may depend only on the *set* of
``(change, clock)`` pairs applied so far, never on their order or on repetitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from p2pdb.log.clock import Clock

from ._change import RowChange
from ._errors import InvalidChangeError
from ._state import RowState
from ._values import Number, SqlValue, same_value

_MISSING: Any = object()


class ConflictRule(ABC):
    """How one table's rows merge concurrent writes. Rules are immutable values, safe to share."""

    __slots__ = ()

    #: Registry name, stored in the schema as ``{"rule": name, **options}``.
    name: ClassVar[str]
    #: True when a local write always shows as SQL wrote it (it is the newest write, and the rule
    #: keeps the newest). False (the default, for pluggable rules): a local write may lose (a max,
    #: say), and the store writes back what the merge keeps after the commit.
    local_wins: ClassVar[bool] = False

    def check(self, change: RowChange) -> None:
        """Raise :class:`InvalidChangeError` if this rule cannot merge ``change``. Default: no deltas."""
        if change.deltas:
            raise InvalidChangeError(f"rule {self.name!r} takes no counter deltas ({sorted(change.deltas)})")

    @abstractmethod
    def apply(self, state: RowState, change: RowChange, clock: Clock) -> RowState:
        """Join ``change`` (written at ``clock``) into ``state``; ``change.cl == state.cl``.

        Contract: commutative, associative and idempotent over ``(change, clock)`` pairs; returns ``state``
        itself (the same object) when nothing changes; never mutates its arguments; keeps ``state.cl``.
        """

    @abstractmethod
    def visible(self, state: RowState) -> dict[str, SqlValue]:
        """The column values SQL shows for an alive ``state`` (columns without a value are left out)."""

    def split_update(
        self, old: Mapping[str, SqlValue], new: Mapping[str, SqlValue]
    ) -> tuple[dict[str, SqlValue], dict[str, Number]]:
        """``(values, deltas)`` of a captured UPDATE that turned row ``old`` into ``new``.

        Default: every column whose value changed (type included) is an absolute value; no deltas.
        """
        values = {col: v for col, v in new.items() if not same_value(old.get(col, _MISSING), v)}
        return values, {}

    def spec(self) -> dict[str, Any]:
        """The schema form of this rule: ``get_rule(**spec)``-style ``{"rule": name, **options}``."""
        return {"rule": self.name}
