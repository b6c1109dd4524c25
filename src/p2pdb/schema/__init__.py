"""The replicated schema: closed table/column/index definitions and the schema merge (docs/crdt.md).

Pure logic like :mod:`p2pdb.crdt`: no SQLite, no I/O. :func:`resolve` turns a set of
:class:`SchemaEvent` (one per DDL op of the log) into the :class:`Schema` every replica shows.
"""

from ._collation import CI_COLLATION, column_collation, is_binary_collation
from ._defs import NON_CONSTANT_DEFAULTS, Column, IndexSpec, TableSpec, ViewSpec, check_name, quote
from ._errors import SchemaError
from ._events import DDL_KINDS, EventId, Payload, SchemaEvent, ddl_body, make_event, parse_ddl
from ._names import INTERNAL_PREFIX, MAX_NAME, ident, is_internal
from ._resolve import EMPTY_SCHEMA, ResolvedTable, Schema, SchemaConflict, check_event, resolve
from ._types import affinity, check_mysql_type, check_sqlite_type, max_length, normalize_sqlite_type

__all__ = [
    "CI_COLLATION",
    "DDL_KINDS",
    "EMPTY_SCHEMA",
    "INTERNAL_PREFIX",
    "MAX_NAME",
    "NON_CONSTANT_DEFAULTS",
    "Column",
    "EventId",
    "IndexSpec",
    "Payload",
    "ResolvedTable",
    "Schema",
    "SchemaConflict",
    "SchemaError",
    "SchemaEvent",
    "TableSpec",
    "ViewSpec",
    "affinity",
    "check_event",
    "check_mysql_type",
    "check_name",
    "check_sqlite_type",
    "column_collation",
    "ddl_body",
    "ident",
    "is_binary_collation",
    "is_internal",
    "make_event",
    "max_length",
    "normalize_sqlite_type",
    "parse_ddl",
    "quote",
    "resolve",
]
