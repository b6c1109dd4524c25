"""ENUM, SET and YEAR columns take what MySQL's strict mode takes (issue 11): members by name (any
case) or number, SET members in any order, YEAR's two-digit forms; anything else is an error and
nothing is stored."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, error, rows, run


@pytest.fixture
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE app")
    run(node.session, "USE app")
    run(
        node.session,
        "CREATE TABLE c (id INT PRIMARY KEY, e ENUM('small','Medium','large'), s SET('a','b','c'), y YEAR)",
    )
    return node


def test_enum_members_by_name_or_index(node: Node) -> None:
    s = node.session
    run(s, "INSERT INTO c (id, e) VALUES (1, 'SMALL'), (2, 'medium'), (3, 3), (4, '2'), (5, NULL)")
    assert rows(s, "SELECT e FROM c ORDER BY id") == [
        ("small",),
        ("Medium",),
        ("large",),
        ("Medium",),
        (None,),
    ]
    run(s, "UPDATE c SET e = 'large' WHERE id = 1")
    assert rows(s, "SELECT e FROM c WHERE id = 1") == [("large",)]


@pytest.mark.parametrize("value", ["'huge'", "''", "0", "4"])
def test_enum_refuses_what_is_no_member(node: Node, value: str) -> None:
    assert error(node.session, f"INSERT INTO c (id, e) VALUES (9, {value})")[0] == 1265
    assert rows(node.session, "SELECT COUNT(*) FROM c") == [(0,)]
    run(node.session, "INSERT INTO c (id, e) VALUES (9, 'small')")
    assert error(node.session, f"UPDATE c SET e = {value} WHERE id = 9")[0] == 1265
    assert rows(node.session, "SELECT e FROM c") == [("small",)]


def test_set_members_in_definition_order_and_bitmasks(node: Node) -> None:
    s = node.session
    run(s, "INSERT INTO c (id, s) VALUES (1, 'c,a'), (2, 'B,b'), (3, 5), (4, ''), (5, 0)")
    assert rows(s, "SELECT s FROM c ORDER BY id") == [("a,c",), ("b",), ("a,c",), ("",), ("",)]
    assert error(s, "INSERT INTO c (id, s) VALUES (6, 'a,z')")[0] == 1265
    assert error(s, "INSERT INTO c (id, s) VALUES (6, 8)")[0] == 1265


def test_year_forms_and_range(node: Node) -> None:
    s = node.session
    run(s, "INSERT INTO c (id, y) VALUES (1, 2024), (2, '99'), (3, 5), (4, '0'), (5, 0), (6, '1901')")
    assert rows(s, "SELECT y FROM c ORDER BY id") == [(2024,), (1999,), (2005,), (2000,), (0,), (1901,)]
    assert error(s, "INSERT INTO c (id, y) VALUES (7, 1800)")[0] == 1264
    assert error(s, "INSERT INTO c (id, y) VALUES (7, 2156)")[0] == 1264
    assert error(s, "INSERT INTO c (id, y) VALUES (7, 'soon')")[0] == 1366


def test_text_longer_than_its_column_is_1406_naming_the_column(node: Node) -> None:
    run(node.session, "CREATE TABLE v (id INT PRIMARY KEY, name VARCHAR(5))")
    code, message = error(node.session, "INSERT INTO v VALUES (1, 'abcdef')")
    assert (code, message) == (1406, "Data too long for column 'name' at row 1")
    assert rows(node.session, "SELECT COUNT(*) FROM v") == [(0,)]


def test_enum_and_set_read_as_numbers_where_mysql_reads_them(node: Node) -> None:
    """ORDER BY an ENUM sorts in declared order (small, Medium, large), not by the text; ``e + 0``
    is the index, ``s + 0`` the bitmask, ``e = 2`` compares the index; against a string a member is
    its text. MariaDB answers the same."""
    s = node.session
    run(
        s,
        "INSERT INTO c (id, e, s) VALUES (1, 'large', 'c'), (2, 'small', 'a,c'), (3, 'Medium', ''), (4, NULL, 'b')",
    )
    assert rows(s, "SELECT id FROM c ORDER BY e") == [(4,), (2,), (3,), (1,)]
    assert rows(s, "SELECT id FROM c ORDER BY e DESC, id") == [(1,), (3,), (2,), (4,)]
    assert rows(s, "SELECT id, e + 0, s + 0 FROM c ORDER BY id") == [
        (1, 3, 4),
        (2, 1, 5),
        (3, 2, 0),
        (4, None, 2),
    ]
    assert rows(s, "SELECT id FROM c WHERE e = 2") == [(3,)]
    assert rows(s, "SELECT id FROM c WHERE e < 3 ORDER BY id") == [(2,), (3,)]
    assert rows(s, "SELECT id FROM c WHERE e = 'MEDIUM'") == [(3,)]
    assert rows(s, "SELECT id FROM c ORDER BY s") == [(3,), (4,), (1,), (2,)]
