"""``information_schema`` as an in-memory SQLite database attached to a connection.

Drivers and ORMs read the catalog with plain SELECTs (``SELECT COLUMN_NAME, DATA_TYPE FROM
information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?``). Rather than rewriting those
queries, :func:`refresh_information_schema` keeps real tables with MySQL 8's names, columns and
values in ``ATTACH ':memory:' AS information_schema`` on the caller's connection, so the client's
SELECT runs unchanged on SQLite. Declared column types are MySQL's, so result metadata reads right.

Refilling is skipped while the schema is unchanged: the caller passes a ``version`` token that
changes with the schema, or the function compares the specs themselves (cheap when the source hands
out the store's cached spec objects). Row counts (TABLE_ROWS, CARDINALITY) are taken at refill time,
like MySQL's cached statistics (``information_schema_stats_expiry``).

``P2PDB_CONFLICTS`` is P2PDB's own table: the conflict records of every database (what merges
discarded or hid, :mod:`p2pdb.store.conflicts`). Merges change it without touching any schema, so it
is refilled by :func:`fill_conflicts` whenever a query names it, not by the schema refresh.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import apsw

from p2pdb.sql.catalog_meta import (
    CHARSETS,
    COLLATIONS,
    ENGINES,
    INFORMATION_SCHEMA,
    PLUGINS,
    PRIVILEGES,
    CatalogSource,
    database_views,
    describe_table,
    indexes_of,
    table_comment,
)
from p2pdb.sql.mysqltypes import CHARSET_NAME, COLLATION_NAME
from p2pdb.store.schema import Column, IndexSpec, TableSpec

_NAME = "varchar(64)"
#: The table of conflict records; it changes without any schema change, so it is filled on its own
#: (:func:`fill_conflicts`), each time a query names it.
CONFLICTS = "P2PDB_CONFLICTS"
#: The sessions and what they run; filled by :func:`fill_processlist` each time a query names it.
PROCESSLIST = "PROCESSLIST"
#: Every row version the change feed keeps, with who wrote it and when; filled by
#: :func:`fill_history` each time a query names it (of the tables the query names, when it does).
HISTORY = "P2PDB_HISTORY"
#: The rows that differ between two versions of a database; filled by :func:`fill_diff` each time a
#: query names it (the versions come from the query's FROM_POINT and TO_POINT).
DIFF = "P2PDB_DIFF"
#: MySQL 8's columns for each table, with MySQL types as SQLite declared types.
TABLES: dict[str, str] = {
    "CHARACTER_SETS": "CHARACTER_SET_NAME N, DEFAULT_COLLATE_NAME N, DESCRIPTION varchar(2048),"
    " MAXLEN int unsigned",
    "COLLATIONS": "COLLATION_NAME N, CHARACTER_SET_NAME N, ID bigint unsigned, IS_DEFAULT varchar(3),"
    " IS_COMPILED varchar(3), SORTLEN int unsigned, PAD_ATTRIBUTE varchar(9)",
    "COLUMNS": "TABLE_CATALOG N, TABLE_SCHEMA N, TABLE_NAME N, COLUMN_NAME N, ORDINAL_POSITION int unsigned,"
    " COLUMN_DEFAULT text, IS_NULLABLE varchar(3), DATA_TYPE longtext, CHARACTER_MAXIMUM_LENGTH bigint,"
    " CHARACTER_OCTET_LENGTH bigint, NUMERIC_PRECISION bigint unsigned, NUMERIC_SCALE bigint unsigned,"
    " DATETIME_PRECISION int unsigned, CHARACTER_SET_NAME N, COLLATION_NAME N, COLUMN_TYPE mediumtext,"
    " COLUMN_KEY varchar(3), EXTRA varchar(256), PRIVILEGES varchar(154), COLUMN_COMMENT text,"
    " GENERATION_EXPRESSION longtext, SRS_ID int unsigned",
    "ENGINES": "ENGINE N, SUPPORT varchar(8), COMMENT varchar(80), TRANSACTIONS varchar(3), XA varchar(3),"
    " SAVEPOINTS varchar(3)",
    "FILES": "FILE_ID bigint, FILE_NAME text, FILE_TYPE varchar(256), TABLESPACE_NAME N, TABLE_CATALOG N,"
    " TABLE_SCHEMA N, TABLE_NAME N, LOGFILE_GROUP_NAME N, LOGFILE_GROUP_NUMBER bigint, ENGINE N,"
    " FULLTEXT_KEYS N, DELETED_ROWS N, UPDATE_COUNT N, FREE_EXTENTS bigint, TOTAL_EXTENTS bigint,"
    " EXTENT_SIZE bigint, INITIAL_SIZE bigint, MAXIMUM_SIZE bigint, AUTOEXTEND_SIZE bigint,"
    " CREATION_TIME N, LAST_UPDATE_TIME N, LAST_ACCESS_TIME N, RECOVER_TIME N, TRANSACTION_COUNTER N,"
    " VERSION bigint, ROW_FORMAT varchar(256), TABLE_ROWS N, AVG_ROW_LENGTH N, DATA_LENGTH N,"
    " MAX_DATA_LENGTH N, INDEX_LENGTH N, DATA_FREE bigint, CREATE_TIME N, UPDATE_TIME N, CHECK_TIME N,"
    " CHECKSUM N, STATUS varchar(256), EXTRA varchar(256)",
    "CHECK_CONSTRAINTS": "CONSTRAINT_CATALOG N, CONSTRAINT_SCHEMA N, CONSTRAINT_NAME N, CHECK_CLAUSE longtext",
    "EVENTS": "EVENT_CATALOG N, EVENT_SCHEMA N, EVENT_NAME N, DEFINER varchar(288), TIME_ZONE N,"
    " EVENT_BODY varchar(3), EVENT_DEFINITION longtext, EVENT_TYPE varchar(9), EXECUTE_AT datetime,"
    " INTERVAL_VALUE varchar(256), INTERVAL_FIELD varchar(18), SQL_MODE varchar(520), STARTS datetime,"
    " ENDS datetime, STATUS varchar(21), ON_COMPLETION varchar(12), CREATED timestamp,"
    " LAST_ALTERED timestamp, LAST_EXECUTED datetime, EVENT_COMMENT N, ORIGINATOR int unsigned,"
    " CHARACTER_SET_CLIENT N, COLLATION_CONNECTION N, DATABASE_COLLATION N",
    "KEY_COLUMN_USAGE": "CONSTRAINT_CATALOG N, CONSTRAINT_SCHEMA N, CONSTRAINT_NAME N, TABLE_CATALOG N,"
    " TABLE_SCHEMA N, TABLE_NAME N, COLUMN_NAME N, ORDINAL_POSITION int unsigned,"
    " POSITION_IN_UNIQUE_CONSTRAINT int unsigned, REFERENCED_TABLE_SCHEMA N, REFERENCED_TABLE_NAME N,"
    " REFERENCED_COLUMN_NAME N",
    "PARAMETERS": "SPECIFIC_CATALOG N, SPECIFIC_SCHEMA N, SPECIFIC_NAME N, ORDINAL_POSITION int unsigned,"
    " PARAMETER_MODE varchar(5), PARAMETER_NAME N, DATA_TYPE longtext, CHARACTER_MAXIMUM_LENGTH bigint,"
    " CHARACTER_OCTET_LENGTH bigint, NUMERIC_PRECISION int unsigned, NUMERIC_SCALE bigint,"
    " DATETIME_PRECISION int unsigned, CHARACTER_SET_NAME N, COLLATION_NAME N, DTD_IDENTIFIER mediumtext,"
    " ROUTINE_TYPE varchar(9)",
    "PARTITIONS": "TABLE_CATALOG N, TABLE_SCHEMA N, TABLE_NAME N, PARTITION_NAME N, SUBPARTITION_NAME N,"
    " PARTITION_ORDINAL_POSITION int unsigned, SUBPARTITION_ORDINAL_POSITION int unsigned,"
    " PARTITION_METHOD varchar(13), SUBPARTITION_METHOD varchar(13), PARTITION_EXPRESSION varchar(2048),"
    " SUBPARTITION_EXPRESSION varchar(2048), PARTITION_DESCRIPTION text, TABLE_ROWS bigint unsigned,"
    " AVG_ROW_LENGTH bigint unsigned, DATA_LENGTH bigint unsigned, MAX_DATA_LENGTH bigint unsigned,"
    " INDEX_LENGTH bigint unsigned, DATA_FREE bigint unsigned, CREATE_TIME timestamp, UPDATE_TIME datetime,"
    " CHECK_TIME datetime, CHECKSUM bigint, PARTITION_COMMENT text, NODEGROUP varchar(256),"
    " TABLESPACE_NAME varchar(268)",
    "PLUGINS": "PLUGIN_NAME N, PLUGIN_VERSION varchar(20), PLUGIN_STATUS varchar(10), PLUGIN_TYPE varchar(80),"
    " PLUGIN_TYPE_VERSION varchar(20), PLUGIN_LIBRARY N, PLUGIN_LIBRARY_VERSION varchar(20),"
    " PLUGIN_AUTHOR N, PLUGIN_DESCRIPTION longtext, PLUGIN_LICENSE varchar(80), LOAD_OPTION varchar(64)",
    "REFERENTIAL_CONSTRAINTS": "CONSTRAINT_CATALOG N, CONSTRAINT_SCHEMA N, CONSTRAINT_NAME N,"
    " UNIQUE_CONSTRAINT_CATALOG N, UNIQUE_CONSTRAINT_SCHEMA N, UNIQUE_CONSTRAINT_NAME N,"
    " MATCH_OPTION varchar(7), UPDATE_RULE varchar(11), DELETE_RULE varchar(11), TABLE_NAME N,"
    " REFERENCED_TABLE_NAME N",
    "ROUTINES": "SPECIFIC_NAME N, ROUTINE_CATALOG N, ROUTINE_SCHEMA N, ROUTINE_NAME N,"
    " ROUTINE_TYPE varchar(9), DATA_TYPE longtext, CHARACTER_MAXIMUM_LENGTH bigint,"
    " CHARACTER_OCTET_LENGTH bigint, NUMERIC_PRECISION int unsigned, NUMERIC_SCALE int unsigned,"
    " DATETIME_PRECISION int unsigned, CHARACTER_SET_NAME N, COLLATION_NAME N, DTD_IDENTIFIER longtext,"
    " ROUTINE_BODY varchar(8), ROUTINE_DEFINITION longtext, EXTERNAL_NAME N, EXTERNAL_LANGUAGE N,"
    " PARAMETER_STYLE varchar(3), IS_DETERMINISTIC varchar(3), SQL_DATA_ACCESS varchar(17), SQL_PATH N,"
    " SECURITY_TYPE varchar(7), CREATED timestamp, LAST_ALTERED timestamp, SQL_MODE varchar(520),"
    " ROUTINE_COMMENT text, DEFINER varchar(288), CHARACTER_SET_CLIENT N, COLLATION_CONNECTION N,"
    " DATABASE_COLLATION N",
    "SCHEMATA": "CATALOG_NAME N, SCHEMA_NAME N, DEFAULT_CHARACTER_SET_NAME N, DEFAULT_COLLATION_NAME N,"
    " SQL_PATH binary(0), DEFAULT_ENCRYPTION varchar(3)",
    "STATISTICS": "TABLE_CATALOG N, TABLE_SCHEMA N, TABLE_NAME N, NON_UNIQUE int, INDEX_SCHEMA N,"
    " INDEX_NAME N, SEQ_IN_INDEX int unsigned, COLUMN_NAME N, COLLATION varchar(1), CARDINALITY bigint,"
    " SUB_PART bigint, PACKED binary(0), NULLABLE varchar(3), INDEX_TYPE varchar(11), COMMENT varchar(8),"
    " INDEX_COMMENT varchar(2048), IS_VISIBLE varchar(3), EXPRESSION longtext",
    "TABLE_CONSTRAINTS": "CONSTRAINT_CATALOG N, CONSTRAINT_SCHEMA N, CONSTRAINT_NAME N, TABLE_SCHEMA N,"
    " TABLE_NAME N, CONSTRAINT_TYPE varchar(11), ENFORCED varchar(3)",
    "TABLES": "TABLE_CATALOG N, TABLE_SCHEMA N, TABLE_NAME N, TABLE_TYPE varchar(11), ENGINE N,"
    " VERSION int, ROW_FORMAT varchar(10), TABLE_ROWS bigint unsigned, AVG_ROW_LENGTH bigint unsigned,"
    " DATA_LENGTH bigint unsigned, MAX_DATA_LENGTH bigint unsigned, INDEX_LENGTH bigint unsigned,"
    " DATA_FREE bigint unsigned, AUTO_INCREMENT bigint unsigned, CREATE_TIME timestamp,"
    " UPDATE_TIME datetime, CHECK_TIME datetime, TABLE_COLLATION N, CHECKSUM bigint,"
    " CREATE_OPTIONS varchar(256), TABLE_COMMENT text",
    "TRIGGERS": "TRIGGER_CATALOG N, TRIGGER_SCHEMA N, TRIGGER_NAME N, EVENT_MANIPULATION varchar(6),"
    " EVENT_OBJECT_CATALOG N, EVENT_OBJECT_SCHEMA N, EVENT_OBJECT_TABLE N, ACTION_ORDER int unsigned,"
    " ACTION_CONDITION binary(0), ACTION_STATEMENT longtext, ACTION_ORIENTATION varchar(3),"
    " ACTION_TIMING varchar(6), ACTION_REFERENCE_OLD_TABLE binary(0), ACTION_REFERENCE_NEW_TABLE binary(0),"
    " ACTION_REFERENCE_OLD_ROW varchar(3), ACTION_REFERENCE_NEW_ROW varchar(3), CREATED timestamp(2),"
    " SQL_MODE varchar(520), DEFINER varchar(288), CHARACTER_SET_CLIENT N, COLLATION_CONNECTION N,"
    " DATABASE_COLLATION N",
    "VIEWS": "TABLE_CATALOG N, TABLE_SCHEMA N, TABLE_NAME N, VIEW_DEFINITION longtext,"
    " CHECK_OPTION varchar(8), IS_UPDATABLE varchar(3), DEFINER varchar(288), SECURITY_TYPE varchar(7),"
    " CHARACTER_SET_CLIENT N, COLLATION_CONNECTION N",
    PROCESSLIST: "ID bigint unsigned, USER varchar(32), HOST varchar(261), DB N, COMMAND varchar(16),"
    " TIME int, STATE varchar(64), INFO longtext",
    # P2PDB's own: what merges discarded or hid, per database (p2pdb.store.conflicts).
    CONFLICTS: "ID bigint unsigned, TABLE_SCHEMA N, TABLE_NAME N, KIND varchar(16), ROW_KEY json,"
    " SUBJECT varchar(256), DETAIL text, LOST_VALUES json, ENTRY_CID varchar(128), AUTHOR varchar(128),"
    " CLOCK bigint unsigned",
    # P2PDB's own: row versions from the change feed (p2pdb.store.changes), oldest first.
    HISTORY: "ID bigint unsigned, TABLE_SCHEMA N, TABLE_NAME N, ROW_KEY json, OP varchar(8), ROW_DATA json,"
    " CHANGED_COLUMNS json, AUTHOR varchar(128), CLOCK bigint unsigned, ENTRY_CID varchar(128),"
    " WALL_TIME datetime(3)",
    # P2PDB's own: rows added, changed or removed between two versions (p2pdb.store.diff).
    DIFF: "TABLE_SCHEMA N, TABLE_NAME N, ROW_KEY json, CHANGE varchar(8), OLD_ROW json, NEW_ROW json,"
    " CHANGED_COLUMNS json, FROM_POINT varchar(128), TO_POINT varchar(128)",
}
_VARIABLE = "VARIABLE_NAME varchar(64), VARIABLE_VALUE varchar(1024)"
#: Tables that describe the asking session or the node's accounts: filled by :func:`fill_session_tables`
#: each time a query names them (MariaDB's and MySQL 5.7's names for the variables tables).
SESSION_TABLES: dict[str, str] = {
    "GLOBAL_VARIABLES": _VARIABLE,
    "SESSION_VARIABLES": _VARIABLE,
    "GLOBAL_STATUS": _VARIABLE,
    "SESSION_STATUS": _VARIABLE,
    "USER_PRIVILEGES": "GRANTEE varchar(292), TABLE_CATALOG varchar(512), PRIVILEGE_TYPE N, IS_GRANTABLE varchar(3)",
    "SCHEMA_PRIVILEGES": "GRANTEE varchar(292), TABLE_CATALOG varchar(512), TABLE_SCHEMA N, PRIVILEGE_TYPE N,"
    " IS_GRANTABLE varchar(3)",
    "TABLE_PRIVILEGES": "GRANTEE varchar(292), TABLE_CATALOG varchar(512), TABLE_SCHEMA N, TABLE_NAME N,"
    " PRIVILEGE_TYPE N, IS_GRANTABLE varchar(3)",
    "COLUMN_PRIVILEGES": "GRANTEE varchar(292), TABLE_CATALOG varchar(512), TABLE_SCHEMA N, TABLE_NAME N,"
    " COLUMN_NAME N, PRIVILEGE_TYPE N, IS_GRANTABLE varchar(3)",
}
TABLES.update(SESSION_TABLES)
#: The minimal ``performance_schema`` and ``mysql`` schemas GUI tools read at connect (DBeaver,
#: Workbench, DataGrip): the variables and status of the session, the node's accounts.
OTHER_SCHEMAS: dict[str, dict[str, str]] = {
    "performance_schema": {
        "global_variables": _VARIABLE,
        "session_variables": _VARIABLE,
        "global_status": _VARIABLE,
        "session_status": _VARIABLE,
    },
    "mysql": {
        "user": "Host char(255), User char(32), plugin char(64), authentication_string text,"
        " account_locked varchar(1), password_expired varchar(1), Select_priv varchar(1),"
        " Insert_priv varchar(1), Update_priv varchar(1), Delete_priv varchar(1), Create_priv varchar(1),"
        " Drop_priv varchar(1), Grant_priv varchar(1), Super_priv varchar(1)",
        "db": "Host char(255), Db char(64), User char(32), Select_priv varchar(1), Insert_priv varchar(1),"
        " Update_priv varchar(1), Delete_priv varchar(1), Create_priv varchar(1), Drop_priv varchar(1),"
        " Grant_priv varchar(1)",
        "time_zone_name": "Name char(64), Time_zone_id int unsigned",
    },
}
_SESSION_NAMES = re.compile(
    r"\b(?:GLOBAL_VARIABLES|SESSION_VARIABLES|GLOBAL_STATUS|SESSION_STATUS|USER_PRIVILEGES|SCHEMA_PRIVILEGES"
    r"|TABLE_PRIVILEGES|COLUMN_PRIVILEGES|performance_schema|mysql\s*\.)",
    re.IGNORECASE,
)
#: What ``SHOW TABLES FROM information_schema`` lists.
TABLE_NAMES: tuple[str, ...] = tuple(sorted(TABLES))
_STATIC = ("CHARACTER_SETS", "COLLATIONS", "ENGINES", "PLUGINS")

#: Last schema token each connection's information_schema was filled for.
_filled: weakref.WeakKeyDictionary[apsw.Connection, Hashable] = weakref.WeakKeyDictionary()


def _split(spec: str) -> list[tuple[str, str]]:
    columns = []
    for item in spec.split(", "):
        column, _, decl = item.partition(" ")
        columns.append((column, _NAME if decl == "N" else decl))
    return columns


def _columns(name: str) -> list[tuple[str, str]]:
    return _split(TABLES[name])


def table_spec(name: str) -> TableSpec | None:
    """An information_schema table as a spec (for DESCRIBE, SHOW COLUMNS), by name in any case."""
    for table in TABLES:
        if table.lower() == name.lower():
            columns = tuple(Column(c, decl, extra={"mt": decl}) for c, decl in _columns(table))
            return TableSpec(table, columns, ())
    return None


def _ensure_attached(conn: apsw.Connection) -> bool:
    """Attach and create the schema if this connection lacks it; True if it was created now."""
    if any(name == INFORMATION_SCHEMA for _seq, name, _file in conn.execute("PRAGMA database_list")):
        return False
    attached = {name for _seq, name, _file in conn.execute("PRAGMA database_list")}
    for schema in (INFORMATION_SCHEMA, *OTHER_SCHEMAS):
        if schema in attached:
            conn.execute(f"DETACH DATABASE {schema}")
        conn.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
    with conn:
        for name in TABLES:
            body = ", ".join(f'"{column}" {decl}' for column, decl in _columns(name))
            conn.execute(f"CREATE TABLE {INFORMATION_SCHEMA}.{name} ({body})")
        _insert(conn, "CHARACTER_SETS", ((c, dc, d, m) for c, d, dc, m in CHARSETS))
        _insert(conn, "COLLATIONS", ((n, c, i, d, "Yes", s, p) for n, c, i, d, s, p in COLLATIONS))
        for schema, tables in OTHER_SCHEMAS.items():
            for name, spec in tables.items():
                body = ", ".join(f'"{column}" {decl}' for column, decl in _split(spec))
                conn.execute(f"CREATE TABLE {schema}.{name} ({body})")
        _insert(conn, "ENGINES", ENGINES)
        plugins = (
            (n, v, "ACTIVE", t, v, None, None, "P2PDB", d, "Apache-2.0", "ON") for n, v, t, d in PLUGINS
        )
        _insert(conn, "PLUGINS", plugins)
    return True


def _insert(conn: apsw.Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    marks = ", ".join("?" * len(_columns(table)))
    conn.executemany(f"INSERT INTO {INFORMATION_SCHEMA}.{table} VALUES ({marks})", rows)


Snapshot = tuple[tuple[str, tuple[TableSpec, ...], tuple[IndexSpec, ...]], ...]


def _snapshot(source: CatalogSource) -> Snapshot:
    """Every database's specs, read once (a database dropped meanwhile is left out)."""
    found = []
    for db in source.database_names():
        try:
            found.append((db, tuple(source.tables(db)), tuple(source.indexes(db))))
        except KeyError:
            continue
    return tuple(found)


