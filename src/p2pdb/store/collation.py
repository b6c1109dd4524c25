"""The case-insensitive text collation, and the only place the project opens SQLite connections.

``P2PDB_CI`` (the physical collation of MySQL character columns, see :mod:`p2pdb.schema._collation`)
compares two strings by :func:`fold_key`: trailing spaces (U+0020) removed, as MySQL's PAD SPACE
collations do, then Unicode case folding (``str.casefold``: 'A' = 'a', 'ß' = 'ss'). Accents are not
folded ('é' <> 'e'). Keys that differ compare as MySQL PAD SPACE strings of code points (the shorter
one padded with spaces), a total preorder whose ties are exactly the equal keys, as SQLite's indexes
require. UNIQUE settlement normalises values with the same :func:`fold_key`, so it sees the same ties.

MySQL collation names are registered too, so a statement may name them (``x COLLATE utf8mb4_bin``):
``*_ci`` names compare as ``P2PDB_CI`` (NO PAD for the ``0900`` ones), ``*_bin`` names by code point with
PAD SPACE (``utf8mb4_0900_bin``: NO PAD). ``binary`` is SQLite's own BINARY.

Every connection must have them: SQLite refuses to prepare a statement that touches a column whose
collation is unknown ("no such collation sequence"). :func:`connect` opens connections with them.

Where the package was built with its C module (``_collate.c``), the comparisons SQLite makes run
there: a string pair that ASCII decides never reaches Python, the rest calls the Python function of
the same rule, so the order is the same with or without it (``P2PDB_NATIVE=0`` forces the Python
functions).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import apsw

from p2pdb.schema import CI_COLLATION, column_collation

if TYPE_CHECKING:
    from p2pdb.schema import TableSpec
    from p2pdb.store.database import Database

log = logging.getLogger(__name__)

#: MySQL collation names a statement may use, beyond the physical ``P2PDB_CI``.
_CI_NAMES = (
    "utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8mb4_unicode_520_ci", "utf8mb3_general_ci",
    "utf8mb3_unicode_ci", "utf8_general_ci", "utf8_unicode_ci", "ascii_general_ci", "latin1_swedish_ci",
    "latin1_general_ci",
)  # fmt: skip
_CI_NO_PAD = ("utf8mb4_0900_ai_ci", "utf8mb4_0900_as_ci")
_BIN_NAMES = ("utf8mb4_bin", "utf8mb3_bin", "utf8_bin", "ascii_bin", "latin1_bin")
_BIN_NO_PAD = ("utf8mb4_0900_bin", "utf8mb4_0900_as_cs")


def fold_key(text: str) -> str:
    """The value ``P2PDB_CI`` compares: no trailing spaces, case folded."""
    text = text.rstrip(" ")
    return text.lower() if text.isascii() else text.casefold()


def _pad_compare(a: str, b: str) -> int:
    """PAD SPACE order of two strings without trailing spaces."""
    if a == b:
        return 0
    width = max(len(a), len(b))
    a, b = a.ljust(width), b.ljust(width)
    return -1 if a < b else 1


#: Folds of values up to this many characters are remembered (:data:`_folds`).
_CACHED_LENGTH = 256
#: At most this many: the cache is emptied when it is full.
_CACHED_VALUES = 4096

#: SQLite calls the collation for every comparison of a sort, a DISTINCT or an index search: one
#: ORDER BY over 100 rows compares each value about seven times. Remembering the folds of short
#: values made such a sort 1.7x as fast (365 -> 216 us for 100 sysbench ``c`` values, against 125
#: us for a collation that only compares; docs/performance.md). A plain dict: an LRU's bookkeeping
#: cost more than its misses. Reader threads share it (single dict operations are atomic).
_folds: dict[str, str] = {}


def _cached_fold(text: str) -> str:
    folded = fold_key(text)
    if len(text) <= _CACHED_LENGTH:
        if len(_folds) >= _CACHED_VALUES:
            _folds.clear()
        _folds[text] = folded
    return folded


def compare_ci(a: str, b: str) -> int:
    if a == b:
        return 0
    fa = _folds.get(a)
    if fa is None:
        fa = _cached_fold(a)
    fb = _folds.get(b)
    if fb is None:
        fb = _cached_fold(b)
    if fa == fb:
        return 0
    width_a, width_b = len(fa), len(fb)
    if width_a < width_b:  # PAD SPACE: the shorter key compares as if padded with spaces
        fa = fa.ljust(width_b)
    elif width_b < width_a:
        fb = fb.ljust(width_a)
    return -1 if fa < fb else 1


def _compare_ci_no_pad(a: str, b: str) -> int:
    if a == b:
        return 0
    fa = a.lower() if a.isascii() else a.casefold()
    fb = b.lower() if b.isascii() else b.casefold()
    return (fa > fb) - (fa < fb)


def _compare_bin(a: str, b: str) -> int:
    return _pad_compare(a.rstrip(" "), b.rstrip(" "))


def _compare_bin_no_pad(a: str, b: str) -> int:
    return (a > b) - (a < b)


#: Kinds of ``_collate.register``, and the Python function of each rule.
CI_PAD, CI_NO_PAD, BIN_PAD, BIN_NO_PAD = range(4)
RULES = {
    CI_PAD: compare_ci,
    CI_NO_PAD: _compare_ci_no_pad,
    BIN_PAD: _compare_bin,
    BIN_NO_PAD: _compare_bin_no_pad,
}
_NAMES = (
    ((CI_COLLATION, *_CI_NAMES), CI_PAD),
    (_CI_NO_PAD, CI_NO_PAD),
    (_BIN_NAMES, BIN_PAD),
    (_BIN_NO_PAD, BIN_NO_PAD),
)


def native_module(name: str, version: int) -> Any:
    """The C module ``name`` of this package, or None where the package was built without it,
    ``P2PDB_NATIVE=0`` is set, or the build implements another ``version`` of the rules (a checkout
    whose C file changed since it was built): the caller then uses its Python functions, which
    answer the same."""
    if os.environ.get("P2PDB_NATIVE", "1") == "0":
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if module.__file__ is None:
        return None
    if getattr(module, "version", None) != version:
        log.warning("C module %s is a stale build (pip install again); using the Python functions", name)
        return None
    return module


def load_extension_module(name: str, entry: str, install: Callable[[Any], None], version: int) -> Any:
    """The C module ``name`` of this package (see :func:`native_module`) that is also a SQLite
    extension, ``install``-ed and loaded into SQLite once through a scratch connection (SQLite hands
    an extension its API table there; the module then registers its functions on any connection by
    its ``sqlite3`` pointer). None where :func:`native_module` gives none or loading fails."""
    module = native_module(name, version)
    if module is None:
        return None
    if not module.ready():
        install(module)
        scratch = apsw.Connection(":memory:")
        try:
            scratch.enable_load_extension(True)
            scratch.load_extension(module.__file__, entry)
        except apsw.Error as exc:
            log.warning("C module %s not loaded (%s); using the Python functions", name, exc)
            return None
        finally:
            scratch.close()
    return module


_native: Any = load_extension_module(
    "p2pdb.store._collate",
    "sqlite3_p2pdbcollate_init",
    lambda module: module.install(compare_ci, _compare_ci_no_pad),
    version=1,  # RULES_VERSION of _collate.c
)


def native() -> bool:
    """Whether SQLite compares text with the C functions (:data:`_native`)."""
    return _native is not None


def register(conn: apsw.Connection, *, python: bool = False) -> apsw.Connection:
    """Register the collations on ``conn`` (and return it): the C functions where they are built
    (unless ``python``), else the Python ones; both give the same order."""
    if _native is not None and not python:
        pointer = conn.sqlite3pointer()
        for names, kind in _NAMES:
            for name in names:
                _native.register(pointer, name, kind)
        return conn
    for names, kind in _NAMES:
        for name in names:
            conn.create_collation(name, RULES[kind])
    return conn


def connect(location: str, flags: int | None = None) -> apsw.Connection:
    """An SQLite connection with the collations registered: every connection of the project."""
    if flags is None:
        return register(apsw.Connection(location))
    return register(apsw.Connection(location, flags=flags))


def index_folds(spec: TableSpec, columns: tuple[str, ...]) -> tuple[bool, ...]:
    """For each of ``columns`` of ``spec``: whether it compares under ``P2PDB_CI``."""
    keys = set(spec.pk_idents)
    out = []
    for name in columns:
        column = spec.column(name)
        extra: dict[str, Any] = column.extra if column is not None else {}
        out.append(column is not None and column_collation(extra, key=column.ident in keys) == CI_COLLATION)
    return tuple(out)


def physical_mismatch(conn: apsw.Connection, name: str, spec: TableSpec) -> bool:
    """Whether the physical table ``name`` has another collation than ``spec`` asks for on a column."""
    keys = set(spec.pk_idents)
    for column in spec.columns:
        want = column_collation(column.extra, key=column.ident in keys) or "BINARY"
        try:
            have = conn.column_metadata("main", name, column.name)[1]
        except apsw.Error:
            return True
        if str(have).upper() != want.upper():
            return True
    return False


def upgrade(db: Database) -> None:
    """Rebuild the tables a data directory of an older version made with other column collations
    (binary text columns): what SQL shows, and the UNIQUE settlement, then match a fresh replica."""
    stale = []
    for table in db.catalog.schema.tables.values():
        name = db.materializer._physical(table.spec)
        if name is not None and physical_mismatch(db.conn, name, table.spec):
            stale.append(table)
    if not stale:
        return
    with db.conn:
        for table in stale:
            log.info("rebuilding table %s of %s for its column collations", table.spec.name, db.name)
            db.materializer.rebuild(table, db.materializer._snapshot(table))
