"""The schema merge: the schema that a set of schema events defines (docs/crdt.md "Schema").

:func:`resolve` is a pure function of a *set* of events: any order, any repetition gives the same
:class:`Schema` (tested as commutative, associative and idempotent with Hypothesis). The rules, per table
identity (names are compared by :func:`ident`, so ``Users`` and ``users`` are one table):

1. **Generations.** Every CREATE TABLE starts a generation. A DROP TABLE removes the generations its
   author had seen (observed-remove); a CREATE concurrent with a DROP survives it. The table exists iff
   a generation is live.
2. **Definition.** The live CREATE with the lowest event id (Lamport time, author key, CID, op index)
   is the *base*: it gives the primary key, the conflict rule and the table's spelling. Live CREATEs
   with the same primary key add their columns; those with another primary key lose (a conflict).
3. **Columns.** A column is defined by the CREATEs above and by ADD COLUMNs that apply to a live
   generation (one the author had seen). Each column identity keeps the definition of its earliest
   event (first definer wins); other definitions are conflicts. Columns are ordered by the id of the
   event that defines them, then by position in it, so every replica shows the same column order.
   DROP COLUMN removes the definitions of a column its author had seen (observed-remove: a concurrent
   ADD COLUMN survives it), never a key or counter column nor the last column. MODIFY COLUMN: the
   latest modification (event id) of a column that is there gives its definition, in its place.
   Table meta (comment, CHECK constraints, foreign keys): per key, the latest applicable change.
4. **Indexes.** CREATE INDEX applies like ADD COLUMN; DROP INDEX removes the creations its author had
   seen. Per index identity the earliest definition wins; an index naming columns the table does not
   have is left out (a conflict).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._defs import Column, IndexSpec, TableSpec, ViewSpec
from ._errors import SchemaError
from ._events import EventId, SchemaEvent
from ._names import ident


@dataclass(frozen=True, slots=True)
class SchemaConflict:
    """A definition the merge did not keep. ``time``/``author`` are the losing event's."""

    kind: str  # "primary_key", "column", "index", "view"
    table: str
    subject: str
    detail: str
    time: int
    author: bytes


@dataclass(frozen=True, slots=True)
class ResolvedTable:
    spec: TableSpec
    #: Indexes of the table, sorted by identity.
    indexes: tuple[IndexSpec, ...]
    #: Event ids of the live CREATE TABLEs (generations).
    gens: frozenset[EventId]

    def index(self, name: str) -> IndexSpec | None:
        key = ident(name)
        return next((i for i in self.indexes if i.ident == key), None)


@dataclass(frozen=True, slots=True)
class Schema:
    #: Resolved tables by identity.
    tables: Mapping[str, ResolvedTable]
    conflicts: tuple[SchemaConflict, ...] = ()
    #: Views by identity (a name is a table's or a view's, never both).
    views: Mapping[str, ViewSpec] = field(default_factory=dict)

    def table(self, name: str) -> ResolvedTable | None:
        return self.tables.get(ident(name))

    def view(self, name: str) -> ViewSpec | None:
        return self.views.get(ident(name))


EMPTY_SCHEMA = Schema({})


def resolve(events: Iterable[SchemaEvent]) -> Schema:
    """The schema defined by ``events`` (a set: order and repetition do not matter)."""
    by_table: dict[str, dict[EventId, SchemaEvent]] = defaultdict(dict)
    for event in events:
        by_table[event.table][event.eid] = event
    tables: dict[str, ResolvedTable] = {}
    views: dict[str, ViewSpec] = {}
    conflicts: list[SchemaConflict] = []
    for table in sorted(by_table):
        ordered = [by_table[table][eid] for eid in sorted(by_table[table])]
        resolved = _resolve_table(ordered, conflicts)
        if resolved is not None:
            tables[table] = resolved
        view = _resolve_view(ordered, conflicts, resolved is not None)
        if view is not None:
            views[table] = view
    conflicts.sort(key=lambda c: (c.table, c.kind, c.subject, c.time, c.author, c.detail))
    return Schema(tables, tuple(conflicts), views)


