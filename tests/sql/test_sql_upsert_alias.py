"""MySQL 8.0.19's row alias in ``INSERT ... ON DUPLICATE KEY UPDATE`` (Laravel 11's ``upsert()``
writes it to 8.0.19+ servers, which P2PDB announces). Expected rows are MySQL's."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, app_node, rows, run


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE up (id INT PRIMARY KEY, c INT, d INT)",
        "INSERT INTO up VALUES (1, 1, 1)",
    )


def test_the_alias_names_the_row_the_insert_would_write(node: Node) -> None:
    s = node.session
    run(s, "INSERT INTO up VALUES (1, 5, 6) AS new ON DUPLICATE KEY UPDATE c = new.c + up.c")
    assert rows(s, "SELECT c, d FROM up WHERE id = 1") == [(6, 1)]
    run(s, "INSERT INTO up VALUES (1, 7, 8) AS new(a, b, e) ON DUPLICATE KEY UPDATE c = b, d = new.e")
    assert rows(s, "SELECT c, d FROM up WHERE id = 1") == [(7, 8)]
    run(
        s,
        "insert into `up` (`id`, `c`) values (2, 3), (1, 4) as `laravel_upsert_alias`"
        " on duplicate key update `c` = `laravel_upsert_alias`.`c` * 10",
    )
    assert rows(s, "SELECT id, c FROM up ORDER BY id") == [(1, 40), (2, 3)]
    run(s, "INSERT INTO up SET id = 1, c = 9 AS x ON DUPLICATE KEY UPDATE d = x.c")
    assert rows(s, "SELECT c, d FROM up WHERE id = 1") == [(40, 9)]
