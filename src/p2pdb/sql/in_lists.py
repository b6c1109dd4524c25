"""``IN`` lists padded to a few sizes, so that their statements share plans.

ORMs write ``WHERE id IN (...)`` with as many literals as they have ids (Django's
``prefetch_related``, SQLAlchemy's ``selectinload``, any ``filter(id__in=...)``). Every literal is a
parameter of the statement's shape, so every list length was a new shape, translated and planned
again: 39 ms for a list of 1,000 ids, against 8 ms once planned (`SELECT ... WHERE id IN (...)`,
PyMySQL, one node). A list of 4 or more literals is now padded to the next power of two by
repeating its last value, which changes nothing a list means (``x IN (1, 2, 2)`` is ``x IN (1, 2)``,
also with NULLs and for ``NOT IN``): lists of 5 to 8, 9 to 16, ... share one shape each.
"""

from __future__ import annotations

import dataclasses
import re

from p2pdb.sql.lexer import Lexed, renumber

_ITEM = r"(?:-\s*)?:p\d+|NULL"  # a literal, a negative number, NULL
_IN_LIST = re.compile(rf"\bIN\s*\(\s*((?:{_ITEM})(?:\s*,\s*(?:{_ITEM})){{3,}})\s*\)", re.IGNORECASE)


def padded(lexed: Lexed) -> Lexed:
    """``lexed`` with each ``IN`` list of 4 or more literals padded to a power of two (itself when
    there is none to pad)."""
    shape = lexed.shape
    if shape.count(":p") < 4:  # (the hot path: a point select has one)
        return lexed
    grown = False

    def pad(match: re.Match[str]) -> str:
        nonlocal grown
        items = [item.strip() for item in match.group(1).split(",")]
        size = 1 << (len(items) - 1).bit_length()
        grown = grown or size > len(items)
        return "IN (" + ", ".join(items + [items[-1]] * (size - len(items))) + ")"  # one spacing

    text = _IN_LIST.sub(pad, shape)
    if not grown:
        return lexed if text == shape else dataclasses.replace(lexed, shape=text)
    text, order = renumber(text)  # a copy takes the value of the item it repeats
    return lexed.taking(text, order)
