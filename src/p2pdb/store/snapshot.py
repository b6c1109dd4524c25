"""Snapshots: the state of a database at a checkpoint, as content-addressed blocks (docs/checkpoints.md).

A snapshot is a root block and chunk blocks, all dag-cbor with CIDv1 sha2-256 (the log's encoding):

- the root ``{"snapshot": 1, "db", "checkpoint", "seq", "heads", "state", "merge", "entries",
  "rows", "tables": [{"name", "columns", "chunks": [CID, ...], "count"}]}``;
- each chunk a list of rows, each row a list of SQL values in ``columns`` order.

It holds the merge state, not the rows SQL shows: per-row versions (``_p2pdb_rows``), conflict
records, UNIQUE settlement, rejected entries, schema and access events, id ranges, checkpoints, and
the *floor* (the entries of the checkpoint's last interval, known by id so that late entries naming
them still integrate). Restoring it rebuilds every table from the row versions, exactly as a replica
shows them, then checks both hashes against the checkpoint's: a snapshot from a peer is believed only
when it equals what the signed checkpoint says. Nothing of a peer's SQL text is ever executed.

:func:`write_car` / :func:`read_car` move a snapshot as a CARv1 file (one root: the snapshot's root).
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import apsw

from p2pdb.checkpoint import Proposal
from p2pdb.crdt import StateDecodeError
from p2pdb.log import CID, codec
from p2pdb.log.blockstore import FloorNode
from p2pdb.log.cid import cid_for_block
from p2pdb.schema import Schema, TableSpec
from p2pdb.store.engine import give_back_free_pages
from p2pdb.store.schema import quote
from p2pdb.store.stored_state import Authors, canonical_reader, to_stored

#: Tables of the merge state a snapshot carries (the rows SQL shows are rebuilt from them).
STATE_TABLES = (
    "_p2pdb_rows",
    "_p2pdb_schema",
    "_p2pdb_acl",
    "_p2pdb_conflicts",
    "_p2pdb_settled",
    "_p2pdb_ids",
    "_p2pdb_orphans",
    "_p2pdb_rejected",
    "_p2pdb_checkpoints",
    "_p2pdb_countersigns",
)
USER_PREFIX = "user:"  # the rows SQL shows of a table with a primary key, by the table's identity
_FLOOR = "floor"  # pseudo-table: [cid, time, author, control set index, [floor parents]]
_CONTROLS = "controls"  # pseudo-table: [index, concatenated control CIDs]
CHUNK_BYTES = 256 * 1024
MAX_BLOCK = 2 * 1024 * 1024
_ROOT_KEYS = frozenset(
    ("snapshot", "db", "checkpoint", "seq", "heads", "state", "merge", "entries", "rows", "tables", "vv")
)


class SnapshotError(ValueError):
    """A snapshot that is malformed, incomplete, or not what its checkpoint says."""


@dataclass(frozen=True, slots=True)
class SnapshotRoot:
    cid: CID
    db: str
    checkpoint: CID
    seq: int
    heads: tuple[CID, ...]
    state: bytes
    merge: bytes
    entries: int
    rows: int
    tables: tuple[tuple[str, tuple[str, ...], tuple[CID, ...], int], ...]
    #: The version vector of the checkpoint: per author, the highest Lamport time below its heads
    #: (what a light node started from it takes as below its floor; docs/checkpoints.md).
    vv: tuple[tuple[bytes, int], ...] = ()

    @property
    def chunks(self) -> list[CID]:
        return [c for _, _, chunks, _ in self.tables for c in chunks]


def _chunks(rows: Iterable[list[Any]]) -> Iterator[tuple[bytes, int]]:
    batch: list[list[Any]] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += 16 + sum(len(v) if isinstance(v, str | bytes) else 9 for v in row)
        if size >= CHUNK_BYTES:
            yield codec.encode(batch), len(batch)
            batch, size = [], 0
    if batch:
        yield codec.encode(batch), len(batch)


def _columns(conn: apsw.Connection, table: str) -> tuple[str, ...]:
    return tuple(str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})"))


def dump(
    conn: apsw.Connection,
    address: str,
    checkpoint: Proposal,
    floor: Iterable[FloorNode],
    put: Callable[[CID, bytes], None],
    schema: Schema | None = None,
    vv: dict[bytes, int] | None = None,
) -> CID:
    """Write the snapshot of the database on ``conn`` (at the checkpoint's heads) through ``put``;
    return its root CID. ``floor``: the entries of the checkpoint's last interval. With ``schema``,
    the rows of its tables with a primary key too (``user:<name>``): a restore copies them (checked
    by the state hash) instead of rebuilding them from their versions, which is much faster."""
    tables: list[dict[str, Any]] = []

    def table(name: str, columns: tuple[str, ...], rows: Iterable[list[Any]]) -> None:
        chunks: list[CID] = []
        count = 0
        for data, n in _chunks(rows):
            cid = cid_for_block(data)
            put(cid, data)
            chunks.append(cid)
            count += n
        tables.append({"name": name, "columns": list(columns), "chunks": chunks, "count": count})

    for name in STATE_TABLES:
        columns = _columns(conn, name)
        order = ", ".join(f'"{c}"' for c in columns)
        rows: Iterable[list[Any]] = (
            list(r) for r in conn.execute(f"SELECT {order} FROM {name} ORDER BY {order}")
        )
        if name == "_p2pdb_rows":  # stored with local author numbers: a snapshot carries canonical states
            rows = _mapped(rows, columns.index("state"), canonical_reader(conn))
        table(name, columns, rows)
    for key, resolved in sorted((schema.tables if schema is not None else {}).items()):
        spec = resolved.spec
        if not spec.pk:
            continue  # hidden row identities map to local rowids: rebuilt from versions on restore
        names = ", ".join(quote(c) for c in spec.column_names)
        order = ", ".join(quote(c) for c in spec.pk)
        rows = (list(r) for r in conn.execute(f"SELECT {names} FROM {quote(spec.name)} ORDER BY {order}"))
        table(USER_PREFIX + key, tuple(spec.column_names), rows)
    controls: dict[frozenset[CID], int] = {}
    floor_rows = []
    for node in sorted(floor, key=lambda n: bytes(n.cid)):
        index = controls.setdefault(node.control, len(controls))
        floor_rows.append([node.cid, node.time, node.author, index, list(node.parents)])
    table(_FLOOR, ("cid", "time", "author", "control", "parents"), floor_rows)
    table(
        _CONTROLS,
        ("id", "cids"),
        ([i, b"".join(bytes(c) for c in sorted(s))] for s, i in controls.items()),
    )
    root = codec.encode(
        {
            "snapshot": 1,
            "db": address,
            "checkpoint": checkpoint.cid,
            "seq": checkpoint.seq,
            "heads": list(checkpoint.heads),
            "state": checkpoint.state,
            "merge": checkpoint.merge,
            "entries": checkpoint.entries,
            "rows": checkpoint.rows,
            "tables": tables,
            "vv": [[author, time] for author, time in sorted((vv or {}).items())],
        }
    )
    cid = cid_for_block(root)
    put(cid, root)
    return cid


def _decode(cid: CID, data: bytes | None) -> Any:
    if data is None:
        raise SnapshotError(f"snapshot block {cid} is missing")
    if len(data) > MAX_BLOCK or cid_for_block(data) != cid:
        raise SnapshotError(f"snapshot block {cid} does not match its CID")
    try:
        return codec.decode(data)
    except Exception as exc:
        raise SnapshotError(f"snapshot block {cid} is not dag-cbor: {exc}") from None


def _cids(value: Any, what: str) -> tuple[CID, ...]:
    if type(value) is not list or not all(isinstance(c, CID) for c in value):
        raise SnapshotError(f"snapshot {what} must be a list of CIDs")
    return tuple(value)


def parse_root(cid: CID, data: bytes | None) -> SnapshotRoot:
    """Decode and check the shape of a snapshot's root block."""
    root = _decode(cid, data)
    if type(root) is not dict or root.keys() != _ROOT_KEYS or root["snapshot"] != 1:
        raise SnapshotError("not a P2PDB snapshot root (version 1)")
    tables = []
    if type(root["tables"]) is not list:
        raise SnapshotError("snapshot tables must be a list")
    for item in root["tables"]:
        if type(item) is not dict or item.keys() != {"name", "columns", "chunks", "count"}:
            raise SnapshotError("a snapshot table is {name, columns, chunks, count}")
        name, columns, count = item["name"], item["columns"], item["count"]
        if type(name) is not str or type(columns) is not list or not all(type(c) is str for c in columns):
            raise SnapshotError("snapshot table names and columns are text")
        if type(count) is not int or count < 0:
            raise SnapshotError("snapshot table counts are non-negative integers")
        tables.append((name, tuple(columns), _cids(item["chunks"], "chunks"), count))
    checks = (
        type(root["db"]) is str,
        isinstance(root["checkpoint"], CID),
        type(root["seq"]) is int,
        all(type(root[k]) is bytes and len(root[k]) == 32 for k in ("state", "merge")),
        all(type(root[k]) is int and root[k] >= 0 for k in ("entries", "rows")),
    )
    if not all(checks):
        raise SnapshotError("malformed snapshot root")
    vv = root["vv"]
    well_formed = type(vv) is list and all(
        type(item) is list
        and len(item) == 2
        and type(item[0]) is bytes
        and len(item[0]) == 32
        and type(item[1]) is int
        and item[1] >= 0
        for item in vv
    )
    if not well_formed:
        raise SnapshotError("a snapshot's version vector is a list of [author key, time]")
    return SnapshotRoot(
        cid,
        root["db"],
        root["checkpoint"],
        root["seq"],
        _cids(root["heads"], "heads"),
        root["state"],
        root["merge"],
        root["entries"],
        root["rows"],
        tuple(tables),
        tuple((bytes(a), int(t)) for a, t in vv),
    )


def _rows(
    root: SnapshotRoot,
    name: str,
    get: Callable[[CID], bytes | None],
    progress: Callable[[int], None] | None,
) -> Iterator[list[Any]]:
    """The rows of one table of a snapshot, every chunk checked against its CID."""
    columns, chunks, count = next((c, ch, n) for t, c, ch, n in root.tables if t == name)
    seen = 0
    for chunk in chunks:
        batch = _decode(chunk, get(chunk))
        if type(batch) is not list:
            raise SnapshotError(f"snapshot chunk {chunk} is not a list of rows")
        for row in batch:
            if type(row) is not list or len(row) != len(columns):
                raise SnapshotError(f"a row of {name} does not have its {len(columns)} columns")
            yield row
        seen += len(batch)
        if progress is not None:
            progress(len(batch))
    if seen != count:
        raise SnapshotError(f"snapshot table {name} holds {seen} rows, its root says {count}")


def load_tables(
    conn: apsw.Connection,
    root: SnapshotRoot,
    get: Callable[[CID], bytes | None],
    progress: Callable[[int], None] | None = None,
) -> list[FloorNode]:
    """Fill the (empty) state tables on ``conn`` from a snapshot; return its floor. Every block is
    checked against its CID; columns must be exactly those this version of P2PDB has."""
    by_name = {name: columns for name, columns, _, _ in root.tables}
    if {n for n in by_name if not n.startswith(USER_PREFIX)} != {*STATE_TABLES, _FLOOR, _CONTROLS}:
        raise SnapshotError("snapshot tables are not those of this version of P2PDB")
    for name in STATE_TABLES:
        columns = by_name[name]
        if columns != _columns(conn, name):
            raise SnapshotError(f"snapshot table {name} has other columns than this version's")
        marks = ", ".join("?" for _ in columns)
        listed = ", ".join(f'"{c}"' for c in columns)
        rows: Iterable[list[Any]] = _rows(root, name, get, progress)
        if name == "_p2pdb_rows":
            rows = _mapped(rows, columns.index("state"), functools.partial(_stored, authors=Authors(conn)))
        conn.executemany(f"INSERT INTO {name} ({listed}) VALUES ({marks})", rows)
    controls: dict[int, frozenset[CID]] = {}
    for index, blob in _rows(root, _CONTROLS, get, progress):
        if type(index) is not int or type(blob) is not bytes or len(blob) % 36:
            raise SnapshotError("malformed control set in snapshot")
        controls[index] = frozenset(CID(blob[i : i + 36]) for i in range(0, len(blob), 36))
    floor = []
    for cid, time, author, index, parents in _rows(root, _FLOOR, get, progress):
        valid = isinstance(cid, CID) and type(time) is int and type(author) is bytes and index in controls
        if not valid:
            raise SnapshotError("malformed floor entry in snapshot")
        floor.append(FloorNode(cid, time, author, controls[index], _cids(parents, "floor parents")))
    return floor


def _mapped(rows: Iterable[list[Any]], index: int, fn: Callable[[bytes], bytes]) -> Iterator[list[Any]]:
    for row in rows:
        row[index] = fn(row[index])
        yield row


def _stored(blob: Any, authors: Authors) -> bytes:
    if type(blob) is not bytes:
        raise SnapshotError("malformed row state in snapshot")
    try:
        return to_stored(blob, authors.number)
    except (StateDecodeError, IndexError) as exc:
        raise SnapshotError(f"malformed row state in snapshot: {exc}") from exc


def load_rows(
    conn: apsw.Connection,
    root: SnapshotRoot,
    key: str,
    spec: TableSpec,
    get: Callable[[CID], bytes | None],
    progress: Callable[[int], None] | None = None,
) -> bool:
    """Fill the (new, empty) table ``spec`` with the rows the snapshot holds for it; False when it
    holds none for it in these columns (the table is then rebuilt from the row versions)."""
    found = next((cols for name, cols, _, _ in root.tables if name == USER_PREFIX + key), None)
    if found is None or found != tuple(spec.column_names) or not spec.pk:
        return False
    marks = ", ".join("?" for _ in found)
    listed = ", ".join(quote(c) for c in found)
    conn.executemany(
        f"INSERT INTO {quote(spec.name)} ({listed}) VALUES ({marks})",
        _rows(root, USER_PREFIX + key, get, progress),
    )
    return True


# -- CAR files (CARv1: https://ipld.io/specs/transport/car/carv1/) -----------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(stream: IO[bytes]) -> int | None:
    shift = value = 0
    while True:
        raw = stream.read(1)
        if not raw:
            if shift == 0:
                return None
            raise SnapshotError("CAR file ends inside a length")
        value |= (raw[0] & 0x7F) << shift
        if not raw[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise SnapshotError("CAR length too long")


def write_car(stream: IO[bytes], root: CID, blocks: Iterable[tuple[CID, bytes]]) -> int:
    """Write a CARv1 with one root; return the number of bytes written."""
    header = codec.encode({"roots": [root], "version": 1})
    written = stream.write(_varint(len(header)) + header)
    for cid, data in blocks:
        section = bytes(cid) + data
        written += stream.write(_varint(len(section)) + section)
    return written


def read_car(stream: IO[bytes]) -> tuple[CID, Iterator[tuple[CID, bytes]]]:
    """Read a CARv1 with one root: its root and an iterator over its blocks, each checked against
    its CID (CIDv1, dag-cbor or raw, sha2-256: what P2PDB writes)."""
    size = _read_varint(stream)
    if size is None or size > 4096:
        raise SnapshotError("not a CAR file (no header)")
    try:
        header = codec.decode(stream.read(size))
    except Exception as exc:
        raise SnapshotError(f"CAR header is not dag-cbor: {exc}") from None
    if type(header) is not dict or header.get("version") != 1:
        raise SnapshotError("only CARv1 files are read")
    roots = header.get("roots")
    if type(roots) is not list or len(roots) != 1 or not isinstance(roots[0], CID):
        raise SnapshotError("a snapshot CAR has exactly one root")

    def blocks() -> Iterator[tuple[CID, bytes]]:
        while (length := _read_varint(stream)) is not None:
            if length < 36 or length > MAX_BLOCK + 36:
                raise SnapshotError("CAR section of a wrong size")
            section = stream.read(length)
            if len(section) != length:
                raise SnapshotError("CAR file ends inside a block")
            try:
                cid = CID(section[:36])
            except ValueError as exc:
                raise SnapshotError(f"CAR section with a bad CID: {exc}") from None
            data = section[36:]
            if cid_for_block(data) != cid:
                raise SnapshotError(f"CAR block {cid} does not match its CID")
            yield cid, data

    return roots[0], blocks()


def car_bytes(root: CID, blocks: Iterable[tuple[CID, bytes]]) -> bytes:
    out = io.BytesIO()
    write_car(out, root, blocks)
    return out.getvalue()


class SnapshotStore:
    """The snapshots a node keeps for one database: blocks and roots in a SQLite file of their own
    (``<data-dir>/db/<name>.snapshots``; in memory for a database in memory)."""

    def __init__(self, path: Path | None) -> None:
        from p2pdb.store.collation import connect

        self.path = path
        self.conn = connect(str(path) if path is not None else ":memory:")
        # The node's own store and a worker's (saving a snapshot) share the file: a write waits
        # for the other's rather than failing the round.
        self.conn.setbusytimeout(5000)
        if path is not None:
            self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # a new file gives freed pages back
            self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS blocks (cid BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID"
        )
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS roots (seq INTEGER NOT NULL, checkpoint BLOB PRIMARY KEY,"
            " root BLOB NOT NULL) WITHOUT ROWID"
        )

    def close(self) -> None:
        self.conn.close()

    def get(self, cid: CID) -> bytes | None:
        for (data,) in self.conn.execute("SELECT data FROM blocks WHERE cid = ?", (bytes(cid),)):
            return zlib.decompress(data)
        return None

    def save(self, write: Callable[[Callable[[CID, bytes], None]], CID], seq: int, checkpoint: CID) -> CID:
        """Store the snapshot that ``write(put)`` makes (it returns its root) for ``checkpoint``."""
        with self.conn:

            def put(cid: CID, data: bytes) -> None:
                self.conn.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?)", (bytes(cid), _pack(data)))

            root = write(put)
            self.conn.execute(
                "INSERT OR REPLACE INTO roots VALUES (?, ?, ?)", (seq, bytes(checkpoint), bytes(root))
            )
        self._truncate()
        return root

    def _truncate(self) -> None:
        if self.path is not None:  # the WAL would otherwise keep a second copy on disk
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def put_blocks(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        """Keep blocks fetched from a peer (each already checked against its CID)."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO blocks VALUES (?, ?)", ((bytes(c), _pack(d)) for c, d in blocks)
            )

    def add_root(self, root: SnapshotRoot) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO roots VALUES (?, ?, ?)",
                (root.seq, bytes(root.checkpoint), bytes(root.cid)),
            )

    def has(self, cid: CID) -> bool:
        for _ in self.conn.execute("SELECT 1 FROM blocks WHERE cid = ?", (bytes(cid),)):
            return True
        return False

    def root_of(self, checkpoint: CID) -> SnapshotRoot | None:
        for (root,) in self.conn.execute("SELECT root FROM roots WHERE checkpoint = ?", (bytes(checkpoint),)):
            cid = CID(bytes(root))
            return parse_root(cid, self.get(cid))
        return None

    def root(self, cid: CID) -> SnapshotRoot | None:
        """A kept snapshot by its root CID."""
        for _ in self.conn.execute("SELECT 1 FROM roots WHERE root = ?", (bytes(cid),)):
            return parse_root(cid, self.get(cid))
        return None

    def latest(self) -> SnapshotRoot | None:
        for (root,) in self.conn.execute("SELECT root FROM roots ORDER BY seq DESC LIMIT 1"):
            cid = CID(bytes(root))
            return parse_root(cid, self.get(cid))
        return None

    def retain(self, checkpoints: Iterable[CID]) -> None:
        """Keep only the snapshots of ``checkpoints`` (and the blocks they use)."""
        keep = {bytes(c) for c in checkpoints}
        with self.conn:
            for (checkpoint,) in list(self.conn.execute("SELECT checkpoint FROM roots")):
                if bytes(checkpoint) not in keep:
                    self.conn.execute("DELETE FROM roots WHERE checkpoint = ?", (checkpoint,))
            used: set[bytes] = set()
            for (root,) in list(self.conn.execute("SELECT root FROM roots")):
                parsed = parse_root(CID(bytes(root)), self.get(CID(bytes(root))))
                used.update(bytes(c) for c in (parsed.cid, *parsed.chunks))
            for (cid,) in list(self.conn.execute("SELECT cid FROM blocks")):
                if bytes(cid) not in used:
                    self.conn.execute("DELETE FROM blocks WHERE cid = ?", (cid,))
        give_back_free_pages(self.conn)
        self._truncate()

    def blocks(self, root: SnapshotRoot) -> Iterator[tuple[CID, bytes]]:
        """The root block first, then every chunk (CAR order)."""
        for cid in (root.cid, *root.chunks):
            data = self.get(cid)
            if data is None:
                raise SnapshotError(f"snapshot block {cid} is missing from the store")
            yield cid, data

    def size(self) -> int:
        """Bytes the kept blocks take (compressed, as stored)."""
        for (total,) in self.conn.execute("SELECT coalesce(sum(length(data)), 0) FROM blocks"):
            return int(total)
        return 0


def _pack(data: bytes) -> bytes:
    # Chunks repeat keys and versions: stored compressed, served and checked as the block itself.
    return zlib.compress(data, 1)
