"""How row states are stored: the canonical bytes (:func:`p2pdb.crdt.encode_state`) with each author
key replaced by a small local number, and a compact form for rows written by one write.

A canonical state names its authors once, as a sorted list of 32-byte keys, and its cells refer to
them by position in that list. On disk the list holds instead each key's number in this file's
``_p2pdb_authors`` table, and the version byte is 2 instead of 1. Nothing else changes, so the two
forms convert by rewriting that list alone. That saves about 32 bytes per row, a quarter of a typical
state. States without authors (``[1, cl]``) are stored as they are, and so are states written
before this form existed: both forms are read.

A row whose cells all come from one write (a plain insert, or a row updated whole) is stored
compact instead: ``[4, cl, author number, time, column set number, [values], has origin]``, without
a version per cell, and with the column names once per file instead of once per row: the sorted
names, as a CBOR list, are numbered in the same table as the author keys (it numbers byte strings;
equal bytes get one number whatever they mean, so sharing it is safe). The values follow the names'
order. Files written before it hold ``[3, cl, author number, time, {column: value}, has origin]``;
both are read (docs/crdt.md §7).

The numbers are local to one file (each replica numbers the keys it meets in its own order). So
everything that leaves the file, or is compared between replicas, uses the canonical bytes:
merge-state hashes (:mod:`p2pdb.store.state_hash`), snapshots (:mod:`p2pdb.store.snapshot`) and
:class:`~p2pdb.store.rows.RowStates`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import apsw
import cbor2

from p2pdb.crdt import Cell, RowState, StateDecodeError, decode_state, encode_state
from p2pdb.crdt._values import SQL_TYPES
from p2pdb.log import Clock

AUTHORS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_authors (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE)"
)
_CANONICAL, _STORED, _COMPACT, _COLUMNS = 0x01, 0x02, 0x03, 0x04
_KEY_HEAD = b"\x58\x20"  # a CBOR byte string of 32 bytes
_KEY_LENGTH = 32


class Authors:
    """This file's numbers for byte strings: author keys and column sets, cached (call
    :meth:`reload` after a rollback: a number given in a rolled-back transaction is gone)."""

    __slots__ = ("_conn", "_ids", "_keys")

    def __init__(self, conn: apsw.Connection, *, create: bool = True) -> None:
        self._conn = conn
        if create:
            conn.execute(AUTHORS_SCHEMA)
        self._ids: dict[bytes, int] = {}
        self._keys: dict[int, bytes] = {}
        self.reload()

    def reload(self) -> None:
        self._ids.clear()
        self._keys.clear()
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_p2pdb_authors'"
        ).fetchall()
        if exists:
            for number, key in self._conn.execute("SELECT id, key FROM _p2pdb_authors"):
                self._ids[bytes(key)] = int(number)
                self._keys[int(number)] = bytes(key)

    def number(self, key: bytes) -> int:
        found = self._ids.get(key)
        if found is None:
            self._conn.execute("INSERT OR IGNORE INTO _p2pdb_authors (key) VALUES (?)", (key,))
            rows = self._conn.execute("SELECT id FROM _p2pdb_authors WHERE key = ?", (key,)).fetchall()
            found = int(rows[0][0])  # type: ignore[arg-type]
            self._ids[key] = found
            self._keys[found] = key
        return found

    def key(self, number: int) -> bytes:
        found = self._keys.get(number)
        if found is None:
            rows = self._conn.execute("SELECT key FROM _p2pdb_authors WHERE id = ?", (number,)).fetchall()
            if not rows:
                raise StateDecodeError(f"stored row state names unknown author number {number}")
            found = self._keys[number] = bytes(rows[0][0])  # type: ignore[arg-type]
            self._ids[found] = number
        return found


def _uint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned integer (or length) of the CBOR head at ``pos``, and the position after it."""
    info = data[pos] & 0x1F
    if info < 24:
        return info, pos + 1
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None:
        raise StateDecodeError("bad CBOR head in a stored row state")
    end = pos + 1 + width
    return int.from_bytes(data[pos + 1 : end]), end


def _head(major: int, value: int) -> bytes:
    """The shortest CBOR head of ``major`` type carrying ``value``."""
    if value < 24:
        return bytes((major << 5 | value,))
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes((major << 5 | info,)) + value.to_bytes(width)
    raise ValueError("CBOR values are at most 64 bits")


def _authors_span(data: bytes) -> tuple[int, int, int] | None:
    """For a state with an author list: (start of the list's head, number of authors, position of
    the first author). None for a state without one (``[1, cl]``)."""
    if len(data) < 3 or data[0] not in (0x84, 0x85, 0x86):
        return None
    _, pos = _uint(data, 2)  # cl, after the array head and the version byte
    if data[pos] >> 5 != 4:
        raise StateDecodeError("a row state's authors must be a list")
    count, first = _uint(data, pos)
    return pos, count, first


def to_stored(canonical: bytes, number: Callable[[bytes], int]) -> bytes:
    """The stored form of canonical state bytes (author keys replaced by ``number(key)``)."""
    if len(canonical) < 2 or canonical[1] != _CANONICAL:
        raise StateDecodeError("not a canonical row state")
    span = _authors_span(canonical)
    if span is None:
        return canonical
    start, count, pos = span
    parts = [canonical[:1], bytes((_STORED,)), canonical[2:start], _head(4, count)]
    for _ in range(count):
        if canonical[pos : pos + 2] != _KEY_HEAD:
            raise StateDecodeError("a row state's author keys must be 32-byte strings")
        parts.append(_head(0, number(canonical[pos + 2 : pos + 2 + _KEY_LENGTH])))
        pos += 2 + _KEY_LENGTH
    parts.append(canonical[pos:])
    return b"".join(parts)


