"""The MySQL catalog, answered from store metadata: SHOW/DESCRIBE and information_schema.

The SQL layer implements :class:`CatalogSource` over its store databases and then:
- routes ``SHOW ...``, ``DESCRIBE t`` and ``EXPLAIN t`` (see :func:`is_catalog_statement`) to
  :func:`show`, which returns a ``ResultSet`` with MySQL 8's headers and values or raises the
  ``MySQLError`` MySQL would (1046, 1049, 1146, 1064, 1235);
- calls :func:`refresh_information_schema` on a connection before running a client's query on
  ``information_schema.*`` there: the tables live in an attached in-memory SQLite database;
- uses :func:`table_columns` for the result columns of ``SELECT * FROM t`` (MySQL's key flags).

Layout: ``catalog_meta`` (per-column facts, SHOW CREATE TABLE, charsets), ``catalog_parse``
(tokens, LIKE, WHERE), ``catalog_show`` (SHOW handlers), ``information_schema``.
"""

from p2pdb.sql.catalog_meta import (
    CatalogSource,
    ColumnFacts,
    create_table_sql,
    describe_table,
    find_table,
    quote_ident,
    table_columns,
    table_indexes,
)
from p2pdb.sql.catalog_parse import like
from p2pdb.sql.catalog_show import is_catalog_statement, show
from p2pdb.sql.information_schema import refresh_information_schema

__all__ = [
    "CatalogSource",
    "ColumnFacts",
    "create_table_sql",
    "describe_table",
    "find_table",
    "is_catalog_statement",
    "like",
    "quote_ident",
    "refresh_information_schema",
    "show",
    "table_columns",
    "table_indexes",
]