def _resolve_view(events: list[SchemaEvent], conflicts: list[SchemaConflict], table: bool) -> ViewSpec | None:
    """5. Views: a CREATE/ALTER VIEW or DROP VIEW replaces the definitions its author had seen; of the
    definitions left (concurrent ones), the latest (event id) wins and the others are conflicts. A
    table of the same name hides the view (a conflict)."""
    defs = [e for e in events if e.kind == "create_view"]
    if not defs:
        return None
    replacing = [e for e in events if e.kind in ("create_view", "drop_view")]
    live = [d for d in defs if not any(r.observes(d) for r in replacing)]
    if not live:
        return None
    winner = live[-1]
    for rival in live[:-1]:
        if rival.view != winner.view:
            detail = f"kept the definition of {_who(winner)}, not this one"
            conflicts.append(_conflict("view", winner.view.name, winner.view.name, detail, rival))
    if table:
        conflicts.append(
            _conflict("view", winner.view.name, winner.view.name, "a table has its name", winner)
        )
        return None
    return winner.view


def _who(event: SchemaEvent) -> str:
    return f"time {event.time}"


def _resolve_table(events: list[SchemaEvent], conflicts: list[SchemaConflict]) -> ResolvedTable | None:
    creates = [e for e in events if e.kind == "create_table"]
    drops = [e for e in events if e.kind == "drop_table"]
    # 1. Generations: a drop removes the creates its author had seen.
    live = [c for c in creates if not any(d.observes(c) for d in drops)]
    if not live:
        return None
    live_ids = frozenset(c.eid for c in live)

    def applies(event: SchemaEvent) -> bool:
        """The event was written against a generation that is live (one its author saw, not dropped)."""
        seen = (c for c in creates if event.observes(c) and c.eid in live_ids)
        return next(seen, None) is not None

    # 2. The base definition: the earliest live create.
    base = live[0]
    key = base.spec.pk_idents
    name = base.spec.name
    candidates: dict[str, list[tuple[EventId, int, Column, SchemaEvent]]] = defaultdict(list)
    for create in live:
        if create.spec.pk_idents != key:
            conflicts.append(
                _conflict(
                    "primary_key",
                    name,
                    name,
                    f"kept key {list(base.spec.pk)}, not {list(create.spec.pk)}",
                    create,
                )
            )
            continue
        for position, column in enumerate(create.spec.columns):
            candidates[column.ident].append((create.eid, position, column, create))
    for event in events:
        if event.kind == "add_column" and applies(event):
            candidates[event.column.ident].append((event.eid, 0, event.column, event))
    # 3b. DROP COLUMN removes the definitions (and MODIFYs) its author had seen; never a key column,
    # a counter column, or the last column (concurrent drops of every column keep the first one).
    protected = set(key) | set(base.spec.rule.get("columns", ()))
    col_drops: dict[str, list[SchemaEvent]] = defaultdict(list)
    for event in events:
        if event.kind == "drop_column" and ident(event.column_name) not in protected:
            col_drops[ident(event.column_name)].append(event)
    kept = {
        c: [d for d in defs if not any(drop.observes(d[3]) for drop in col_drops.get(c, ()))]
        for c, defs in candidates.items()
    }
    if not any(kept.values()):
        oldest = min(candidates, key=lambda c: min((d[0], d[1]) for d in candidates[c]))
        kept[oldest] = candidates[oldest]
    # 3c. MODIFY COLUMN: the latest modification (event id) of a column that is there gives its
    # definition; its position stays where it was defined.
    modifies: dict[str, list[SchemaEvent]] = defaultdict(list)
    for event in events:
        if event.kind != "modify_column" or not applies(event):
            continue
        column_ident = event.column.ident
        if any(drop.observes(event) for drop in col_drops.get(column_ident, ())):
            continue
        modifies[column_ident].append(event)
    # 3. Columns: the earliest definition of each identity wins, ordered by where they were defined.
    winners: list[tuple[EventId, int, Column]] = []
    for column_ident, found in kept.items():
        if not found:
            continue
        defs = sorted(found, key=lambda d: (d[0], d[1]))
        eid, position, column, _ = defs[0]
        for _, _, other, definer in defs[1:]:
            if other != column:
                detail = f"kept {_show(column)}, not {_show(other)}"
                conflicts.append(_conflict("column", name, column.name, detail, definer))
        changes = modifies.get(column_ident, [])
        if changes:
            latest = changes[-1]  # events are sorted by id
            for rival in changes[:-1]:
                if not latest.observes(rival) and rival.column != latest.column:
                    detail = f"kept {_show(latest.column)}, not {_show(rival.column)}"
                    conflicts.append(_conflict("column", name, column.name, detail, rival))
            column = latest.column
        winners.append((eid, position, column))
    winners.sort(key=lambda w: (w[0], w[1]))
    # 3e. Positions (FIRST / AFTER c of ADD and MODIFY), applied in event order: each places its
    # column first or after its anchor; an anchor that is not there, or that the event's author did
    # not have (defined later or concurrently), leaves the column in place, as it would have then.
    # A dropped column still anchors what was placed after it (``ADD c AFTER a`` then ``DROP a``
    # leaves c where a was): positions are applied with the dropped columns, which then leave.
    ghosts = {c: min(defs, key=lambda d: (d[0], d[1])) for c, defs in candidates.items() if not kept.get(c)}
    full = sorted([*winners, *((d[0], d[1], d[2]) for d in ghosts.values())], key=lambda w: (w[0], w[1]))
    order = [w[2] for w in full]
    placing = [
        e
        for e in events
        if e.at is not None
        and e.column.ident in {c.ident for c in order}
        and (
            (e.kind == "add_column" and any(d[3] is e for d in kept.get(e.column.ident, ())))
            or (e.kind == "add_column" and e.column.ident in ghosts and ghosts[e.column.ident][3] is e)
            or (e.kind == "modify_column" and e in modifies.get(e.column.ident, ()))
        )
    ]
    for event in placing:
        idents = [c.ident for c in order]
        at = ident(event.at) if event.at else ""
        if at and (at not in idents or at == event.column.ident):
            continue
        if at and not any(event.observes(d[3]) for d in candidates.get(at, ())):
            continue  # an anchor its author did not have (added later or concurrently): no anchor
        if at in ghosts and any(event.observes(drop) for drop in col_drops.get(at, ())):
            continue  # placed after the anchor was dropped (as far as its author knew): no anchor
        moving = order.pop(idents.index(event.column.ident))
        target = 0 if not at else [c.ident for c in order].index(at) + 1
        order.insert(target, moving)
    columns = tuple(c for c in order if c.ident not in ghosts)
    by_ident = {c.ident: c for c in columns}
    pk = tuple(by_ident[k].name for k in key)
    # 3d. Table meta (comment, CHECK, FOREIGN KEY): per key, the latest applicable change wins.
    meta = dict(base.spec.meta)
    for event in events:
        if event.kind == "table_meta" and applies(event):
            meta_key, value = event.meta
            if value is None:
                meta.pop(meta_key, None)
            else:
                meta[meta_key] = value
    try:
        spec = TableSpec.build(name, columns, pk, base.spec.rule).with_meta(meta)
    except SchemaError:  # cannot happen for checked events; keep the base definition alone
        spec = base.spec
    # 4. Indexes.
    index_drops = [e for e in events if e.kind == "drop_index"]
    index_defs: dict[str, list[SchemaEvent]] = defaultdict(list)
    for event in events:
        if event.kind != "create_index" or not applies(event):
            continue
        index = event.index_spec
        if any(d.observes(event) and ident(d.index_name) == index.ident for d in index_drops):
            continue
        index_defs[index.ident].append(event)
    indexes: list[IndexSpec] = []
    for index_ident in sorted(index_defs):
        first, *others = index_defs[index_ident]
        index = first.index_spec
        for rival in others:
            if rival.index_spec != index:
                detail = f"kept {_show_index(index)}, not {_show_index(rival.index_spec)}"
                conflicts.append(_conflict("index", name, index.name, detail, rival))
        cols = [by_ident.get(c) for c in index.column_idents]
        if any(c is None for c in cols):
            conflicts.append(
                _conflict("index", name, index.name, "names columns the table does not have", first)
            )
            continue
        indexes.append(IndexSpec(index.name, spec.name, tuple(c.name for c in cols if c), index.unique))
    return ResolvedTable(spec, tuple(indexes), live_ids)


