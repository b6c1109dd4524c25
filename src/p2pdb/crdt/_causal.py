"""Causal length of a row: which life of the row a change belongs to (docs/crdt.md §2).

A row's causal length ``cl`` counts the inserts and deletes in its history. Odd means alive, even means
deleted, 0 means never seen. Every INSERT of a missing row and every DELETE of an alive row moves it to
``cl + 1``; an UPDATE stays in the current life. Concurrent writers therefore agree on which writes belong to
which life, and a longer causal history (a later life) always wins over an older one.
"""

from __future__ import annotations


def _checked(current_cl: int) -> int:
    if type(current_cl) is not int or current_cl < 0:
        raise ValueError(f"causal length must be an int >= 0, not {current_cl!r}")
    return current_cl


def is_alive(cl: int) -> bool:
    """True when a row at causal length ``cl`` exists (odd); 0 (never seen) and even (deleted) are not."""
    return _checked(cl) % 2 == 1


def next_cl_for_insert(current_cl: int) -> int:
    """Causal length to write for a local INSERT of a row whose current causal length is ``current_cl``.

    The row must not exist (0 or even); inserting over an alive row is a duplicate key, which the store
    must report (or, for ``REPLACE``, capture as a delete followed by an insert).
    """
    if is_alive(current_cl):
        raise ValueError(f"row is alive (cl={current_cl}); an insert needs a missing or deleted row")
    return current_cl + 1


def next_cl_for_delete(current_cl: int) -> int:
    """Causal length to write for a local DELETE of a row whose current causal length is ``current_cl``."""
    if not is_alive(current_cl):
        raise ValueError(f"row is not alive (cl={current_cl}); only an alive row can be deleted")
    return current_cl + 1


def cl_for_update(current_cl: int) -> int:
    """Causal length to write for a local UPDATE: the current one, which must be alive."""
    if not is_alive(current_cl):
        raise ValueError(f"row is not alive (cl={current_cl}); only an alive row can be updated")
    return current_cl
