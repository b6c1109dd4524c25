"""Tables without a primary key, CREATE TABLE ... SELECT, AUTO_INCREMENT ids of INSERT ... SELECT and
the pandas/SQLAlchemy path, through real drivers against a real ``p2pdb start`` process.

The ``TestDrivers`` tests run with PyMySQL, mysql-connector-python (text and prepared) and aiomysql
through the ``Client`` adapter of ``test_mysql_clients``; the rest use one driver, the mariadb CLI,
SQLAlchemy or pandas.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from tests.integration.test_mysql_clients import DRIVERS, Client, DBError

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

MARIADB = shutil.which("mariadb")
_names = itertools.count(1)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(node: NodeProcess, request: pytest.FixtureRequest) -> str:
    """A fresh database for this test."""
    name = f"k{next(_names)}_{request.node.originalname}"[:60]
    admin = Client("pymysql", node.port, None)
    try:
        admin.execute(f"CREATE DATABASE `{name}`")
    finally:
        admin.close()
    return name


@pytest.fixture
def connect(node: NodeProcess, driver: str, database: str) -> Iterator[Callable[..., Client]]:
    opened: list[Client] = []

    def open_client(db: str | None = database) -> Client:
        client = Client(driver, node.port, db)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def client(connect: Callable[..., Client]) -> Client:
    return connect()


@pytest.fixture
def pymysql_client(node: NodeProcess, database: str) -> Iterator[Client]:
    client = Client("pymysql", node.port, database)
    yield client
    client.close()


def error_code(client: Client, sql: str) -> int:
    with pytest.raises(DBError) as caught:
        client.execute(sql)
    return caught.value.code


SOURCE = "CREATE TABLE src (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10) NOT NULL, n INT)"


class TestDrivers:
    def test_table_without_primary_key(self, client: Client, database: str) -> None:
        client.execute("CREATE TABLE t (a INT, b VARCHAR(10))")
        inserted = client.execute("INSERT INTO t VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, 'z')")
        assert inserted.rowcount == 4
        everything = client.execute("SELECT * FROM t ORDER BY a")
        assert everything.columns == ["a", "b"]
        assert everything.rows == [(1, "x"), (1, "x"), (2, "y"), (3, "z")]
        assert client.execute("UPDATE t SET b = %s WHERE a = %s", ("w", 1)).rowcount == 2
        assert client.execute("DELETE FROM t WHERE a = 1 LIMIT 1").rowcount == 1
        assert client.execute("UPDATE t SET a = a + 10 WHERE b IN ('y', 'z')").rowcount == 2
        assert client.execute("DELETE FROM t WHERE a = 13").rowcount == 1
        assert client.rows("SELECT a, b FROM t ORDER BY a") == [(1, "w"), (12, "y")]

        ((name, create),) = client.rows("SHOW CREATE TABLE t")
        assert name == "t" and "PRIMARY KEY" not in create and "KEY" not in create
        assert create.startswith(
            "CREATE TABLE `t` (\n  `a` int DEFAULT NULL,\n  `b` varchar(10) DEFAULT NULL\n)"
        )
        described = client.rows("DESCRIBE t")
        assert [(r[0], r[1], r[2], r[3]) for r in described] == [
            ("a", "int", "YES", ""),
            ("b", "varchar(10)", "YES", ""),
        ]
        assert client.rows("SHOW COLUMNS FROM t") == described
        assert client.rows("SHOW INDEX FROM t") == []
        columns = client.rows(
            "SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION",
            (database,),
        )
        assert columns == [("a", ""), ("b", "")]
        for table in ("STATISTICS", "TABLE_CONSTRAINTS", "KEY_COLUMN_USAGE"):
            sql = f"SELECT COUNT(*) FROM information_schema.{table} WHERE TABLE_SCHEMA = %s"
            assert client.value(sql, (database,)) == 0, table

    def test_table_with_only_a_unique_key(self, client: Client, database: str) -> None:
        client.execute("CREATE TABLE u (code VARCHAR(8) NOT NULL, n INT, UNIQUE KEY uq_code (code))")
        client.execute("INSERT INTO u VALUES ('a', 1), ('b', 2)")
        assert error_code(client, "INSERT INTO u VALUES ('a', 3)") == 1062
        client.execute("INSERT INTO u VALUES ('a', 5) ON DUPLICATE KEY UPDATE n = VALUES(n)")
        assert client.rows("SELECT * FROM u ORDER BY code") == [("a", 5), ("b", 2)]
        ((_, create),) = client.rows("SHOW CREATE TABLE u")
        assert "PRIMARY KEY" not in create and "UNIQUE KEY `uq_code` (`code`)" in create
        assert [(r[2], r[4]) for r in client.rows("SHOW INDEX FROM u")] == [("uq_code", "code")]
        constraints = client.rows(
            "SELECT CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS"
            " WHERE TABLE_SCHEMA = %s",
            (database,),
        )
        assert constraints == [("uq_code", "UNIQUE")]

    def test_create_table_as_select(self, client: Client) -> None:
        client.execute(SOURCE)
        client.execute("INSERT INTO src (name, n) VALUES ('a', 1), ('bb', 2), ('ccc', 3)")
        created = client.execute("CREATE TABLE big AS SELECT * FROM src WHERE n > 1")
        assert created.rowcount == 2
        assert client.rows("SELECT * FROM big ORDER BY id") == [(2, "bb", 2), (3, "ccc", 3)]
        ((_, create),) = client.rows("SHOW CREATE TABLE big")
        assert "PRIMARY KEY" not in create and "AUTO_INCREMENT" not in create
        for fragment in (
            "`id` int NOT NULL DEFAULT '0'",
            "`name` varchar(10) NOT NULL",
            "`n` int DEFAULT NULL",
        ):
            assert fragment in create, create
        # without AS, with expressions, and with a declared key
        assert (
            client.execute("CREATE TABLE sums SELECT name, n * 2 AS twice, 'k' AS kind FROM src").rowcount
            == 3
        )
        assert client.rows("SELECT name, twice, kind FROM sums ORDER BY name") == [
            ("a", 2, "k"),
            ("bb", 4, "k"),
            ("ccc", 6, "k"),
        ]
        assert [r[:2] for r in client.rows("DESCRIBE sums")] == [
            ("name", "varchar(10)"),
            ("twice", "int"),
            ("kind", "varchar(1)"),
        ]
        client.execute("CREATE TABLE keyed (PRIMARY KEY (name)) SELECT name, n FROM src")
        assert [(r[0], r[3]) for r in client.rows("DESCRIBE keyed")] == [("name", "PRI"), ("n", "")]
        assert error_code(client, "INSERT INTO keyed VALUES ('a', 9)") == 1062
        client.execute("CREATE TABLE shaped LIKE src")
        ((_, like),) = client.rows("SHOW CREATE TABLE shaped")
        ((_, original),) = client.rows("SHOW CREATE TABLE src")
        # As MySQL: the copy's AUTO_INCREMENT starts again (no AUTO_INCREMENT=n in its definition).
        assert like == re.sub(r" AUTO_INCREMENT=\d+", "", original.replace("`src`", "`shaped`"))
        assert client.execute("INSERT INTO shaped (name) VALUES ('x')").lastrowid == 1

    def test_create_table_select_errors(self, client: Client) -> None:
        client.execute(SOURCE)
        client.execute("INSERT INTO src (name, n) VALUES ('a', 1), ('b', 1)")
        assert error_code(client, "CREATE TABLE d (PRIMARY KEY (n)) SELECT n FROM src") == 1062
        assert error_code(client, "CREATE TABLE d SELECT name, name FROM src") == 1060
        assert error_code(client, "CREATE TABLE d SELECT * FROM nope") == 1146
        assert error_code(client, "CREATE TABLE src SELECT 1") == 1050
        assert error_code(client, "CREATE TABLE d LIKE nope") == 1146
        assert client.rows("SHOW TABLES") == [("src",)]  # nothing half-created

    def test_insert_select_ids_come_from_the_allocator(self, client: Client) -> None:
        client.execute(SOURCE)
        client.execute("INSERT INTO src (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)")
        client.execute("CREATE TABLE dst (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10))")
        copied = client.execute("INSERT INTO dst (name) SELECT name FROM src ORDER BY name DESC")
        assert (copied.rowcount, copied.lastrowid) == (3, 1)
        assert client.value("SELECT LAST_INSERT_ID()") == 1
        assert client.rows("SELECT id, name FROM dst ORDER BY id") == [(1, "c"), (2, "b"), (3, "a")]
        # rows that bring their own id keep it; NULL and 0 get new ones
        client.execute("INSERT INTO dst SELECT id * 100, name FROM src WHERE n = 1")
        mixed = client.execute(
            "INSERT INTO dst SELECT CASE WHEN n = 2 THEN 0 ELSE NULL END, name FROM src WHERE n > 1"
        )
        assert mixed.lastrowid == 101 and client.value("SELECT LAST_INSERT_ID()") == 101
        assert client.rows("SELECT id FROM dst WHERE id > 3 ORDER BY id") == [(100,), (101,), (102,)]
        assert client.execute("INSERT INTO dst SET name = 'set'").lastrowid == 103
        assert client.execute("REPLACE INTO dst (name) SELECT 'rep'").lastrowid == 104
        assert error_code(client, "INSERT INTO dst (name) SELECT name, n FROM src") == 1136

    def test_insert_select_in_a_transaction(self, client: Client, connect: Callable[..., Client]) -> None:
        client.execute(SOURCE)
        client.execute("INSERT INTO src (name, n) VALUES ('a', 1), ('b', 2)")
        client.execute("CREATE TABLE dst (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10))")
        client.set_autocommit(False)
        copied = client.execute("INSERT INTO dst (name) SELECT name FROM src ORDER BY name")
        seen = client.rows("SELECT id, name FROM dst ORDER BY id")
        assert copied.lastrowid and seen == [(copied.lastrowid, "a"), (copied.lastrowid + 1, "b")]
        other = connect()
        meanwhile = other.execute("INSERT INTO dst (name) SELECT 'other'")  # autocommit, commits now
        assert meanwhile.lastrowid not in (seen[0][0], seen[1][0])
        client.execute("INSERT INTO dst (name) VALUES ('c')")
        client.commit()
        client.set_autocommit(True)
        committed = other.rows("SELECT id, name FROM dst ORDER BY name")
        assert committed[:2] == seen
        assert [name for _, name in committed] == ["a", "b", "c", "other"]
        assert len({i for i, _ in committed}) == 4

    def test_auto_increment_variables_on_a_lone_node(self, client: Client) -> None:
        variables = client.rows("SHOW VARIABLES LIKE 'auto_increment%'")
        assert [(name, str(value)) for name, value in variables] == [
            ("auto_increment_increment", "1"),
            ("auto_increment_offset", "1"),
        ]
        client.execute("CREATE TABLE seq (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        ids = [client.execute("INSERT INTO seq (v) VALUES (%s)", (i,)).lastrowid for i in range(3)]
        assert ids == [1, 2, 3]
        assert client.rows("SELECT id FROM seq ORDER BY id") == [(1,), (2,), (3,)]
        row = client.rows("SELECT @@auto_increment_increment, @@auto_increment_offset")
        assert [int(v) for v in row[0]] == [1, 1]


def test_create_table_select_is_one_log_entry(
    node: NodeProcess, pymysql_client: Client, database: str
) -> None:
    client = pymysql_client
    client.execute(SOURCE)
    client.execute("INSERT INTO src (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)")

    def entries() -> int:
        (entry,) = [d for d in node.status()["databases"] if d["name"] == database]
        return int(entry["entries"])

    before = entries()
    assert client.execute("CREATE TABLE copy SELECT name, n FROM src").rowcount == 3
    assert entries() == before + 1
    assert (
        client.execute(
            "CREATE TABLE numbered (id INT AUTO_INCREMENT PRIMARY KEY) SELECT name FROM src"
        ).rowcount
        == 3
    )
    assert entries() == before + 2
    assert client.rows("SELECT id, name FROM numbered ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]


def test_sqlalchemy_table_without_primary_key(node: NodeProcess, database: str) -> None:
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{node.port}/{database}")
    metadata = sa.MetaData()
    events = sa.Table(
        "events",
        metadata,
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("n", sa.Integer),
        sa.Column("note", sa.Text),
    )
    rows = [{"kind": "click", "n": 1, "note": None}, {"kind": "click", "n": 1, "note": None}]
    rows += [{"kind": f"view{i}", "n": i, "note": "x" * i} for i in range(50)]
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(events.insert(), rows)  # executemany through PyMySQL
        with engine.connect() as conn:
            back = [dict(r._mapping) for r in conn.execute(sa.select(events))]
            assert Counter(tuple(sorted(r.items())) for r in back) == Counter(
                tuple(sorted(r.items())) for r in rows
            )
            assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 52
        inspector = sa.inspect(engine)
        assert inspector.get_pk_constraint("events")["constrained_columns"] == []
        assert [c["name"] for c in inspector.get_columns("events")] == ["kind", "n", "note"]
        metadata.drop_all(engine)
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_pandas_to_sql_and_read_sql(node: NodeProcess, database: str) -> None:
    pd = pytest.importorskip("pandas")
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{node.port}/{database}")
    frame = pd.DataFrame(
        {"name": ["ada", "bob", "bob", "cy"], "age": [36, 41, 41, 7], "score": [1.5, 2.25, 2.25, None]}
    )
    try:
        assert frame.to_sql("people", engine, index=False) == 4
        back = pd.read_sql("SELECT * FROM people", engine)
        pd.testing.assert_frame_equal(back.sort_values(["name", "age"]).reset_index(drop=True), frame)
        frame.head(1).to_sql("people", engine, index=False, if_exists="append")
        assert pd.read_sql("SELECT COUNT(*) AS n FROM people WHERE name = 'ada'", engine)["n"].tolist() == [2]
        frame.to_sql("people", engine, index=False, if_exists="replace")
        assert len(pd.read_sql("SELECT * FROM people", engine)) == 4
        assert sa.inspect(engine).get_pk_constraint("people")["constrained_columns"] == []
    finally:
        engine.dispose()


def _mariadb(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    command = [MARIADB or "mariadb", "-h", "127.0.0.1", "-P", str(port), "-u", "root", "--connect-timeout=10"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(
    MARIADB is None, reason="the mariadb CLI is not installed (apt-get install mariadb-client)"
)
def test_mariadb_cli_keyless_table_and_create_select(node: NodeProcess, database: str) -> None:
    script = (
        "CREATE TABLE log (at INT, msg VARCHAR(20)); INSERT INTO log VALUES (1, 'a'), (1, 'a'), (2, 'b');"
        " CREATE TABLE per_at AS SELECT at, COUNT(*) AS n FROM log GROUP BY at;"
        " SHOW CREATE TABLE log; SELECT * FROM per_at ORDER BY at;"
    )
    result = _mariadb(node.port, "-N", "-B", database, "-e", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "log\tCREATE TABLE `log` (\\n  `at` int DEFAULT NULL,\\n  `msg` varchar(20) DEFAULT NULL\\n)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci\n"
        "1\t2\n"
        "2\t1\n"
    )
    failed = _mariadb(node.port, database, "-e", "CREATE TABLE x SELECT at, at FROM log")
    assert failed.returncode == 1 and "ERROR 1060" in failed.stderr, failed.stderr