def to_canonical(stored: bytes, key: Callable[[int], bytes]) -> bytes:
    """The canonical bytes of a stored state (of any form)."""
    if len(stored) < 2 or stored[1] == _CANONICAL:
        return stored
    if stored[1] in (_COMPACT, _COLUMNS):
        return encode_state(_compact(stored, key))
    if stored[1] != _STORED:
        raise StateDecodeError("unknown row state format")
    span = _authors_span(stored)
    if span is None:
        raise StateDecodeError("a stored row state without authors is kept canonical")
    start, count, pos = span
    parts = [stored[:1], bytes((_CANONICAL,)), stored[2:start], _head(4, count)]
    for _ in range(count):
        if stored[pos] >> 5 != 0:
            raise StateDecodeError("a stored row state's authors must be numbers")
        number, pos = _uint(stored, pos)
        parts.append(_KEY_HEAD + key(number))
    parts.append(stored[pos:])
    return b"".join(parts)


def store_state(state: RowState, number: Callable[[bytes], int]) -> bytes:
    """The stored bytes of ``state``. A row whose cells were all written by one write (and whose
    origin, if any, is that write: a plain insert) is stored compact, as
    ``[4, cl, author number, time, column set number, [values], has origin]``; any other in version 2."""
    cells = state.cells
    if cells and not state.contribs:
        version = next(iter(cells.values())).version
        # One write set every cell (the same clock object, as merging one change makes it), and
        # the origin, if any, is that write.
        if all(cell.version is version or cell.version == version for cell in cells.values()) and (
            state.origin is None or state.origin == version
        ):
            names = sorted(cells)
            item = [
                _COLUMNS,
                state.cl,
                number(version.id),
                version.time,
                number(_names_blob(tuple(names))),
                [cells[name].value for name in names],
                int(state.origin is not None),
            ]
            return cbor2.dumps(item, canonical=True)
    return to_stored(encode_state(state), number)


@functools.lru_cache(maxsize=4096)
def _names_blob(names: tuple[str, ...]) -> bytes:
    return cbor2.dumps(list(names), canonical=True)


@functools.lru_cache(maxsize=4096)
def _names(blob: bytes) -> tuple[str, ...]:
    try:
        names = cbor2.loads(blob)
    except (cbor2.CBORError, ValueError, TypeError, EOFError) as exc:
        raise StateDecodeError(f"a stored column set is not valid CBOR: {exc}") from exc
    if type(names) is not list or not names or not all(type(n) is str for n in names):
        raise StateDecodeError("a stored column set is a list of names")
    if len(set(names)) != len(names):
        raise StateDecodeError("a stored column set names a column twice")
    return tuple(names)


def load_state(stored: bytes, key: Callable[[int], bytes]) -> RowState:
    """The state stored in ``stored`` (any of the forms)."""
    if len(stored) > 1 and stored[1] in (_COMPACT, _COLUMNS):
        return _compact(stored, key)
    return decode_state(to_canonical(stored, key))


def _compact(stored: bytes, key: Callable[[int], bytes]) -> RowState:
    try:
        item = cbor2.loads(stored)
    except (cbor2.CBORError, ValueError, TypeError, EOFError) as exc:
        raise StateDecodeError(f"stored row state is not valid CBOR: {exc}") from exc
    if type(item) is list and len(item) == 7 and item[0] == _COLUMNS:
        _, cl, number, time, names_number, listed, has_origin = item
        if type(names_number) is not int or names_number < 0 or type(listed) is not list:
            raise StateDecodeError("bad column set in a compact row state")
        names = _names(key(names_number))
        if len(names) != len(listed):
            raise StateDecodeError("a compact row state's values do not match its column set")
        values = dict(zip(names, listed, strict=True))
    elif type(item) is list and len(item) == 6 and item[0] == _COMPACT:
        _, cl, number, time, values, has_origin = item
    else:
        raise StateDecodeError("a compact row state is [4, cl, author, time, columns, values, has origin]")
    if not all(type(v) is int and v >= 0 for v in (cl, number, time)) or has_origin not in (0, 1):
        raise StateDecodeError("bad numbers in a compact row state")
    if type(values) is not dict or not values:
        raise StateDecodeError("a compact row state has cells")
    if any(type(c) is not str or type(v) not in SQL_TYPES for c, v in values.items()):
        raise StateDecodeError("bad cell in a compact row state")
    version = Clock(time, key(number))
    try:
        return RowState(
            cl, {c: Cell(v, version) for c, v in values.items()}, {}, version if has_origin else None
        )
    except ValueError as exc:
        raise StateDecodeError(str(exc)) from exc


def canonical_reader(conn: apsw.Connection) -> Callable[[bytes], bytes]:
    """Stored state bytes of the file on ``conn`` -> canonical bytes (for a hash or a snapshot)."""
    authors = Authors(conn, create=False)
    return lambda blob: to_canonical(bytes(blob), authors.key)
