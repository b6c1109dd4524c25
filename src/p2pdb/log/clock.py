"""Lamport clock of the log (DESIGN.md §3).

A clock is a frozen value: ``tick`` and ``merge`` return new clocks and never mutate. Clocks are
totally ordered by ``time`` first and then by the author's public key bytes, the whitepaper's
``compareClock`` rule, which makes every tie-break between concurrent entries deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Clock:
    """Lamport time and the author key that produced it.

    ``order=True`` compares ``(time, id)`` lexicographically, exactly the whitepaper's rule:
    the higher time wins; equal times are broken by the raw author key bytes.
    """

    time: int
    id: bytes

    def tick(self) -> Clock:
        """The clock of the next entry by the same author."""
        return Clock(self.time + 1, self.id)

    @staticmethod
    def next_for(author: bytes, parent_times: Iterable[int]) -> Clock:
        """Clock of a new entry: ``time = 1 + max(parents' times)`` (1 for a root entry)."""
        return Clock(1 + max(parent_times, default=0), author)
