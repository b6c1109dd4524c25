"""The hashes that say two replicas (or a replica and its log) hold the same database.

Functions of a connection and a schema, so they run on the writer, on a read snapshot of the file
(a checkpoint's self-check) or on a replay in memory alike.
"""

from __future__ import annotations

import hashlib

import apsw

from p2pdb.log import codec
from p2pdb.schema import Schema
from p2pdb.store.schema import quote
from p2pdb.store.stored_state import canonical_reader


def state_hash(conn: apsw.Connection, schema: Schema) -> str:
    """Deterministic hash of what SQL shows: every user table's definition (names, columns in
    order, types, key, rule), its indexes and its rows (by key; a table without a primary key as
    a sorted multiset of rows). Equal on converged replicas."""
    digest = hashlib.sha256()
    for key in sorted(schema.tables):
        table = schema.tables[key]
        spec = table.spec
        digest.update(codec.encode([spec.to_ipld(), [i.to_ipld() for i in table.indexes]]))
        order = ", ".join(quote(c) for c in (spec.pk or spec.column_names))
        select = ", ".join(quote(c) for c in spec.column_names)
        for row in conn.execute(f"SELECT {select} FROM {quote(spec.name)} ORDER BY {order}"):
            digest.update(codec.encode(list(row)))
    return digest.hexdigest()


def merge_state_hash(conn: apsw.Connection) -> str:
    """Hash of the merge state behind the rows: per-row states, conflict records, UNIQUE
    settlement, rejected entries, and the events every later entry is judged by (schema, access
    rules, id ranges, checkpoints). Equal on converged replicas; ``p2pdb verify``
    compares it with a replay of the log, so an edited merge state is found, not silently obeyed,
    and a snapshot restored from a peer must match a checkpoint's hash in all of it."""
    digest = hashlib.sha256()
    for part in merge_state_parts(conn).values():
        digest.update(bytes.fromhex(part))
    return digest.hexdigest()


def merge_state_parts(conn: apsw.Connection) -> dict[str, str]:
    """The merge state's hash by part (what a mismatch report names)."""
    parts: dict[str, str] = {}
    digest = hashlib.sha256()
    canonical = canonical_reader(conn)  # states are stored with local author numbers
    for tbl, pk, state in conn.execute("SELECT tbl, pk, state FROM _p2pdb_rows ORDER BY tbl, pk"):
        digest.update(codec.encode([tbl, pk, canonical(state)]))
    parts["rows"] = digest.hexdigest()
    conflicts = sorted(
        tuple(r)
        for r in conn.execute(
            "SELECT kind, tbl, pk, subject, detail, lost, cid, time, author FROM _p2pdb_conflicts"
        )
    )
    parts["conflicts"] = hashlib.sha256(codec.encode([list(r) for r in conflicts])).hexdigest()
    settled = conn.execute("SELECT tbl, pk, idx, vkey, lost, hidden FROM _p2pdb_settled ORDER BY 1, 2, 3")
    parts["settled"] = hashlib.sha256(
        codec.encode([[str(t), bytes(k), str(i), bytes(v), int(a), int(b)] for t, k, i, v, a, b in settled])
    ).hexdigest()
    rejected = sorted([bytes(c), str(r)] for c, r in conn.execute("SELECT cid, reason FROM _p2pdb_rejected"))
    parts["rejected"] = hashlib.sha256(codec.encode(rejected)).hexdigest()
    for table, columns in _EVENT_TABLES:
        rows = sorted(codec.encode(list(r)) for r in conn.execute(f"SELECT {columns} FROM {table}"))
        parts[table.removeprefix("_p2pdb_")] = hashlib.sha256(codec.encode(rows)).hexdigest()
    return parts


#: Tables of events taken from the log, with the columns every replica agrees on. Not
#: ``_p2pdb_orphans``: it is a hint derived from the row states (which columns rows hold cells for
#: that the table does not show; it only decides a rebuild instead of an ALTER), kept as a superset
#: whose exact contents depend on the order of arrival (a rebuild recomputes it, an add does not).
_EVENT_TABLES = (
    ("_p2pdb_schema", "cid, idx, time, author, kind, body"),
    ("_p2pdb_acl", "cid, idx, time, author, body"),
    ("_p2pdb_ids", "*"),
    (
        "_p2pdb_checkpoints",
        "cid, seq, prev, author, time, entries, rows, state, merge, at, heads, covers_prev, block",
    ),
    ("_p2pdb_countersigns", "cid, target, author, state, merge, block"),
)


def visible_rows(conn: apsw.Connection, schema: Schema) -> int:
    """How many rows SQL shows in all user tables."""
    total = 0
    for table in schema.tables.values():
        for (count,) in conn.execute(f"SELECT count(*) FROM {quote(table.spec.name)}"):
            total += int(count)
    return total