def refresh_information_schema(
    conn: apsw.Connection, source: CatalogSource, *, version: Hashable | None = None
) -> bool:
    """Make ``conn``'s ``information_schema`` describe ``source``; True if it was (re)filled.

    ``version``: a token that changes whenever the source's schema does (e.g. a tuple of the store
    catalogs' schema versions); without it the table and index specs are compared. Call it before
    running a client's information_schema query on ``conn``. It attaches the schema on first use.
    """
    created = _ensure_attached(conn)
    snapshot = None if version is not None else _snapshot(source)
    token = version if version is not None else snapshot
    if not created and conn in _filled and _filled[conn] == token:
        return False
    with conn:
        for name in TABLES:
            if (
                name not in _STATIC
                and name not in (CONFLICTS, PROCESSLIST, HISTORY)
                and name not in SESSION_TABLES
            ):
                conn.execute(f"DELETE FROM {INFORMATION_SCHEMA}.{name}")
        _fill(conn, source, snapshot if snapshot is not None else _snapshot(source))
    _filled[conn] = token
    return True


def _fill(conn: apsw.Connection, source: CatalogSource, snapshot: Snapshot) -> None:
    schemata = [("def", INFORMATION_SCHEMA, "utf8mb3", "utf8mb3_general_ci", None, "NO")]
    tables: list[tuple[Any, ...]] = []
    columns: list[tuple[Any, ...]] = []
    statistics: list[tuple[Any, ...]] = []
    usage: list[tuple[Any, ...]] = []
    constraints: list[tuple[Any, ...]] = []
    partitions: list[tuple[Any, ...]] = []
    for db, specs, all_indexes in snapshot:
        schemata.append(("def", db, CHARSET_NAME, COLLATION_NAME, None, "NO"))
        for spec in specs:
            count = source.row_count(db, spec.name)
            sizes = (
                0,
                16384,
                0,
                0,
                0,
            )  # AVG_ROW_LENGTH, DATA_LENGTH, MAX_DATA_LENGTH, INDEX_LENGTH, DATA_FREE
            peek = getattr(source, "next_auto_id", None)
            auto = peek(db, spec.name) if peek is not None else None
            tail = (auto, None, None, None, COLLATION_NAME, None, "", table_comment(spec))
            tables.append(("def", db, spec.name, "BASE TABLE", "InnoDB", 10, "Dynamic", count, *sizes, *tail))
            # An unpartitioned table has one row in PARTITIONS, its partition columns NULL (as MySQL).
            partitions.append(
                ("def", db, spec.name, *([None] * 9), count, *sizes, *([None] * 4), "", "", None)
            )
            indexes = indexes_of(spec, all_indexes)
            facts = describe_table(spec, indexes)
            nullable = {f.name: f.nullable for f in facts}
            for f in facts:
                info = f.info
                lengths = (info.char_max_length, info.char_octet_length, info.numeric_precision)
                precisions = (info.numeric_scale, info.datetime_precision)
                described = (info.charset_name, f.collation_name, info.column_type, f.key, f.extra)
                null = "YES" if f.nullable else "NO"
                head = ("def", db, spec.name, f.name, f.position, f.default, null, info.data_type)
                columns.append((*head, *lengths, *precisions, *described, PRIVILEGES, f.comment, "", None))
            primary = [("PRIMARY", True, spec.pk)] if spec.pk else []  # keyless: no PRIMARY key
            keys = primary + [(i.name, i.unique, i.columns) for i in indexes]
            for name, unique, key_columns in keys:
                if unique:
                    kind = "PRIMARY KEY" if name == "PRIMARY" else "UNIQUE"
                    constraints.append(("def", db, name, db, spec.name, kind, "YES"))
                for seq, column in enumerate(key_columns, 1):
                    null = "YES" if nullable.get(column) else ""
                    key = (int(not unique), db, name, seq, column, "A", count, None, None, null)
                    statistics.append(("def", db, spec.name, *key, "BTREE", "", "", "YES", None))
                    if unique:
                        usage.append(
                            ("def", db, name, "def", db, spec.name, column, seq, None, None, None, None)
                        )
    referential: list[tuple[Any, ...]] = []
    for db, specs, _ in snapshot:
        for spec in specs:
            for meta_key, fk in sorted(spec.meta.items()):
                if not meta_key.startswith("fk:"):
                    continue
                fk_name = meta_key[3:]
                constraints.append(("def", db, fk_name, db, spec.name, "FOREIGN KEY", "YES"))
                for position, (col, ref) in enumerate(zip(fk["c"], fk["rc"], strict=True), 1):
                    usage.append(
                        ("def", db, fk_name, "def", db, spec.name, col, position, position, db, fk["rt"], ref)
                    )
                referential.append(
                    (
                        "def",
                        db,
                        fk_name,
                        "def",
                        db,
                        "PRIMARY",
                        "NONE",
                        fk["ou"],
                        fk["od"],
                        spec.name,
                        fk["rt"],
                    )
                )
    _insert(conn, "REFERENTIAL_CONSTRAINTS", referential)
    views: list[tuple[Any, ...]] = []
    for db, _, _ in snapshot:
        for view in database_views(source, db):
            nothing = (None,) * 15  # ENGINE ... CHECKSUM
            tables.append(("def", db, view.name, "VIEW", *nothing, None, "VIEW"))
            views.append(
                (
                    "def",
                    db,
                    view.name,
                    view.query,
                    "NONE",
                    "NO",
                    "root@%",
                    "DEFINER",
                    "utf8mb4",
                    COLLATION_NAME,
                )
            )
    _insert(conn, "VIEWS", views)
    _insert(conn, "SCHEMATA", schemata)
    _insert(conn, "TABLES", tables)
    _insert(conn, "COLUMNS", columns)
    _insert(conn, "STATISTICS", statistics)
    _insert(conn, "KEY_COLUMN_USAGE", usage)
    _insert(conn, "TABLE_CONSTRAINTS", constraints)
    _insert(conn, "PARTITIONS", partitions)


