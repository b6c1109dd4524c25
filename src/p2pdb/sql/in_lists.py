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

import re
from typing import Any

from p2pdb.sql.lexer import Lexed

_ITEM = r"(?:-\s*)?:p\d+|NULL"  # a literal, a negative number, NULL
_IN_LIST = re.compile(rf"\bIN\s*\(\s*((?:{_ITEM})(?:\s*,\s*(?:{_ITEM})){{3,}})\s*\)", re.IGNORECASE)
_PARAM = re.compile(r"`(?:[^`]|``)*`|:p(\d+)(?!\d)")


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
        return lexed if text == shape else Lexed(text, *_rest(lexed))
    # Number the parameters again in textual order; a copy takes the value of the one it repeats.
    order: list[int] = []

    def renumber(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group()
        order.append(int(match.group(1)) - 1)
        return f":p{len(order)}"

    text = _PARAM.sub(renumber, text)
    placeholders = set(lexed.placeholders)
    return Lexed(
        text,
        [lexed.params[i] for i in order],
        [lexed.raw[i] for i in order],
        [n for n, i in enumerate(order) if i in placeholders] if placeholders else [],
        lexed.sysvars,
        lexed.uservars,
    )


def _rest(lexed: Lexed) -> tuple[list[Any], list[str], list[int], dict[str, str], dict[str, str]]:
    return lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars
