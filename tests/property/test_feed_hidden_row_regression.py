"""A known bug, kept as a strict expected failure until it is fixed (found by the store-convergence
property at 1,500 examples x 60 steps; present before issue 11's work): after concurrent CREATE, DROP
and inserts of one key under a UNIQUE index, one replica's change feed still shows a row that its SQL
view hides as a `unique` conflict. Replicas agree with each other; only that replica's feed lacks the
hide event. The steps below are Hypothesis' shrunk example, replayed on the property's state machine."""

from __future__ import annotations

from typing import Any

import pytest
from test_store_convergence import FileStoreConvergence, blocks_of, fold_feed, shown


class _Picks:
    def draw(self, strategy: Any, label: str | None = None) -> list[int]:
        return [0]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="change feed misses the hide of a merged row (see module docstring)",
)
def test_feed_hides_a_row_a_merge_hides() -> None:
    machine = FileStoreConvergence()
    machine.start(
        count=4, creators={0, 2, 3}, unique=False, features={"create", "drop", "index", "alter", "auto"}
    )
    machine.insert(key=3, n=0, r=3, s=None)
    machine.auto_insert(r=2, s=None)
    machine.delete(key=3, r=3)
    machine.deliver_all(dst=0, src=3)
    machine.deliver_some(data=_Picks(), dst=3, src=2)  # type: ignore[arg-type]
    machine.create_index(index="u_n", r=2)
    machine.drop(r=0, table="t")
    machine.insert(key=3, n=-1, r=2, s=None)
    machine.insert(key=3, n=0, r=3, s=None)
    everything = [block for db in machine.replicas for block in blocks_of(db)]
    for db in machine.replicas:
        db.join(everything)
    try:
        for db in machine.replicas:
            assert fold_feed(db) == shown(db)
    finally:
        for db in machine.replicas:
            db.close()