def fill_conflicts(conn: apsw.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Replace the rows of ``information_schema.P2PDB_CONFLICTS`` on ``conn`` (attached first if
    needed); each row has the table's columns in order."""
    _ensure_attached(conn)
    with conn:
        conn.execute(f"DELETE FROM {INFORMATION_SCHEMA}.{CONFLICTS}")
        _insert(conn, CONFLICTS, rows)


def fill_history(conn: apsw.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Replace the rows of ``information_schema.P2PDB_HISTORY`` on ``conn`` (attached first if needed)."""
    _ensure_attached(conn)
    with conn:
        conn.execute(f"DELETE FROM {INFORMATION_SCHEMA}.{HISTORY}")
        _insert(conn, HISTORY, rows)


def fill_diff(conn: apsw.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Replace the rows of ``information_schema.P2PDB_DIFF`` on ``conn`` (attached first if needed)."""
    _ensure_attached(conn)
    with conn:
        conn.execute(f"DELETE FROM {INFORMATION_SCHEMA}.{DIFF}")
        _insert(conn, DIFF, rows)


def fill_processlist(conn: apsw.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Replace the rows of ``information_schema.PROCESSLIST`` on ``conn`` (attached first if needed)."""
    _ensure_attached(conn)
    with conn:
        conn.execute(f"DELETE FROM {INFORMATION_SCHEMA}.{PROCESSLIST}")
        _insert(conn, PROCESSLIST, rows)


def names_session_tables(shape: str) -> bool:
    """True if a query reads tables :func:`fill_session_tables` fills."""
    return _SESSION_NAMES.search(shape) is not None


def fill_session_tables(
    conn: apsw.Connection,
    *,
    session_variables: Sequence[tuple[str, str]],
    global_variables: Sequence[tuple[str, str]],
    status: Sequence[tuple[str, str]],
    privileges: Sequence[tuple[str, str | None, str | None, str, bool]],
    users: Sequence[tuple[str, str, str]],
    column_privileges: Sequence[tuple[str, str | None, str | None, str | None, str, bool]] = (),
) -> None:
    """Fill the tables that describe the asking session and the node's accounts on ``conn``.

    ``privileges``: (grantee, schema or None, table or None, privilege, grantable);
    ``users``: (user, host, plugin); ``column_privileges``: (grantee, schema, table, column,
    privilege, grantable).
    """
    _ensure_attached(conn)
    yes = {True: "YES", False: "NO"}
    tables: dict[str, Iterable[Sequence[Any]]] = {
        f"{INFORMATION_SCHEMA}.GLOBAL_VARIABLES": global_variables,
        f"{INFORMATION_SCHEMA}.SESSION_VARIABLES": session_variables,
        f"{INFORMATION_SCHEMA}.GLOBAL_STATUS": status,
        f"{INFORMATION_SCHEMA}.SESSION_STATUS": status,
        "performance_schema.global_variables": global_variables,
        "performance_schema.session_variables": session_variables,
        "performance_schema.global_status": status,
        "performance_schema.session_status": status,
        f"{INFORMATION_SCHEMA}.USER_PRIVILEGES": [
            (g, "def", p, yes[o]) for g, d, t, p, o in privileges if d is None
        ],
        f"{INFORMATION_SCHEMA}.SCHEMA_PRIVILEGES": [
            (g, "def", d, p, yes[o]) for g, d, t, p, o in privileges if d is not None and t is None
        ],
        f"{INFORMATION_SCHEMA}.TABLE_PRIVILEGES": [
            (g, "def", d, t, p, yes[o]) for g, d, t, p, o in privileges if d is not None and t is not None
        ],
        f"{INFORMATION_SCHEMA}.COLUMN_PRIVILEGES": [
            (g, "def", d, t, c, p, yes[o]) for g, d, t, c, p, o in column_privileges
        ],
    }
    with conn:
        for table, rows in tables.items():
            conn.execute(f"DELETE FROM {table}")
            rows = list(rows)
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("DELETE FROM mysql.user")
        conn.execute("DELETE FROM mysql.db")
        for user, host, plugin in users:
            granted = {(p, o) for g, d, t, p, o in privileges if d is None and g == _grantee(user, host)}
            every = any(p == "ALL PRIVILEGES" for p, _ in granted)

            def flag(privilege: str, granted: set[tuple[str, bool]] = granted, every: bool = every) -> str:
                return "Y" if every or any(p == privilege for p, _ in granted) else "N"

            grant = "Y" if any(o for _, o in granted) else "N"
            row = (host, user, plugin, "", "N", "N", *(flag(p) for p in _USER_FLAGS), grant, flag("SUPER"))
            conn.execute(f"INSERT INTO mysql.user VALUES ({', '.join('?' * len(row))})", row)


_USER_FLAGS = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP")


def _grantee(user: str, host: str) -> str:
    return "'" + user.replace("'", "''") + "'@'" + host.replace("'", "''") + "'"
