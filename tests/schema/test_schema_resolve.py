"""The schema merge (``p2pdb.schema.resolve``): rules, tie-breaks and Hypothesis properties.

Histories are generated like real ones: authors write schema changes against the schema they see (so
every change passes ``check_event`` against its past), and exchange what they know at random, so
changes are concurrent in every pattern. The properties:

- **a function of the set**: any order, any repetition, and any split into parts joined in any
  grouping (commutative, associative, idempotent) resolve alike;
- **sequential reference model**: when every change saw every earlier one, the result is what
  applying them one by one to a plain table model gives (CREATE, ADD COLUMN, CREATE/DROP INDEX, DROP);
- **well-formed**: column identities are distinct, keys and index columns exist, every live
  generation is a create no drop saw;
- **observed-remove**: a drop that saw every create removes the table; a create no drop saw keeps it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.schema import (
    Column,
    IndexSpec,
    SchemaError,
    SchemaEvent,
    TableSpec,
    ViewSpec,
    check_event,
    ident,
    resolve,
)

AUTHORS = [bytes([i]) * 32 for i in range(1, 5)]


def create(
    name: str, cols: list[Column], pk: tuple[str, ...] = ("id",), rule: dict | None = None
) -> TableSpec:
    return TableSpec.build(name, tuple(cols), pk, rule or {"rule": "lww"})


ID = Column("id", "INTEGER")


@dataclass
class History:
    """Replicas that write schema events against what they know and exchange knowledge."""

    known: list[set[int]] = field(default_factory=lambda: [set() for _ in AUTHORS])
    events: list[SchemaEvent] = field(default_factory=list)
    time: list[int] = field(default_factory=lambda: [0 for _ in AUTHORS])

    def view(self, author: int) -> list[SchemaEvent]:
        return [self.events[i] for i in sorted(self.known[author])]

    def write(
        self, author: int, kind: str, table: str, payload: object, at: str | None = None
    ) -> SchemaEvent | None:
        seen = self.view(author)
        before = resolve(seen)
        time = 1 + max([self.time[author], *(e.time for e in seen)])
        cid = f"e{len(self.events)}".encode()
        event = SchemaEvent(
            time, AUTHORS[author], cid, 0, kind, ident(table), payload, frozenset(e.cid for e in seen), at
        )  # type: ignore[arg-type]
        try:
            check_event(event, before)
        except SchemaError:
            return None
        self.time[author] = time
        self.events.append(event)
        self.known[author].add(len(self.events) - 1)
        return event

    def sync(self, a: int, b: int) -> None:
        self.known[b] |= self.known[a]


TABLE_DEFS = {
    "plain": lambda name: create(name, [ID, Column("a", "TEXT")]),
    "wide": lambda name: create(name, [ID, Column("b", "INTEGER"), Column("a", "TEXT")]),
    "text_key": lambda name: create(name, [Column("k", "TEXT"), Column("a", "INTEGER")], ("k",)),
    "keyless": lambda name: create(name, [Column("a", "TEXT"), Column("z", "REAL")], ()),
}
MODIFIED = [("TEXT",), ("INTEGER", True, "0"), ("VARCHAR(5)",)]
COLUMNS = [Column("c", "INTEGER"), Column("c", "TEXT"), Column("C", "REAL", True, "1.5"), Column("d", "BLOB")]


def index_on(table: str, cols: tuple[str, ...], unique: bool, name: str = "i") -> IndexSpec:
    return IndexSpec(f"{table}.{name}", table, cols, unique)


@st.composite
def histories(draw: st.DrawFn) -> History:
    history = History()
    for _ in range(draw(st.integers(1, 30))):
        author = draw(st.integers(0, len(AUTHORS) - 1))
        action = draw(
            st.sampled_from(
                ["create", "add", "index", "unindex", "drop", "dropcol", "modify", "sync", "sync"]
            )
        )
        name = draw(st.sampled_from(["t", "T", "u"]))
        if action == "sync":
            history.sync(author, draw(st.integers(0, len(AUTHORS) - 1)))
        elif action == "create":
            history.write(
                author, "create_table", name, TABLE_DEFS[draw(st.sampled_from(sorted(TABLE_DEFS)))](name)
            )
        elif action == "add":
            at = draw(st.sampled_from([None, None, "", "id", "a"]))
            history.write(author, "add_column", name, draw(st.sampled_from(COLUMNS)), at)
        elif action == "view":
            query = draw(st.sampled_from(["SELECT 1", "SELECT 2"]))
            history.write(author, "create_view", name, ViewSpec(name, query, ()))
        elif action == "unview":
            history.write(author, "drop_view", name, None)
        elif action in ("dropcol", "modify"):
            table = resolve(history.view(author)).table(name)
            if table is not None:
                target = draw(st.sampled_from(table.spec.columns))
                if action == "dropcol":
                    history.write(author, "drop_column", name, target.name)
                else:
                    new = draw(st.sampled_from(MODIFIED))
                    at = draw(st.sampled_from([None, None, "", "id", "a", "c"]))
                    history.write(author, "modify_column", name, Column(target.name, *new), at)
        elif action == "index":
            table = resolve(history.view(author)).table(name)
            if table is not None:
                cols = draw(
                    st.lists(
                        st.sampled_from(table.spec.column_names), min_size=1, max_size=2, unique_by=ident
                    )
                )
                spec = index_on(
                    table.spec.name, tuple(cols), draw(st.booleans()), draw(st.sampled_from(["i", "j"]))
                )
                history.write(author, "create_index", name, spec)
        elif action == "unindex":
            table = resolve(history.view(author)).table(name)
            if table is not None and table.indexes:
                history.write(author, "drop_index", name, draw(st.sampled_from(table.indexes)).name)
        elif action in ("dropcol", "modify"):
            table = resolve(history.view(author)).table(name)
            others = [c for c in table.spec.columns if c.ident not in table.spec.pk_idents] if table else []
            if table is not None and others and len(table.spec.columns) > 1:
                column = draw(st.sampled_from(others))
                if action == "dropcol":
                    history.write(author, "drop_column", name, column.name)
                else:
                    kind = draw(st.sampled_from(["TEXT", "INTEGER", "REAL"]))
                    history.write(
                        author, "modify_column", name, Column(column.name, kind, draw(st.booleans()))
                    )
        else:
            history.write(author, "drop_table", name, None)
    return history


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_resolve_is_a_function_of_the_set(history: History, rnd: random.Random) -> None:
    events = history.events
    expected = resolve(events)
    shuffled = [*events, *rnd.sample(events, k=len(events) // 2)]
    rnd.shuffle(shuffled)
    assert resolve(shuffled) == expected
    # Any split into three parts, joined in any grouping, gives the same (merge laws over the union).
    parts: list[list[SchemaEvent]] = [[], [], []]
    for event in events:
        parts[rnd.randrange(3)].append(event)
    a, b, c = parts
    assert resolve([*a, *b]) == resolve([*b, *a])
    assert resolve([*a, *b, *c]) == resolve([*c, *b, *a]) == expected
    assert resolve([*a, *a, *b, *c, *c]) == expected


@settings(max_examples=300, deadline=None)
@given(histories())
def test_resolved_schema_is_well_formed(history: History) -> None:
    schema = resolve(history.events)
    creates = {e.eid: e for e in history.events if e.kind == "create_table"}
    drops = [e for e in history.events if e.kind == "drop_table"]
    for key, table in schema.tables.items():
        spec = table.spec
        assert spec.ident == key
        idents = [c.ident for c in spec.columns]
        assert len(set(idents)) == len(idents)
        assert all(spec.column(p) is not None for p in spec.pk)
        for index in table.indexes:
            assert all(spec.column(c) is not None for c in index.columns)
        assert table.gens
        for gen in table.gens:
            assert not any(d.observes(creates[gen]) for d in drops if d.table == key)
    for key in {e.table for e in history.events}:
        live = [
            c
            for c in creates.values()
            if c.table == key and not any(d.table == key and d.observes(c) for d in drops)
        ]
        assert (key in schema.tables) == bool(live)


@st.composite
def linear_histories(draw: st.DrawFn) -> History:
    """Every author sees everything before it writes: no concurrency at all."""
    history = draw(histories())
    linear = History()
    for event in history.events:
        author = AUTHORS.index(event.author)
        for other in range(len(AUTHORS)):
            linear.sync(other, author)
        linear.write(
            author,
            event.kind,
            event.payload.name if isinstance(event.payload, TableSpec | ViewSpec) else event.table,
            event.payload,
            event.at,
        )
    return linear


VIEWS_OF: dict[int, dict[str, ViewSpec]] = {}


def place(columns: list[Column], key: str, at: str | None) -> list[Column]:
    """FIRST ("") or AFTER ``at``, as one ALTER TABLE does it (an unknown anchor: left in place)."""
    idents = [c.ident for c in columns]
    if at is None or (at and (ident(at) not in idents or ident(at) == key)):
        return columns
    moving = columns.pop(idents.index(key))
    target = 0 if not at else [c.ident for c in columns].index(ident(at)) + 1
    columns.insert(target, moving)
    return columns


def sequential(events: list[SchemaEvent]) -> dict[str, tuple[TableSpec, set[IndexSpec]]]:
    """The reference model: apply changes one by one (views go to ``views``)."""
    tables: dict[str, tuple[TableSpec, set[IndexSpec]]] = {}
    views = VIEWS_OF[id(events)] = {}
    for e in events:
        if e.kind == "create_table":
            tables[e.table] = (e.spec, set())
        elif e.kind == "drop_table":
            del tables[e.table]
        elif e.kind == "add_column":
            spec, indexes = tables[e.table]
            columns = place([*spec.columns, e.column], e.column.ident, e.at)
            tables[e.table] = (TableSpec(spec.name, tuple(columns), spec.pk, spec.rule), indexes)
        elif e.kind == "create_view":
            views[e.table] = e.view
        elif e.kind == "drop_view":
            del views[e.table]
        elif e.kind == "drop_column":
            spec, indexes = tables[e.table]
            columns = tuple(c for c in spec.columns if c.ident != ident(e.column_name))
            indexes = {i for i in indexes if ident(e.column_name) not in i.column_idents}
            tables[e.table] = (TableSpec(spec.name, columns, spec.pk, spec.rule), indexes)
        elif e.kind == "modify_column":
            spec, indexes = tables[e.table]
            columns = tuple(
                place(
                    [e.column if c.ident == e.column.ident else c for c in spec.columns], e.column.ident, e.at
                )
            )
            pk = tuple(e.column.name if ident(p) == e.column.ident else p for p in spec.pk)
            tables[e.table] = (TableSpec(spec.name, columns, pk, spec.rule), indexes)
        elif e.kind == "create_index":
            tables[e.table][1].add(e.index_spec)
        else:
            tables[e.table][1].discard(next(i for i in tables[e.table][1] if i.ident == ident(e.index_name)))
    return tables


@settings(max_examples=300, deadline=None)
@given(linear_histories())
def test_without_concurrency_the_schema_is_the_sequential_one(history: History) -> None:
    schema = resolve(history.events)
    model = sequential(history.events)
    assert dict(schema.views) == VIEWS_OF.pop(id(history.events))
    assert set(schema.tables) == set(model)
    for key, (spec, indexes) in model.items():
        table = schema.tables[key]
        assert table.spec == spec and table.spec.pk == spec.pk
        assert {(i.ident, i.column_idents, i.unique) for i in table.indexes} == {
            (i.ident, i.column_idents, i.unique) for i in indexes
        }
    assert schema.conflicts == ()


def test_an_anchor_the_author_did_not_have_leaves_the_column_in_place() -> None:
    """MODIFY a AFTER c, written where no c existed (a peer's event; SQL says 1054), then ADD c:
    a stays where it was, as applying the events one by one gives (found by the property above;
    the resolver used to move a after the c that came later)."""
    a3, a1 = b"\x03" * 32, b"\x01" * 32
    create = SchemaEvent(
        time=1, author=a3, cid=b"e0", index=0, kind="create_table", table="t",
        payload=TableSpec("t", (Column("a", "TEXT"), Column("z", "REAL")), ()), past=frozenset(), at=None,
    )  # fmt: skip
    modify = SchemaEvent(
        time=2, author=a3, cid=b"e1", index=0, kind="modify_column", table="t",
        payload=Column("a", "TEXT"), past=frozenset({b"e0"}), at="c",
    )  # fmt: skip
    add = SchemaEvent(
        time=3, author=a1, cid=b"e2", index=0, kind="add_column", table="t",
        payload=Column("c", "INTEGER"), past=frozenset({b"e0", b"e1"}), at=None,
    )  # fmt: skip
    for events in ([create, modify, add], [add, modify, create]):
        assert [c.name for c in resolve(events).tables["t"].spec.columns] == ["a", "z", "c"]
    # An author that had c moves a after it.
    after = SchemaEvent(
        time=4, author=a3, cid=b"e3", index=0, kind="modify_column", table="t",
        payload=Column("a", "TEXT"), past=frozenset({b"e0", b"e1", b"e2"}), at="c",
    )  # fmt: skip
    assert [c.name for c in resolve([create, modify, add, after]).tables["t"].spec.columns] == ["z", "c", "a"]


# -- the divergences of issue 9, as rules --------------------------------------------------------------


def two_authors() -> History:
    return History()


def test_concurrent_creates_with_different_keys_keep_the_lowest_clock_in_any_order() -> None:
    h = History()
    late = h.write(1, "create_table", "t", TABLE_DEFS["text_key"]("t"))
    h.time[0] = 5  # the other create has a higher clock
    early_clock = h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    assert late is not None and early_clock is not None
    for events in (h.events, list(reversed(h.events))):
        table = resolve(events).tables["t"]
        assert table.spec.pk == ("k",)  # time 1 beats time 6, whichever arrived first
    assert [c.kind for c in resolve(h.events).conflicts] == ["primary_key"]


def test_names_differing_in_case_are_one_table_spelled_by_the_winner() -> None:
    h = History()
    h.write(0, "create_table", "Users", TABLE_DEFS["plain"]("Users"))
    h.write(1, "create_table", "users", TABLE_DEFS["wide"]("users"))
    schema = resolve(h.events)
    assert list(schema.tables) == ["users"]
    assert schema.tables["users"].spec.name == "Users"  # author 0's key is lower
    assert schema.tables["users"].spec.column_names == ("id", "a", "b")


def test_drop_removes_only_what_it_saw() -> None:
    h = History()
    h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    h.sync(0, 1)
    h.write(1, "drop_table", "t", None)
    h.write(2, "create_table", "t", TABLE_DEFS["wide"]("t"))  # never saw either
    table = resolve(h.events).tables["t"]
    assert table.spec.column_names == ("id", "b", "a")
    assert len(table.gens) == 1
    # A drop that saw both removes the table.
    h.sync(2, 1)
    h.write(1, "drop_table", "t", None)
    assert "t" not in resolve(h.events).tables


def test_drop_then_recreate_starts_a_new_generation() -> None:
    h = History()
    first = h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    h.write(0, "add_column", "t", Column("c", "INTEGER"))
    h.write(0, "drop_table", "t", None)
    second = h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    assert first is not None and second is not None
    table = resolve(h.events).tables["t"]
    assert table.gens == {second.eid}
    assert table.spec.column_names == ("id", "a")  # the old generation's column is gone


def test_an_add_column_concurrent_with_a_drop_is_dropped_with_its_generation() -> None:
    h = History()
    h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    h.sync(0, 1)
    h.write(0, "drop_table", "t", None)
    h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    h.write(1, "add_column", "t", Column("c", "INTEGER"))  # to the generation 0 dropped
    assert resolve(h.events).tables["t"].spec.column_names == ("id", "a")


def test_compatible_creates_give_one_column_order_everywhere() -> None:
    h = History()
    h.write(1, "create_table", "t", TABLE_DEFS["wide"]("t"))
    h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    h.write(0, "add_column", "t", Column("e", "TEXT"))
    h.write(1, "add_column", "t", Column("d", "TEXT"))
    for events in (h.events, list(reversed(h.events))):
        assert resolve(events).tables["t"].spec.column_names == (
            "id",
            "a",
            "b",
            "e",
            "d",
        )  # by (time, author)


def test_conflicting_add_column_keeps_the_first_definition_and_reports_the_other() -> None:
    h = History()
    h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    h.sync(0, 1)
    h.write(1, "add_column", "t", Column("c", "TEXT"))
    h.write(0, "add_column", "t", Column("c", "INTEGER"))
    schema = resolve(h.events)
    assert schema.tables["t"].spec.column("c") == Column("c", "INTEGER")  # author 0 (lower key), same time
    assert [(c.kind, c.subject) for c in schema.conflicts] == [("column", "c")]


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("create_table", TABLE_DEFS["plain"]("T"), "already exists"),
        ("add_column", Column("A", "TEXT"), "already exists"),
        ("create_index", index_on("t", ("nope",), False), "unknown columns"),
        ("drop_index", "t.nope", "unknown index"),
    ],
)
def test_changes_that_do_not_fit_their_past_are_refused(kind: str, payload: object, message: str) -> None:
    h = History()
    h.write(0, "create_table", "t", TABLE_DEFS["plain"]("t"))
    event = SchemaEvent(9, AUTHORS[0], b"x", 0, kind, "t", payload, frozenset(e.cid for e in h.events))  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=message):
        check_event(event, resolve(h.events))


@pytest.mark.parametrize(
    "bad",
    [
        {"n": "c", "t": "TEXT UNIQUE", "nn": False, "dv": None},
        {"n": "c", "t": "TEXT", "nn": False, "dv": None, "x": {"mt": "int references t(id)"}},
        {"n": "c", "t": "TEXT", "nn": False, "dv": None, "x": {"mt": "int generated always as (1) stored"}},
        {"n": "c", "t": "TEXT", "nn": False, "dv": None, "x": {"mt": "varchar(3) collate utf8mb4_bin"}},
        {"n": "c", "t": "INTEGER PRIMARY KEY", "nn": False, "dv": None},
        {"n": "c", "t": "TEXT", "nn": False, "dv": "(1)"},
        {"n": "c", "t": "TEXT", "nn": False, "dv": None, "x": {"ai": 1}},
        {"n": "_p2pdb_x", "t": "TEXT", "nn": False, "dv": None},
        {"n": "c", "t": "TEXT", "nn": "no", "dv": None},
        {"n": "c", "t": "TEXT", "nn": False},
    ],
)
def test_peer_column_specs_are_a_closed_structure(bad: dict) -> None:
    with pytest.raises(SchemaError):
        Column.from_ipld(bad)


def test_accepted_mysql_types_round_trip() -> None:
    for mysql_type in (
        "int",
        "int unsigned",
        "decimal(10, 2)",
        "enum('a', 'b''c')",
        "varchar(20)",
        "datetime(6)",
    ):
        spec = {"n": "c", "t": "TEXT", "nn": False, "dv": None, "x": {"mt": mysql_type, "ai": True}}
        assert Column.from_ipld(spec).to_ipld() == spec
