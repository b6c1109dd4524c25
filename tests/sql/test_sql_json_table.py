"""MySQL 8's ``JSON_TABLE`` (``p2pdb/sql/json_table.py``): it was error 1064. Expected rows are
MySQL's (checked against MariaDB 10.11, JSON text as MySQL 8 prints it)."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, app_node, error, rows

ITEMS = """'[{"sku":"a","qty":2},{"sku":"b","qty":1}]'"""


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE orders (id INT PRIMARY KEY, type VARCHAR(5), items JSON)",
        f"INSERT INTO orders VALUES (1, 'web', {ITEMS}), (2, 'shop', '[{{\"sku\":\"a\",\"qty\":5}}]')",
    )


def test_rows_of_a_literal_document(node: Node) -> None:
    s = node.session
    columns = "COLUMNS (n FOR ORDINALITY, sku VARCHAR(5) PATH '$.sku', qty INT PATH '$.qty')"
    assert rows(s, f"SELECT * FROM JSON_TABLE({ITEMS}, '$[*]' {columns}) AS jt") == [(1, "a", 2), (2, "b", 1)]
    assert rows(s, f"SELECT jt.sku FROM JSON_TABLE({ITEMS}, '$[*]' {columns}) jt WHERE jt.qty > 1") == [
        ("a",)
    ]
    doc = """'{"items": [{"n": "p", "q": 3}, {"n": "r"}]}'"""
    assert rows(
        s,
        f"SELECT * FROM JSON_TABLE({doc}, '$.items[*]' COLUMNS (n VARCHAR(5) PATH '$.n', q INT PATH '$.q')) t",
    ) == [("p", 3), ("r", None)]
    assert rows(s, "SELECT * FROM JSON_TABLE('[1, 2, \"x\"]', '$[*]' COLUMNS (v VARCHAR(5) PATH '$')) t") == [
        ("1",),
        ("2",),
        ("x",),
    ]
    one = """'{"a": {"b": [1, 2], "s": "t"}}'"""
    assert rows(
        s,
        f"SELECT * FROM JSON_TABLE({one}, '$.a' COLUMNS (b JSON PATH '$.b', s JSON PATH '$.s', c JSON PATH '$.c')) t",
    ) == [("[1, 2]", '"t"', None)]
    assert rows(s, "SELECT COUNT(*) FROM JSON_TABLE('[]', '$[*]' COLUMNS (a INT PATH '$')) t") == [(0,)]


def test_a_table_s_json_column_read_row_by_row(node: Node) -> None:
    """Lateral: the document is a column of the table before it. json_each's own ``id``, ``type``...
    must not capture the table's columns of those names."""
    s = node.session
    columns = "COLUMNS (sku VARCHAR(5) PATH '$.sku', qty INT PATH '$.qty')"
    assert rows(
        s,
        f"SELECT id, type, sku, qty FROM orders, JSON_TABLE(items, '$[*]' {columns}) AS li ORDER BY id, sku",
    ) == [(1, "web", "a", 2), (1, "web", "b", 1), (2, "shop", "a", 5)]
    assert rows(
        s,
        f"SELECT sku, SUM(qty) FROM orders JOIN JSON_TABLE(orders.items, '$[*]' {columns}) li"
        " GROUP BY sku ORDER BY sku",
    ) == [("a", 7), ("b", 1)]
    assert rows(
        s,
        "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM JSON_TABLE(o.items, '$[*]'"
        " COLUMNS (qty INT PATH '$.qty')) j WHERE j.qty > 3)",
    ) == [(2,)]


def test_nested_path_is_refused_clearly(node: Node) -> None:
    code, _ = error(
        node.session,
        "SELECT * FROM JSON_TABLE('[]', '$[*]' COLUMNS (NESTED PATH '$.n[*]' COLUMNS (x INT PATH '$'))) t",
    )
    assert code == 1235
