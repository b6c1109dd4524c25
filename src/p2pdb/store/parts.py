"""How a local transaction too large for one log entry is split over several.

A transaction's changes normally make one entry. When they do not fit (more bytes than
``max_entry_size``, or more data items than one encoded value may hold), the store writes them as a
chain of entries by one author, all committed in the same SQLite transaction: atomic on the node
that commits them, replicated as ordinary entries (docs/crdt.md, "Transactions larger than one
entry").

Only *new rows* move to later entries. The first entry keeps the schema changes, every update and
delete, the id ranges and the new rows that fit. A replica that has applied a prefix of the chain
therefore holds the transaction's final state minus some rows it inserts: a subset of a state whose
UNIQUE keys were all distinct, so no prefix can meet a UNIQUE conflict the whole did not.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_parts(sizes: Sequence[int], movable: Sequence[bool], fixed: int, budget: int) -> list[list[int]]:
    """Assign changes (by index) to entries, in order.

    ``sizes``: the encoded size of each change; ``movable``: whether it may leave the first entry (a
    new row); ``fixed``: the size of what the first entry holds besides changes (schema changes, id
    ranges); ``budget``: the size to keep each entry's changes under.

    Every change that may not move is in the first part, with the movable ones that fit after
    them (in order, while they fit); a first part with no change and ``fixed`` 0 is left out. The rest fill further parts in order, each up to ``budget``;
    a change larger than ``budget`` makes a part alone. Within each part, indices keep their order.
    """
    first_size = fixed + sum(size for size, free in zip(sizes, movable, strict=True) if not free)
    room = budget - first_size
    first: list[int] = []
    rest: list[int] = []
    spilling = False
    for index, (size, free) in enumerate(zip(sizes, movable, strict=True)):
        if not free:
            first.append(index)
        elif not spilling and size <= room:
            first.append(index)
            room -= size
        else:
            spilling = True  # the new rows after the first that did not fit go later, in order
            rest.append(index)
    # The first part may be left with nothing (its first new row did not fit, and it has no other
    # change): the next part is then the first.
    parts = [first] if first or fixed else []
    current: list[int] = []
    used = 0
    for index in rest:
        size = sizes[index]
        if current and used + size > budget:
            parts.append(current)
            current, used = [], 0
        current.append(index)
        used += size
    if current:
        parts.append(current)
    return parts
