"""``mariadb-dump`` of a P2PDB database, restored with the ``mariadb`` CLI into a fresh node.

Both tools are Debian's, unmodified (package mariadb-client). The round trip must keep the schema
(types, defaults, keys, indexes, column comments), the rows (text with quotes and escapes, NULLs,
DECIMAL, DATETIME, BLOB bytes) and each table's conflict rule, which travels as the table comment
``p2pdb:counter(...)`` in ``SHOW CREATE TABLE``. A second dump of the restored node is compared
byte for byte with a dump of the original.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

MARIADB = shutil.which("mariadb")
DUMP = shutil.which("mariadb-dump")
TIMEOUT = 60

pytestmark = pytest.mark.skipif(
    MARIADB is None or DUMP is None,
    reason="mariadb and mariadb-dump are not installed (apt-get install mariadb-client)",
)

SCHEMA = """\
CREATE DATABASE dumpshop;
USE dumpshop;
CREATE TABLE products (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(40) NOT NULL COMMENT 'shown to buyers',
  price DECIMAL(8,2) NOT NULL DEFAULT 0.00,
  note TEXT,
  created DATETIME,
  active BOOLEAN DEFAULT 1,
  picture BLOB,
  UNIQUE KEY uq_name (name),
  KEY by_price (price)
);
CREATE TABLE pages (
  slug VARCHAR(64) PRIMARY KEY,
  hits BIGINT NOT NULL DEFAULT 0,
  likes INT NOT NULL DEFAULT 0
) COMMENT='p2pdb:counter(hits, likes)';
CREATE TABLE empty_one (a INT PRIMARY KEY, b VARCHAR(3));
INSERT INTO products (name, price, note, created, active, picture) VALUES
  ('tea', 3.50, 'green; loose', '2024-01-02 03:04:05', 1, X'00FF27'),
  ('it''s "quoted"', 12.00, 'tab\\there\\nnewline \\\\ backslash', NULL, 0, NULL),
  ('ünïcødé ☕', 0.99, NULL, '1999-12-31 23:59:59', NULL, X'');
INSERT INTO pages (slug, hits, likes) VALUES ('/', 10, 1), ('/about', 0, 0);
UPDATE pages SET hits = hits + 5 WHERE slug = '/';
"""


def run(tool: str | None, port: int, *args: str, stdin: str | None = None) -> str:
    """Run the tool to completion; its output as text (a dump holds BLOB bytes raw: surrogateescape)."""
    assert tool is not None
    command = [tool, "-h", "127.0.0.1", "-P", str(port), "-u", "root", *args]
    data = stdin.encode("utf-8", "surrogateescape") if stdin is not None else None
    result = subprocess.run(command, input=data, capture_output=True, timeout=TIMEOUT, check=False)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, f"{' '.join(command)}: {stderr}"
    assert "Warning" not in stderr and "rror" not in stderr, stderr
    return result.stdout.decode("utf-8", "surrogateescape")


def rows(port: int, sql: str) -> list[tuple[object, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", database="dumpshop")
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def source(start_node: Callable[..., NodeProcess]) -> NodeProcess:
    node = start_node()
    run(MARIADB, node.port, stdin=SCHEMA)
    return node


@pytest.mark.parametrize(
    "options",
    [
        ("--single-transaction", "--routines", "--events", "--triggers", "--databases"),
        ("--opt", "--lock-tables", "--databases", "--add-drop-database"),
        ("--skip-extended-insert", "--complete-insert", "--hex-blob", "--databases"),
    ],
    ids=["single-transaction", "lock-tables", "row-per-insert"],
)
def test_dump_restores_into_a_fresh_node(
    source: NodeProcess, start_node: Callable[..., NodeProcess], tmp_path: Path, options: tuple[str, ...]
) -> None:
    dump = run(DUMP, source.port, *options, "dumpshop")
    assert "COMMENT='p2pdb:counter(hits, likes)'" in dump
    assert "COMMENT 'shown to buyers'" in dump
    target = start_node(data_dir=tmp_path / "restored")
    run(MARIADB, target.port, stdin=dump)

    query = "SELECT id, name, price, note, created, active, picture FROM products ORDER BY id"
    assert rows(target.port, query) == rows(source.port, query)
    assert rows(target.port, "SELECT slug, hits, likes FROM pages ORDER BY slug") == [
        ("/", 15, 1),
        ("/about", 0, 0),
    ]
    assert rows(target.port, "SELECT COUNT(*) FROM empty_one") == [(0,)]
    for table in ("products", "pages", "empty_one"):
        shown = f"SHOW CREATE TABLE {table}"
        assert rows(target.port, shown) == rows(source.port, shown)
    assert rows(target.port, "SHOW FULL COLUMNS FROM products") == rows(
        source.port, "SHOW FULL COLUMNS FROM products"
    )

    # The restored table really has the counter rule: it is what SHOW CREATE TABLE reads back.
    redump = run(DUMP, target.port, *options, "--skip-dump-date", "dumpshop")
    assert redump == run(DUMP, source.port, *options, "--skip-dump-date", "dumpshop")


def test_auto_increment_continues_after_restore(
    source: NodeProcess, start_node: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    dump = run(DUMP, source.port, "--databases", "dumpshop")
    target = start_node(data_dir=tmp_path / "restored")
    run(MARIADB, target.port, stdin=dump)
    run(MARIADB, target.port, "dumpshop", "-e", "INSERT INTO products (name, price) VALUES ('new', 1)")
    (new_id,) = rows(target.port, "SELECT id FROM products WHERE name = 'new'")[0]
    assert isinstance(new_id, int) and new_id > 3


def test_all_databases_and_flush_logs(source: NodeProcess) -> None:
    dump = run(DUMP, source.port, "--all-databases", "--flush-logs", "--skip-dump-date")
    assert "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `dumpshop`" in dump
    assert "USE `information_schema`" not in dump
    assert "INSERT INTO `pages` VALUES" in dump


def test_tables_subset_and_where(source: NodeProcess) -> None:
    dump = run(DUMP, source.port, "dumpshop", "products", "--where=price > 1", "--skip-dump-date")
    assert "CREATE TABLE `products`" in dump and "CREATE TABLE `pages`" not in dump
    assert "'tea'" in dump and "0.99" not in dump