def _conflict(kind: str, table: str, subject: str, detail: str, event: SchemaEvent) -> SchemaConflict:
    return SchemaConflict(kind, table, subject, detail, event.time, event.author)


def _show(column: Column) -> str:
    text = column.render()
    mysql_type = column.extra.get("mt")
    return f"{text} ({mysql_type})" if mysql_type else text


def _show_index(index: IndexSpec) -> str:
    return f"{'UNIQUE ' if index.unique else ''}({', '.join(index.columns)})"


def check_event(event: SchemaEvent, before: Schema) -> None:
    """Raise :class:`SchemaError` unless ``event`` fits ``before``, the schema its author had (the
    schema of its causal past and of the earlier ops of its entry). Honest peers never write a change
    that fails here; whether an entry is rejected is thereby a function of the entry and its past."""
    table = before.tables.get(event.table)
    if event.kind == "create_table":
        if table is not None or event.table in before.views:
            raise SchemaError(f"table {event.spec.name!r} already exists")
        return
    if event.kind == "create_view":
        if table is not None:
            raise SchemaError(f"table {event.view.name!r} already exists")
        return
    if event.kind == "drop_view":
        if event.table not in before.views:
            raise SchemaError(f"unknown view {event.table!r}")
        return
    if table is None:
        raise SchemaError(f"unknown table {event.table!r}")
    if event.kind == "add_column":
        if table.spec.column(event.column.name) is not None:
            raise SchemaError(f"column {event.column.name!r} of {table.spec.name!r} already exists")
    elif event.kind == "create_index":
        index = event.index_spec
        if any(table.spec.column(c) is None for c in index.columns):
            raise SchemaError(f"index {index.name!r} names unknown columns of {table.spec.name!r}")
        if any(other.index(index.name) is not None for other in before.tables.values()):
            raise SchemaError(f"index {index.name!r} already exists")
    elif event.kind == "drop_index" and table.index(event.index_name) is None:
        raise SchemaError(f"unknown index {event.index_name!r} of {table.spec.name!r}")
    elif event.kind == "modify_column":
        if table.spec.column(event.column.name) is None:
            raise SchemaError(f"unknown column {event.column.name!r} of {table.spec.name!r}")
        if event.column.ident in {ident(c) for c in table.spec.rule.get("columns", ())}:
            raise SchemaError(
                f"column {event.column.name!r} is named by the conflict rule of {table.spec.name!r}"
            )
    elif event.kind == "drop_column":
        column = table.spec.column(event.column_name)
        if column is None:
            raise SchemaError(f"unknown column {event.column_name!r} of {table.spec.name!r}")
        if column.ident in table.spec.pk_idents or column.ident in table.spec.rule.get("columns", ()):
            raise SchemaError(f"column {column.name!r} of {table.spec.name!r} is part of its key or rule")
        if any(column.ident in index.column_idents for index in table.indexes):
            raise SchemaError(
                f"column {column.name!r} of {table.spec.name!r} is indexed: drop the index first"
            )
        if len(table.spec.columns) == 1:
            raise SchemaError(f"column {column.name!r} is the last column of {table.spec.name!r}")
