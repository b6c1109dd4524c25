"""What a replica knows about one row: its life, its cells and its counter contributions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from p2pdb.log.clock import Clock

from ._values import Number, SqlValue


@dataclass(frozen=True, slots=True)
class Cell:
    """A column's value and the version (entry clock) of the write that set it."""

    value: SqlValue
    version: Clock


@dataclass(frozen=True, slots=True)
class Contribution:
    """One author's counted increments to one row in its current life.

    ``time`` is the Lamport time of the author's newest change counted here; ``sums`` maps each counter
    column to the total of the author's increments. An author's changes reach every replica in the author's
    causal order (increasing time), so a change not newer than ``time`` was already counted.
    """

    time: int
    sums: Mapping[str, Number]


@dataclass(frozen=True, slots=True)
class RowState:
    """A replica's knowledge of one row, to be persisted next to it (see :func:`encode_state`).

    ``cl`` is the row's causal length (0: never seen; odd: alive; even: deleted). ``cells`` and
    ``contribs`` (author key → :class:`Contribution`) all belong to the life ``cl``: moving to a newer life
    drops them, so a deleted row is a bare tombstone. Values are immutable: merging returns a new state.
    """

    cl: int = 0
    cells: Mapping[str, Cell] = field(default_factory=dict)
    contribs: Mapping[bytes, Contribution] = field(default_factory=dict)
    #: The clock of the latest insert of this life (None if the life was not started by an insert this
    #: replica merged). Kept by :func:`merge`, not by the rules.
    origin: Clock | None = None

    def __post_init__(self) -> None:
        if self.cl % 2 == 0 and (self.cells or self.contribs or self.origin is not None):
            raise ValueError(f"a row that is not alive (cl={self.cl}) has no cells, contributions or origin")

    @property
    def alive(self) -> bool:
        """True when the row exists (odd causal length)."""
        return self.cl % 2 == 1


#: The state of a row this replica has never seen.
EMPTY_STATE = RowState()
