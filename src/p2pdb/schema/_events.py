"""Schema events: one schema change of one log entry, with what its author had seen.

A DDL op of a log entry becomes a :class:`SchemaEvent`. Besides the change itself it carries ``past``:
the CIDs of the schema-changing entries in the causal past of its entry (the log computes them). That
is the author's view when it wrote the change, so "drop what the dropper had seen" and "add a column to
the table generation the author had" are decided from the event alone, the same on every replica.

Op bodies (the ``ops`` of an entry hold ``{"ddl": kind, **body}``)::

    create_table  {"spec": table spec}
    add_column    {"t": table, "col": column spec, "at": position (optional)}
    drop_column   {"t": table, "c": column}
    modify_column {"t": table, "col": column spec, "at": position (optional)}   (MODIFY / CHANGE / ALTER
                  COLUMN: a new definition)

``at`` places the column: ``""`` first (FIRST), a column name after it (AFTER c); without ``at`` an
added column goes last and a modified one stays where it is.
    create_index  {"spec": index spec}
    drop_index    {"t": table, "name": index}
    drop_table    {"t": table}
    create_view   {"spec": view spec}     (CREATE [OR REPLACE] VIEW, ALTER VIEW)
    drop_view     {"v": view}
    table_meta    {"t": table, "k": key, "v": value or None}   (comment, CHECK, FOREIGN KEY: check_meta)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from ._defs import Column, IndexSpec, TableSpec, ViewSpec, check_meta, check_name
from ._errors import SchemaError
from ._names import ident

#: Total order of events: Lamport time, author key, entry CID, position of the op in its entry.
EventId: TypeAlias = tuple[int, bytes, bytes, int]
Payload: TypeAlias = TableSpec | Column | IndexSpec | ViewSpec | tuple[str, Any] | str | None

DDL_KINDS = frozenset(
    (
        "create_table",
        "add_column",
        "drop_column",
        "modify_column",
        "create_index",
        "drop_index",
        "drop_table",
        "create_view",
        "drop_view",
        "table_meta",
    )
)


@dataclass(frozen=True, slots=True)
class SchemaEvent:
    time: int
    author: bytes
    cid: bytes
    index: int
    kind: str
    #: Identity of the table the event is about (:func:`ident` of its name).
    table: str
    #: TableSpec (create_table), Column (add_column, modify_column), IndexSpec (create_index), index
    #: name (drop_index), column name (drop_column), None (drop_table).
    payload: Payload
    #: CIDs of the schema-changing entries in the causal past of this event's entry.
    past: frozenset[bytes]
    #: add_column / modify_column: "" = FIRST, a column name = AFTER it, None = not placed.
    at: str | None = None

    @property
    def eid(self) -> EventId:
        return (self.time, self.author, self.cid, self.index)

    def observes(self, other: SchemaEvent) -> bool:
        """True iff ``other`` happened before this event: its entry is in this entry's causal past, or it
        is an earlier op of the same entry."""
        if other.cid == self.cid:
            return other.index < self.index
        return other.cid in self.past

    @property
    def spec(self) -> TableSpec:
        assert isinstance(self.payload, TableSpec)
        return self.payload

    @property
    def column(self) -> Column:
        assert isinstance(self.payload, Column)
        return self.payload

    @property
    def index_spec(self) -> IndexSpec:
        assert isinstance(self.payload, IndexSpec)
        return self.payload

    @property
    def index_name(self) -> str:
        assert isinstance(self.payload, str)
        return self.payload

    @property
    def meta(self) -> tuple[str, Any]:
        assert isinstance(self.payload, tuple)
        return self.payload

    @property
    def view(self) -> ViewSpec:
        assert isinstance(self.payload, ViewSpec)
        return self.payload

    @property
    def column_name(self) -> str:
        assert isinstance(self.payload, str)
        return self.payload


def _keys(body: Any, keys: frozenset[str], kind: str) -> dict[str, Any]:
    if type(body) is not dict or body.keys() != keys:
        raise SchemaError(f"{kind} takes exactly {', '.join(sorted(keys))}")
    return body


def parse_ddl(kind: str, body: Any) -> tuple[str, Payload]:
    """Parse one DDL op body strictly; return (table name as written, payload)."""
    if kind == "create_table":
        spec = TableSpec.from_ipld(_keys(body, frozenset(("spec",)), kind)["spec"])
        return spec.name, spec
    if kind in ("add_column", "modify_column"):
        fields = _keys(body, frozenset(("t", "col", "at")) if "at" in body else frozenset(("t", "col")), kind)
        return check_name(fields["t"], "table"), Column.from_ipld(fields["col"])
    if kind == "drop_column":
        fields = _keys(body, frozenset(("t", "c")), kind)
        return check_name(fields["t"], "table"), check_name(fields["c"], "column")
    if kind == "create_index":
        index = IndexSpec.from_ipld(_keys(body, frozenset(("spec",)), kind)["spec"])
        return index.table, index
    if kind == "drop_index":
        fields = _keys(body, frozenset(("t", "name")), kind)
        name = fields["name"]
        if type(name) is not str or not name:
            raise SchemaError("drop_index needs an index name")
        return check_name(fields["t"], "table"), name
    if kind == "drop_table":
        return check_name(_keys(body, frozenset(("t",)), kind)["t"], "table"), None
    if kind == "create_view":
        view = ViewSpec.from_ipld(_keys(body, frozenset(("spec",)), kind)["spec"])
        return view.name, view
    if kind == "drop_view":
        return check_name(_keys(body, frozenset(("v",)), kind)["v"], "view"), None
    if kind == "table_meta":
        fields = _keys(body, frozenset(("t", "k", "v")), kind)
        check_meta(fields["k"], fields["v"])
        return check_name(fields["t"], "table"), (fields["k"], fields["v"])
    raise SchemaError(f"unknown schema change {kind!r}")


def ddl_body(kind: str, table: str, payload: Payload, at: str | None = None) -> dict[str, Any]:
    """The op body of a schema change (inverse of :func:`parse_ddl` and :func:`position`)."""
    if kind == "create_table":
        assert isinstance(payload, TableSpec)
        return {"spec": payload.to_ipld()}
    if kind in ("add_column", "modify_column"):
        assert isinstance(payload, Column)
        body = {"t": table, "col": payload.to_ipld()}
        if at is not None:
            body["at"] = at
        return body
    if kind == "drop_column":
        return {"t": table, "c": payload}
    if kind == "create_index":
        assert isinstance(payload, IndexSpec)
        return {"spec": payload.to_ipld()}
    if kind == "drop_index":
        return {"t": table, "name": payload}
    if kind == "drop_table":
        return {"t": table}
    if kind == "create_view":
        assert isinstance(payload, ViewSpec)
        return {"spec": payload.to_ipld()}
    if kind == "drop_view":
        return {"v": table}
    if kind == "table_meta":
        assert isinstance(payload, tuple)
        return {"t": table, "k": payload[0], "v": payload[1]}
    raise SchemaError(f"unknown schema change {kind!r}")


def make_event(
    kind: str, body: Any, *, time: int, author: bytes, cid: bytes, index: int, past: frozenset[bytes]
) -> SchemaEvent:
    """Parse an op body into an event (raises :class:`SchemaError`)."""
    table, payload = parse_ddl(kind, body)
    return SchemaEvent(time, author, cid, index, kind, ident(table), payload, past, position(kind, body))


def position(kind: str, body: Any) -> str | None:
    """``at`` of an add_column / modify_column body (checked): "" FIRST, a name AFTER it."""
    if kind not in ("add_column", "modify_column") or type(body) is not dict or "at" not in body:
        return None
    at = body["at"]
    if at == "":
        return ""
    return check_name(at, "column")
