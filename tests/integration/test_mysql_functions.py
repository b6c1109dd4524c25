"""MySQL built-in functions through PyMySQL against ``p2pdb start``: JSON printed as MySQL prints it
(nested documents, a JSON column updated with JSON_SET, ``->``/``->>``), bit and statistics aggregates,
COUNT(DISTINCT a, b), and a string function, with parameters bound by the driver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess


@pytest.fixture(scope="module")
def conn(node: NodeProcess) -> Iterator[pymysql.connections.Connection]:
    connection = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    with connection.cursor() as cur:
        cur.execute("CREATE DATABASE funcs")
        cur.execute("USE funcs")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, grp INT, flags INT, doc JSON)")
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s, %s)",
            [(1, 1, 5, '{"name": "bob", "tags": ["a"]}'), (2, 1, 3, '{"name": "amy"}'), (3, 2, 6, "[]")],
        )
    yield connection
    connection.close()


def test_json_output_through_pymysql(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT JSON_OBJECT('k', %s, 'list', JSON_ARRAY(1, %s))", (1, "x"))
        assert cur.fetchall() == (('{"k": 1, "list": [1, "x"]}',),)
        assert cur.description[0][1] == pymysql.constants.FIELD_TYPE.JSON
        cur.execute(
            "SELECT JSON_EXTRACT(doc, '$.name'), doc->>'$.name', doc->'$.tags' FROM items WHERE id = 1"
        )
        assert cur.fetchall() == (('"bob"', "bob", '["a"]'),)
        cur.execute("SELECT id FROM items WHERE JSON_EXTRACT(doc, '$.name') = %s", ("amy",))
        assert cur.fetchall() == ((2,),)
        cur.execute("UPDATE items SET doc = JSON_SET(doc, '$.tags', JSON_ARRAY(%s)) WHERE id = 2", ("z",))
        cur.execute("SELECT doc, JSON_TYPE(doc), JSON_LENGTH(doc) FROM items WHERE id = 2")
        assert cur.fetchall() == (('{"name": "amy", "tags": ["z"]}', "OBJECT", 2),)
        cur.execute("SELECT JSON_ARRAYAGG(id) FROM items WHERE grp = %s", (1,))
        assert cur.fetchall() == (("[1, 2]",),)


def test_aggregates_through_pymysql(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT grp, BIT_AND(flags), BIT_OR(flags), BIT_XOR(flags) FROM items GROUP BY grp ORDER BY grp"
        )
        assert cur.fetchall() == ((1, 1, 7, 6), (2, 6, 6, 6))
        cur.execute("SELECT VAR_POP(flags), VAR_SAMP(flags), COUNT(DISTINCT grp, flags) FROM items")
        ((pop, samp, distinct),) = cur.fetchall()
        assert (round(pop, 9), round(samp, 9), distinct) == (round(14 / 9, 9), round(7 / 3, 9), 3)
        cur.execute("SELECT FORMAT(%s, 2), REGEXP_REPLACE('a b c', 'b', 'X')", (1234567.891,))
        assert cur.fetchall() == (("1,234,567.89", "a X c"),)
