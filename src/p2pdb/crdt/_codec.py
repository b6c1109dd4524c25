"""Compact, deterministic bytes for a :class:`RowState` (docs/crdt.md §7).

Layout (canonical CBOR)::

    tombstone or empty:  [1, cl]
    otherwise:           [1, cl, authors, cells]            (no counter contributions)
                         [1, cl, authors, cells, contribs]
                         [1, cl, authors, cells, contribs, origin]   (contribs may be [])
    authors  = [key, ...]                     distinct author keys, sorted; referenced by index below
    cells    = {column: [value, time, author_index], ...}
    contribs = [[author_index, time, {column: sum, ...}], ...]   sorted by author index
    origin   = [time, author_index]           the clock of the life's latest insert

The leading 1 is the format version. Author keys (32 bytes) are stored once per row however many cells
and contributions name them. Equal states always encode to equal bytes.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import cbor2

from p2pdb.log.clock import Clock

from ._errors import StateDecodeError
from ._state import Cell, Contribution, RowState
from ._values import SQL_TYPES, Number, SqlValue, is_number

FORMAT_VERSION = 1


def encode_state(state: RowState) -> bytes:
    """The canonical bytes of ``state``; :func:`decode_state` gives back an equal state."""
    origin = state.origin
    if not state.cells and not state.contribs and origin is None:
        return cbor2.dumps([FORMAT_VERSION, state.cl])
    named = {cell.version.id for cell in state.cells.values()} | state.contribs.keys()
    if origin is not None:
        named.add(origin.id)
    authors = sorted(named)
    index = {author: i for i, author in enumerate(authors)}
    cells = {
        col: [cell.value, cell.version.time, index[cell.version.id]] for col, cell in state.cells.items()
    }
    item: list[Any] = [FORMAT_VERSION, state.cl, authors, cells]
    if state.contribs or origin is not None:
        item.append([[index[a], c.time, dict(c.sums)] for a, c in sorted(state.contribs.items())])
    if origin is not None:
        item.append([origin.time, index[origin.id]])
    return cbor2.dumps(item, canonical=True)


def decode_state(data: bytes) -> RowState:
    """The state encoded in ``data``. Anything else (bad CBOR, wrong shape or types, trailing bytes)
    raises :class:`StateDecodeError`."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORError, ValueError, TypeError, EOFError) as exc:
        raise StateDecodeError(f"row state is not valid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise StateDecodeError("trailing bytes after the row state")
    if type(item) is not list or len(item) not in (2, 4, 5, 6) or item[0] != FORMAT_VERSION:
        raise StateDecodeError("row state must be [1, cl, authors, cells, contribs?, origin?]")
    cl = _int(item[1], "cl")
    if len(item) == 2:
        return _state(cl, {}, {})
    authors = item[2]
    if type(authors) is not list or any(type(a) is not bytes for a in authors):
        raise StateDecodeError("authors must be a list of byte strings")
    if any(a >= b for a, b in itertools.pairwise(authors)):
        raise StateDecodeError("authors must be sorted and distinct")
    raw_cells = item[3]
    if type(raw_cells) is not dict:
        raise StateDecodeError("cells must be a map")
    cells: dict[str, Cell] = {}
    for col, raw in raw_cells.items():
        if type(col) is not str or type(raw) is not list or len(raw) != 3:
            raise StateDecodeError(f"bad cell {col!r}")
        value: SqlValue = raw[0]
        if type(value) not in SQL_TYPES:
            raise StateDecodeError(f"bad value in cell {col!r}")
        cells[col] = Cell(value, Clock(_int(raw[1], "time"), _author(authors, raw[2])))
    contribs: dict[bytes, Contribution] = {}
    raw_contribs = item[4] if len(item) >= 5 else []
    if type(raw_contribs) is not list:
        raise StateDecodeError("contributions must be a list")
    for raw in raw_contribs:
        if type(raw) is not list or len(raw) != 3 or type(raw[2]) is not dict:
            raise StateDecodeError("bad contribution")
        author = _author(authors, raw[0])
        if author in contribs:
            raise StateDecodeError("two contributions by one author")
        sums: dict[str, Number] = {}
        for col, total in raw[2].items():
            if type(col) is not str or not is_number(total):
                raise StateDecodeError(f"bad contribution to {col!r}")
            sums[col] = total
        contribs[author] = Contribution(_int(raw[1], "time"), sums)
    origin: Clock | None = None
    if len(item) == 6:
        raw = item[5]
        if type(raw) is not list or len(raw) != 2:
            raise StateDecodeError("bad origin")
        origin = Clock(_int(raw[0], "time"), _author(authors, raw[1]))
    return _state(cl, cells, contribs, origin)


def _int(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise StateDecodeError(f"{what} must be an int >= 0")
    return value


def _author(authors: list[bytes], i: object) -> bytes:
    if type(i) is not int or not 0 <= i < len(authors):
        raise StateDecodeError("author index out of range")
    return authors[i]


def _state(
    cl: int, cells: dict[str, Cell], contribs: dict[bytes, Contribution], origin: Clock | None = None
) -> RowState:
    try:
        return RowState(cl, cells, contribs, origin)
    except ValueError as exc:
        raise StateDecodeError(str(exc)) from exc
