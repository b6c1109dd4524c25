"""DDL between two real node processes through PyMySQL: ALTER TABLE, renames, views and defaults
written on one node are what the other shows (docs/mysql-compatibility.md "DDL")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.integration.cluster import NodeProcess, cluster, wait_until


def _same(a: NodeProcess, b: NodeProcess, sql: str) -> bool:
    try:
        return a.query(sql, "shop") == b.query(sql, "shop")
    except Exception:  # not there yet (unknown table or column on b)
        return False


def _create(node: NodeProcess, table: str) -> Any:
    """The definition, without AUTO_INCREMENT=n: the next id is each node's own (its id class)."""
    return re.sub(r" AUTO_INCREMENT=\d+", "", node.query(f"SHOW CREATE TABLE {table}", "shop")[0][1])


def test_alter_table_rename_views_and_defaults_replicate(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as (a, b):
        a.query("CREATE DATABASE shop")
        a.query(
            "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), price INT,"
            " note TEXT, made DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
            " code CHAR(36) DEFAULT (uuid()), KEY by_name (name, price))",
            "shop",
        )
        a.query("INSERT INTO items (name, price, note) VALUES ('tea', 3, 'x'), ('cake', 5, 'y')", "shop")
        wait_until(lambda: len(b.query("SELECT * FROM items", "shop")) == 2, 20, "rows on b")
        a.query(
            "ALTER TABLE items DROP COLUMN note, MODIFY price BIGINT NOT NULL DEFAULT 0 COMMENT 'cents',"
            " ADD COLUMN stock INT NOT NULL, ADD UNIQUE KEY by_code (code), ENGINE=InnoDB",
            "shop",
        )
        a.query("ALTER TABLE items RENAME COLUMN name TO title", "shop")
        a.query("RENAME TABLE items TO goods", "shop")
        a.query("CREATE VIEW cheap AS SELECT title, price FROM goods WHERE price < 4", "shop")
        b_rows = "SELECT id, title, price, stock, made, code FROM goods ORDER BY id"
        wait_until(lambda: _same(a, b, b_rows), 20, "altered table on b")
        wait_until(lambda: _same(a, b, "SELECT * FROM cheap"), 20, "view on b")
        assert b.query("SELECT * FROM cheap", "shop") == [("tea", 3)]
        assert _create(b, "goods") == _create(a, "goods")
        assert "KEY `by_name` (`price`,`title`)" in _create(
            b, "goods"
        ) or "KEY `by_name` (`title`,`price`)" in _create(b, "goods")
        assert b.query("SHOW FULL TABLES", "shop") == [("cheap", "VIEW"), ("goods", "BASE TABLE")]
        # b writes through the new definition; a sees it, with b's own timestamp and uuid.
        b.query("INSERT INTO goods (title, price, stock) VALUES ('jam', 2, 7)", "shop")
        b.query("UPDATE goods SET stock = 1 WHERE title = 'tea'", "shop")
        wait_until(lambda: _same(a, b, b_rows), 20, "b's writes on a")
        assert a.query("SELECT title FROM cheap ORDER BY title", "shop") == [("jam",), ("tea",)]
        b.query("DROP VIEW cheap", "shop")
        wait_until(lambda: a.query("SHOW TABLES", "shop") == [("goods",)], 20, "view dropped on a")
