"""One query suite over real MySQL drivers against a real ``p2pdb start`` process.

Every test in ``TestSuite`` runs with PyMySQL, mysql-connector-python (text protocol and server-side
prepared statements) and aiomysql, each through the small ``Client`` adapter below, in a database of
its own on the module's node. SQLAlchemy 2 (ORM and inspection), PyMySQL multi-statements and the
signed log behind the data have their own tests.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiomysql
import mysql.connector
import pymysql
import pytest
import sqlalchemy as sa
from pymysql.constants import CLIENT
from sqlalchemy import orm

from tests.integration.conftest import p2pdb

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

# aiomysql 0.3.2 calls pymysql.converters.escape_bytes_prefixed, which PyMySQL 1.2 replaced by a
# string (it now sends bytes as ``_binary X'..'`` through escape_bytes): restore a callable.
if not callable(getattr(aiomysql.connection, "escape_bytes_prefixed", None)):
    aiomysql.connection.escape_bytes_prefixed = pymysql.converters.escape_bytes  # type: ignore[attr-defined]

DRIVERS = ["pymysql", "connector", "connector-prepared", "aiomysql"]
TIMEOUT = 10


class DBError(Exception):
    """A server error, whatever the driver: ``code`` is the MySQL error number."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int
    lastrowid: int | None
    columns: list[str]


class Client:
    """A connection through one driver, with the same blocking interface for all of them.
    Parameters use ``%s`` placeholders (every driver here accepts them)."""

    def __init__(self, driver: str, port: int, database: str | None) -> None:
        self.driver = driver
        self.loop: asyncio.AbstractEventLoop | None = None
        kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": port, "user": "root", "password": ""}
        if database:
            kwargs["db" if driver == "aiomysql" else "database"] = database
        if driver == "pymysql":
            self.conn: Any = pymysql.connect(autocommit=True, connect_timeout=TIMEOUT, **kwargs)
        elif driver.startswith("connector"):
            self.conn = mysql.connector.connect(autocommit=True, connection_timeout=TIMEOUT, **kwargs)
        else:
            self.loop = asyncio.new_event_loop()
            self.conn = self._run(aiomysql.connect(autocommit=True, connect_timeout=TIMEOUT, **kwargs))

    def _run(self, awaitable: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, TIMEOUT))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        try:
            if self.loop is not None:
                return self._run(self._execute_async(sql, params))
            cursor = (
                self.conn.cursor(prepared=True) if self.driver == "connector-prepared" else self.conn.cursor()
            )
            try:
                cursor.execute(sql, params)
                rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
                columns = [d[0] for d in cursor.description or ()]
                return Result(rows, cursor.rowcount, cursor.lastrowid, columns)
            finally:
                cursor.close()
        except (pymysql.MySQLError, mysql.connector.Error) as exc:
            raise self._error(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """The driver's own ``executemany`` (PyMySQL, mysql-connector's text protocol and aiomysql
        send an INSERT's rows as one multi-row INSERT); its rowcount."""
        try:
            if self.loop is not None:
                return int(self._run(self._executemany_async(sql, rows)))
            cursor = (
                self.conn.cursor(prepared=True) if self.driver == "connector-prepared" else self.conn.cursor()
            )
            try:
                cursor.executemany(sql, rows)
                return int(cursor.rowcount)
            finally:
                cursor.close()
        except (pymysql.MySQLError, mysql.connector.Error) as exc:
            raise self._error(exc) from exc

    async def _executemany_async(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        async with self.conn.cursor() as cursor:
            try:
                await cursor.executemany(sql, rows)
            except pymysql.MySQLError as exc:
                raise self._error(exc) from exc
            return int(cursor.rowcount)

    async def _execute_async(self, sql: str, params: Sequence[Any] | None) -> Result:
        async with self.conn.cursor() as cursor:
            try:
                await cursor.execute(sql, params)
            except pymysql.MySQLError as exc:
                raise self._error(exc) from exc
            rows = [tuple(r) for r in await cursor.fetchall()] if cursor.description else []
            columns = [d[0] for d in cursor.description or ()]
            return Result(rows, cursor.rowcount, cursor.lastrowid, columns)

    @staticmethod
    def _error(exc: Exception) -> DBError:
        code = getattr(exc, "errno", None)
        if code is None and exc.args and isinstance(exc.args[0], int):
            code = exc.args[0]
        return DBError(int(code or -1), str(exc))

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).rows

    def value(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    def set_autocommit(self, on: bool) -> None:
        if self.loop is not None:
            self._run(self.conn.autocommit(on))
        elif self.driver == "pymysql":
            self.conn.autocommit(on)
        else:
            self.conn.autocommit = on

    def begin(self) -> None:
        """Start a transaction through the driver's own call."""
        if self.loop is not None:
            self._run(self.conn.begin())
        elif self.driver == "pymysql":
            self.conn.begin()
        else:
            self.conn.start_transaction()

    def commit(self) -> None:
        self._run(self.conn.commit()) if self.loop is not None else self.conn.commit()

    def rollback(self) -> None:
        self._run(self.conn.rollback()) if self.loop is not None else self.conn.rollback()

    def close(self) -> None:
        if self.loop is not None:
            try:
                self._run(self.conn.ensure_closed())
            finally:
                self.loop.run_until_complete(asyncio.sleep(0))  # let the transport finish closing
                self.loop.close()
        else:
            self.conn.close()


_names = itertools.count(1)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(node: NodeProcess, request: pytest.FixtureRequest) -> str:
    """A fresh database for this test (names are per test and driver)."""
    name = f"c{next(_names)}_{request.node.originalname}"[:60]
    admin = Client("pymysql", node.port, None)
    try:
        admin.execute(f"CREATE DATABASE `{name}`")
    finally:
        admin.close()
    return name


@pytest.fixture
def connect(node: NodeProcess, driver: str, database: str) -> Iterator[Callable[..., Client]]:
    """``connect()`` opens another connection with this test's driver and database."""
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


TYPES_TABLE = """
CREATE TABLE items (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  body TEXT,
  price DECIMAL(10,2),
  created DATETIME,
  day DATE,
  flag BOOLEAN,
  small TINYINT(1),
  data BLOB,
  doc JSON,
  color ENUM('red','green','blue')
)"""
INSERT_ITEM = (
    "INSERT INTO items (name, body, price, created, day, flag, small, data, doc, color)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
TRICKY = 'it\'s a "quote", a back\\slash \\n, 100% _wild_; ünïcödé ✓ 🎉'
BLOB = bytes(range(256)) + b"'\\\x00\""


def as_bytes(value: Any) -> bytes:
    assert isinstance(value, bytes | bytearray), type(value)
    return bytes(value)


def as_text(value: Any) -> str:
    """JSON comes back as text; mysql-connector's binary protocol hands it over as bytes."""
    return value.decode() if isinstance(value, bytes | bytearray) else value


class TestSuite:
    def test_types_round_trip(self, client: Client) -> None:
        client.execute(TYPES_TABLE)
        created = datetime.datetime(2024, 2, 29, 23, 59, 58)
        day = datetime.date(1999, 12, 31)
        doc = json.dumps({"a": [1, 2.5, None], "b": "ü"})
        first = client.execute(
            INSERT_ITEM, (TRICKY, TRICKY, Decimal("12345678.90"), created, day, True, 0, BLOB, doc, "green")
        )
        assert first.rowcount == 1
        assert first.lastrowid
        second = client.execute(INSERT_ITEM, ("nulls", None, None, None, None, None, None, None, None, None))
        assert second.lastrowid and second.lastrowid > first.lastrowid
        assert client.value("SELECT LAST_INSERT_ID()") == second.lastrowid

        result = client.execute("SELECT * FROM items WHERE id = %s", (first.lastrowid,))
        assert result.columns == [
            "id", "name", "body", "price", "created", "day", "flag", "small", "data", "doc", "color",
        ]  # fmt: skip
        (row,) = result.rows
        assert row[0] == first.lastrowid and type(row[0]) is int
        assert row[1] == TRICKY and row[2] == TRICKY
        assert row[3] == Decimal("12345678.90") and type(row[3]) is Decimal
        assert row[4] == created and type(row[4]) is datetime.datetime
        assert row[5] == day and type(row[5]) is datetime.date
        assert (row[6], row[7]) == (1, 0) and type(row[6]) is int
        assert as_bytes(row[8]) == BLOB
        assert json.loads(as_text(row[9])) == json.loads(doc)
        assert row[10] == "green"
        (nulls,) = client.rows("SELECT * FROM items WHERE name = %s", ("nulls",))
        assert nulls[0] == second.lastrowid and nulls[1:] == ("nulls",) + (None,) * 9

    def test_multi_row_insert_and_insert_ids(self, client: Client) -> None:
        client.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20), b BLOB)")
        values = [("a", b"\x00'"), (None, None), ("c'\\ü", b"\xff\\")]
        result = client.execute("INSERT INTO t (v, b) VALUES (%s, %s), (%s, %s), (%s, %s)", sum(values, ()))
        assert result.rowcount == 3
        rows = client.rows("SELECT id, v, b FROM t ORDER BY id")
        assert [(v, None if b is None else as_bytes(b)) for _, v, b in rows] == values
        ids = [r[0] for r in rows]
        assert len(set(ids)) == 3
        assert result.lastrowid == ids[0]  # MySQL: the first value of a multi-row insert
        assert client.value("SELECT LAST_INSERT_ID()") == ids[0]
        explicit = client.execute("INSERT INTO t (id, v) VALUES (%s, %s)", (7, "seven"))
        assert explicit.rowcount == 1
        assert explicit.lastrowid == 7  # mysql_insert_id(): the explicit value ...
        assert client.value("SELECT LAST_INSERT_ID()") == ids[0]  # ... LAST_INSERT_ID() stays
        assert client.value("SELECT v FROM t WHERE id = 7") == "seven"

    def test_executemany_of_more_rows_than_sqlite_takes_parameters(self, client: Client) -> None:
        # 11,000 rows of 3 values: one multi-row INSERT of 33,000 literals from the batching
        # drivers, more than the 32,766 parameters SQLite binds in one statement.
        client.execute("CREATE TABLE bulk (id INT PRIMARY KEY, n INT, s VARCHAR(10))")
        rows = [(i, i * 3, f"s{i}") for i in range(11_000)]
        assert client.executemany("INSERT INTO bulk (id, n, s) VALUES (%s, %s, %s)", rows) == len(rows)
        assert client.rows("SELECT COUNT(*), SUM(n), MAX(s) FROM bulk") == [
            (11_000, 3 * sum(range(11_000)), "s9999")
        ]
        with pytest.raises(DBError) as failed:  # one duplicate: the whole statement is undone
            client.executemany(
                "INSERT INTO bulk (id, n, s) VALUES (%s, %s, %s)", [(20_000, 0, "a"), (5, 0, "b")]
            )
        assert failed.value.code == 1062
        if client.driver != "connector-prepared":  # (one statement per row: the first stays)
            assert client.value("SELECT COUNT(*) FROM bulk WHERE id = 20000") == 0

    def test_update_delete_affected_rows(self, client: Client) -> None:
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, n INT, s VARCHAR(10))")
        client.execute("INSERT INTO t VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c'), (4, 40, 'd')")
        assert client.execute("UPDATE t SET n = n + 1 WHERE id <= %s", (2,)).rowcount == 2
        assert client.execute("UPDATE t SET s = 'x' WHERE id > 100").rowcount == 0
        assert client.execute("DELETE FROM t WHERE n > %s", (25,)).rowcount == 2
        assert client.execute("DELETE FROM t WHERE id = 99").rowcount == 0
        assert client.rows("SELECT id, n, s FROM t ORDER BY id") == [(1, 11, "a"), (2, 21, "b")]

    def test_update_affected_rows_counts_changed_rows(self, client: Client) -> None:
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10))")
        client.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        assert client.execute("UPDATE t SET s = 'a'").rowcount == 1

    def test_an_update_that_only_changes_letter_case_is_written(self, client: Client) -> None:
        """VARCHAR compares case-insensitively, but 'apple' -> 'APPLE' is a change (MySQL compares the
        row's bytes): it was neither written nor counted."""
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10))")
        client.execute("INSERT INTO t VALUES (1, 'apple'), (2, 'pear ')")
        assert client.execute("UPDATE t SET s = 'APPLE' WHERE id = 1").rowcount == 1
        assert client.execute("UPDATE t SET s = 'pear' WHERE id = 2").rowcount == 1  # trailing space gone
        assert client.execute("UPDATE t SET s = 'APPLE' WHERE id = 1").rowcount == 0
        assert client.rows("SELECT s FROM t ORDER BY id") == [("APPLE",), ("pear",)]

    def test_select_where_order_limit(self, client: Client) -> None:
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, grp VARCHAR(5), n INT)")
        values = [(i, "odd" if i % 2 else "even", i * i) for i in range(1, 11)]
        client.execute(
            "INSERT INTO t VALUES " + ", ".join(["(%s, %s, %s)"] * len(values)),
            [v for row in values for v in row],
        )
        assert client.rows("SELECT id FROM t WHERE grp = %s ORDER BY n DESC LIMIT 1, 2", ("odd",)) == [
            (7,),
            (5,),
        ]
        assert client.rows("SELECT id, n FROM t WHERE n BETWEEN 10 AND 50 ORDER BY id LIMIT 2") == [
            (4, 16),
            (5, 25),
        ]
        sums = client.rows("SELECT grp, COUNT(*), SUM(n) FROM t GROUP BY grp ORDER BY grp")
        assert sums == [("even", 5, 220), ("odd", 5, 165)]

    def test_upsert_on_duplicate_key_and_replace(self, client: Client) -> None:
        client.execute(
            "CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) NOT NULL UNIQUE, v INT)"
        )
        upsert = "INSERT INTO kv (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)"
        inserted = client.execute(upsert, ("a", 1))
        assert inserted.rowcount == 1 and inserted.lastrowid
        client.execute(upsert, ("a", 2))
        client.execute("INSERT INTO kv (k, v) VALUES ('a', 0), ('b', 5) ON DUPLICATE KEY UPDATE v = v + 10")
        assert client.rows("SELECT k, v FROM kv ORDER BY k") == [("a", 12), ("b", 5)]
        assert client.value("SELECT id FROM kv WHERE k = 'a'") == inserted.lastrowid

        assert client.execute("REPLACE INTO kv (id, k, v) VALUES (%s, %s, %s)", (100, "c", 3)).rowcount == 1
        client.execute("REPLACE INTO kv (id, k, v) VALUES (%s, %s, %s)", (100, "c", 4))
        client.execute("REPLACE INTO kv (k, v) VALUES (%s, %s)", ("b", 6))  # replaces the row with k = 'b'
        assert client.rows("SELECT k, v FROM kv ORDER BY k") == [("a", 12), ("b", 6), ("c", 4)]
        assert client.value("SELECT id FROM kv WHERE k = 'c'") == 100

    def test_upsert_affected_rows(self, client: Client) -> None:
        client.execute(
            "CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) NOT NULL UNIQUE, v INT)"
        )
        upsert = "INSERT INTO kv (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)"
        assert client.execute(upsert, ("a", 1)).rowcount == 1  # inserted
        assert client.execute(upsert, ("a", 2)).rowcount == 2  # updated
        assert client.execute(upsert, ("a", 2)).rowcount == 0  # nothing changed
        assert client.rows("SELECT k, v FROM kv") == [("a", 2)]
        # Several rows: 1 per row inserted, 2 per row updated, 0 per row left as it was.
        many = (
            "INSERT INTO kv (k, v) VALUES (%s, %s), (%s, %s), (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)"
        )
        assert client.execute(many, ("a", 3, "b", 1, "c", 1)).rowcount == 4
        assert client.execute(many, ("a", 3, "b", 9, "d", 1)).rowcount == 3

    def test_upsert_reports_the_existing_rows_id(self, client: Client) -> None:
        client.execute(
            "CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) NOT NULL UNIQUE, v INT)"
        )
        upsert = "INSERT INTO kv (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)"
        inserted = client.execute(upsert, ("a", 1))
        updated = client.execute(upsert, ("a", 2))
        assert inserted.lastrowid and updated.lastrowid == inserted.lastrowid
        assert client.value("SELECT LAST_INSERT_ID()") == inserted.lastrowid

    def test_returning_gives_the_written_rows(self, client: Client) -> None:
        """MariaDB's INSERT/REPLACE/DELETE ... RETURNING: the written rows come back as a result set,
        in autocommit and in a transaction, and an empty one when none was written. ROW_COUNT() is
        then -1 (as after a SELECT); LAST_INSERT_ID() moves as for the INSERT alone."""
        client.execute(
            "CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) NOT NULL UNIQUE, v INT)"
        )
        inserted = client.execute(
            "INSERT INTO kv (k, v) VALUES (%s, %s), (%s, %s) RETURNING id, k, v * 10 AS ten",
            ("a", 1, "b", 2),
        )
        assert inserted.columns == ["id", "k", "ten"]
        assert inserted.rows == client.rows("SELECT id, k, v * 10 FROM kv ORDER BY id")
        assert [r[1:] for r in inserted.rows] == [("a", 10), ("b", 20)]
        assert client.rows("SELECT LAST_INSERT_ID(), ROW_COUNT()") == [(inserted.rows[0][0], -1)]
        client.begin()
        in_transaction = client.execute("INSERT INTO kv (k, v) VALUES (%s, %s) RETURNING k", ("c", 3))
        client.commit()
        assert (in_transaction.columns, in_transaction.rows) == (["k"], [("c",)])
        deleted = client.execute("DELETE FROM kv WHERE k = %s RETURNING k, v", ("a",))
        assert deleted.rows == [("a", 1)]
        none = client.execute("DELETE FROM kv WHERE k = %s RETURNING k", ("nosuch",))
        assert (none.columns, none.rows) == (["k"], [])
        replaced = client.execute(
            "REPLACE INTO kv (id, k, v) VALUES (%s, 'b', 7) RETURNING *", (inserted.rows[1][0],)
        )
        assert replaced.rows == [(inserted.rows[1][0], "b", 7)]
        assert client.rows("SELECT k, v FROM kv ORDER BY k") == [("b", 7), ("c", 3)]

    def test_row_count_after_writes_and_selects(self, client: Client) -> None:
        """ROW_COUNT(): the rows the last write changed, -1 after a statement that returned rows.
        FOUND_ROWS(): the rows of the last SELECT. (A prepared statement is run once when prepared,
        to describe its columns: that run must not count.)"""
        client.execute("CREATE TABLE rc (id INT PRIMARY KEY, v INT)")
        client.execute("INSERT INTO rc VALUES (1, 1), (2, 2)")
        assert client.value("SELECT ROW_COUNT()") == 2
        assert client.value("SELECT ROW_COUNT()") == -1  # the SELECT before returned a row
        client.execute("UPDATE rc SET v = 5 WHERE id = 3")
        assert client.value("SELECT ROW_COUNT()") == 0
        assert len(client.rows("SELECT * FROM rc")) == 2
        assert client.value("SELECT FOUND_ROWS()") == 2

    def test_like_escapes_and_binary(self, client: Client) -> None:
        """LIKE as MySQL: backslash escapes _ and % (Django escapes patterns so), LIKE BINARY is
        case-sensitive (Django's contains/startswith), other text matches case-insensitively, also
        in UPDATE and DELETE."""
        client.execute("CREATE TABLE lk (id INT PRIMARY KEY, s VARCHAR(20))")
        client.execute("INSERT INTO lk VALUES (1, 'a_b'), (2, 'axb'), (3, 'a%b'), (4, 'A_B'), (5, 'Été')")
        ids = lambda sql, *params: [r[0] for r in client.rows(sql + " ORDER BY id", params or None)]  # noqa: E731
        assert ids("SELECT id FROM lk WHERE s LIKE %s", "a\\_b") == [1, 4]
        assert ids("SELECT id FROM lk WHERE s LIKE 'a\\%%b'") == [3]
        assert ids("SELECT id FROM lk WHERE s NOT LIKE %s", "a\\_b") == [2, 3, 5]
        assert ids("SELECT id FROM lk WHERE s LIKE BINARY %s", "a\\_%") == [1]
        assert ids("SELECT id FROM lk WHERE s LIKE BINARY CONCAT('%%', %s, '%%')", "A\\_") == [4]
        assert ids("SELECT id FROM lk WHERE s LIKE %s", "été") == [5]
        assert ids("SELECT id FROM lk WHERE s LIKE %s ESCAPE '|'", "a|_b") == [1, 4]
        assert client.execute("UPDATE lk SET s = 'q' WHERE s LIKE %s", ("a\\%b",)).rowcount == 1
        assert client.execute("DELETE FROM lk WHERE s LIKE %s", ("A\\_B",)).rowcount == 2
        assert client.rows("SELECT id, s FROM lk ORDER BY id") == [(2, "axb"), (3, "q"), (5, "Été")]

    def test_last_insert_id_of_an_expression(self, client: Client) -> None:
        """LAST_INSERT_ID(expr) sets what LAST_INSERT_ID() and the OK packet report: the sequence
        table idiom and the upsert that returns the existing row's id (error 1305 and 1064 before)."""
        client.execute("CREATE TABLE seq (id INT NOT NULL)")
        client.execute("INSERT INTO seq VALUES (100)")
        bumped = client.execute("UPDATE seq SET id = LAST_INSERT_ID(id + 1)")
        assert (bumped.rowcount, bumped.lastrowid) == (1, 101)
        assert client.value("SELECT LAST_INSERT_ID()") == 101
        client.execute("CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(5) UNIQUE)")
        first = client.execute("INSERT INTO kv (k) VALUES ('a')").lastrowid
        client.execute("INSERT INTO kv (k) VALUES ('b')")
        again = "INSERT INTO kv (k) VALUES ('a') ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)"
        assert client.execute(again).lastrowid == first
        assert client.value("SELECT LAST_INSERT_ID()") == first

    def test_replace_affected_rows(self, client: Client) -> None:
        """MySQL counts 1 per inserted row and 1 per row REPLACE deleted for it."""
        client.execute(
            "CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) NOT NULL UNIQUE, v INT)"
        )
        assert client.execute("REPLACE INTO kv (id, k, v) VALUES (100, 'b', 1)").rowcount == 1
        assert client.execute("REPLACE INTO kv (id, k, v) VALUES (100, 'b', 2)").rowcount == 2
        client.execute("INSERT INTO kv (id, k, v) VALUES (200, 'c', 1)")
        # One new row that meets two existing ones (id 100, k 'c'): both are deleted.
        assert client.execute("REPLACE INTO kv (id, k, v) VALUES (100, 'c', 3)").rowcount == 3
        assert client.execute("SELECT id, k, v FROM kv").rowcount == 1

    def test_session_functions_and_variables(self, client: Client, database: str) -> None:
        version = client.value("SELECT @@version")
        assert isinstance(version, str) and version[:1].isdigit()
        assert client.value("SELECT DATABASE()") == database
        client.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        inserted = client.execute("INSERT INTO t (v) VALUES (1)")
        assert client.value("SELECT LAST_INSERT_ID()") == inserted.lastrowid
        client.execute("SET @v = 5")
        assert client.value("SELECT @v") == 5
        client.execute("SET @s = %s", ("it's",))
        assert client.value("SELECT CONCAT(@s, '!')") == "it's!"
        # A subquery reads the session's tables (it ran where no table exists: error 1146).
        client.execute("SET @n = (SELECT COUNT(*) FROM t), @m = (SELECT MAX(v) FROM t) + 10")
        assert client.rows("SELECT @n, @m") == [(1, 11)]
        client.execute("DO (SELECT COUNT(*) FROM t)")
        # SELECT ... INTO @variables (error 1064 before): one row in, none leaves them, two refused.
        client.execute("SELECT v, id INTO @first, @key FROM t WHERE v = 1")
        client.execute("SELECT v FROM t WHERE v = 99 INTO @first")
        assert client.rows("SELECT @first, @key") == [(1, inserted.lastrowid)]
        client.execute("INSERT INTO t (v) VALUES (2)")
        with pytest.raises(DBError) as many:
            client.execute("SELECT v INTO @first FROM t")
        assert many.value.code == 1172

    def test_transaction_commit_is_visible_to_another_connection(
        self, client: Client, connect: Callable[..., Client]
    ) -> None:
        other = connect()
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        client.execute("BEGIN")
        client.execute("INSERT INTO t VALUES (%s, %s)", (1, "one"))
        client.execute("UPDATE t SET v = 'uno' WHERE id = 1")
        assert client.rows("SELECT v FROM t") == [("uno",)]  # own uncommitted writes
        assert other.rows("SELECT v FROM t") == []  # not visible before COMMIT
        client.execute("COMMIT")
        assert other.rows("SELECT id, v FROM t") == [(1, "uno")]

    def test_rollback_discards(self, client: Client, connect: Callable[..., Client]) -> None:
        other = connect()
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        client.execute("INSERT INTO t VALUES (1, 'keep')")
        client.execute("START TRANSACTION")
        client.execute("INSERT INTO t VALUES (2, 'drop')")
        client.execute("DELETE FROM t WHERE id = 1")
        assert client.rows("SELECT id FROM t") == [(2,)]
        client.execute("ROLLBACK")
        assert client.rows("SELECT id, v FROM t") == [(1, "keep")]
        assert other.rows("SELECT id, v FROM t") == [(1, "keep")]

    def test_autocommit_off_and_commit(self, client: Client, connect: Callable[..., Client]) -> None:
        other = connect()
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        client.set_autocommit(False)
        client.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
        assert client.value("SELECT COUNT(*) FROM t") == 2
        assert other.value("SELECT COUNT(*) FROM t") == 0
        client.commit()
        assert other.value("SELECT COUNT(*) FROM t") == 2
        client.execute("DELETE FROM t WHERE id = 1")
        client.rollback()
        client.set_autocommit(True)
        assert other.rows("SELECT id FROM t ORDER BY id") == [(1,), (2,)]

    @pytest.mark.parametrize(
        ("sql", "code"),
        [
            ("SELEC 1", 1064),
            ("SELECT * FROM no_such_table", 1146),
            ("INSERT INTO t VALUES (1)", 1062),
            ("CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET NEW.id = NEW.id + 1", 1235),
            ("USE no_such_database", 1049),
        ],
        ids=["syntax", "no-table", "duplicate", "unsupported", "unknown-db"],
    )
    def test_error_codes_leave_connection_usable(self, client: Client, sql: str, code: int) -> None:
        client.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        client.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(DBError) as caught:
            client.execute(sql)
        assert caught.value.code == code, caught.value
        assert client.value("SELECT COUNT(*) FROM t") == 1

    def test_show_and_describe(self, client: Client, database: str) -> None:
        client.execute(
            "CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(80) NOT NULL,"
            " age INT DEFAULT 7, UNIQUE KEY uq_email (email), KEY ix_age (age))"
        )
        databases = [r[0] for r in client.rows("SHOW DATABASES")]
        assert database in databases and "information_schema" in databases
        tables = client.execute("SHOW TABLES")
        assert tables.columns == [f"Tables_in_{database}"] and tables.rows == [("people",)]
        columns = client.execute("SHOW COLUMNS FROM people")
        assert columns.columns[:6] == ["Field", "Type", "Null", "Key", "Default", "Extra"]
        by_name = {r[0]: r for r in columns.rows}
        assert list(by_name) == ["id", "email", "age"]
        assert by_name["id"][1:4] == ("int", "NO", "PRI") and by_name["id"][5] == "auto_increment"
        assert by_name["email"][1:4] == ("varchar(80)", "NO", "UNI")
        assert by_name["age"][1:5] == ("int", "YES", "MUL", "7")
        assert client.rows("DESCRIBE people") == columns.rows
        ((name, create),) = client.rows("SHOW CREATE TABLE people")
        assert name == "people"
        assert create.startswith("CREATE TABLE `people` (")
        for fragment in ("`id` int NOT NULL AUTO_INCREMENT", "PRIMARY KEY (`id`)", "UNIQUE KEY `uq_email`"):
            assert fragment in create, create
        index = client.execute("SHOW INDEX FROM people")
        assert index.columns[:5] == ["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name"]
        keys = {(r[2], r[4], int(r[1])) for r in index.rows}
        assert keys == {("PRIMARY", "id", 0), ("uq_email", "email", 0), ("ix_age", "age", 1)}

    def test_information_schema(self, client: Client, database: str) -> None:
        client.execute("CREATE TABLE a (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL)")
        client.execute("CREATE TABLE b (id BIGINT PRIMARY KEY, price DECIMAL(10,2))")
        tables = client.rows(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " ORDER BY TABLE_NAME",
            (database,),
        )
        assert tables == [("a", "BASE TABLE"), ("b", "BASE TABLE")]
        columns = client.rows(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        assert columns == [
            ("a", "id", "int", "NO", "PRI"),
            ("a", "label", "varchar", "NO", ""),
            ("b", "id", "bigint", "NO", "PRI"),
            ("b", "price", "decimal", "YES", ""),
        ]


def test_column_level_unique_in_create_and_alter(node: NodeProcess, database: str) -> None:
    client = Client("pymysql", node.port, database)
    try:
        client.execute("CREATE TABLE u (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE)")
        client.execute("ALTER TABLE u ADD COLUMN email VARCHAR(40) UNIQUE")
        keys = {(r[2], r[4], int(r[1])) for r in client.rows("SHOW INDEX FROM u")}
        assert keys == {("PRIMARY", "id", 0), ("code", "code", 0), ("email", "email", 0)}
        client.execute("INSERT INTO u VALUES (1, 'a', 'x@example.org')")
        for row in ((2, "a", "y@example.org"), (3, "b", "x@example.org")):
            with pytest.raises(DBError) as caught:
                client.execute("INSERT INTO u VALUES (%s, %s, %s)", row)
            assert caught.value.code == 1062
    finally:
        client.close()


def test_found_rows_flag_counts_matched_rows(node: NodeProcess, database: str) -> None:
    """With CLIENT_FOUND_ROWS (SQLAlchemy sets it) UPDATE reports the rows it matched."""
    conn = pymysql.connect(
        host="127.0.0.1", port=node.port, user="root", database=database, client_flag=CLIENT.FOUND_ROWS
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10))")
            cursor.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            assert cursor.execute("UPDATE t SET s = 'a'") == 2
            conn.commit()
    finally:
        conn.close()


def test_database_qualified_names(node: NodeProcess, database: str) -> None:
    other = database + "_b"
    client = Client("pymysql", node.port, database)
    try:
        client.execute(f"CREATE DATABASE {other}")
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        client.execute("INSERT INTO t VALUES (1, 'here')")
        client.execute(f"CREATE TABLE {other}.t (id INT PRIMARY KEY, w INT)")  # in the other database
        client.execute(f"INSERT INTO {other}.t VALUES (1, 10), (2, 20)")
        assert client.rows(f"SHOW TABLES FROM {other}") == [("t",)]
        assert client.rows(f"SELECT id, w FROM {other}.t ORDER BY id") == [(1, 10), (2, 20)]
        assert client.rows("SELECT id, v FROM t") == [(1, "here")]
        client.execute(f"DROP TABLE {other}.t")  # drops the other database's t, not this one's
        assert client.rows(f"SHOW TABLES FROM {other}") == []
        assert client.rows("SELECT id, v FROM t") == [(1, "here")]
        with pytest.raises(DBError) as caught:
            client.execute("CREATE TABLE no_such_db.t (id INT PRIMARY KEY)")
        assert caught.value.code == 1049
    finally:
        client.close()


def test_pymysql_multi_statements(node: NodeProcess, database: str) -> None:
    conn = pymysql.connect(
        host="127.0.0.1", port=node.port, user="root", database=database, client_flag=CLIENT.MULTI_STATEMENTS
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5));"
                " INSERT INTO t VALUES (1, 'a'), (2, 'b');"
                " SELECT id, v FROM t ORDER BY id; SELECT COUNT(*) AS n FROM t; UPDATE t SET v = 'z'"
            )
            assert not cursor.fetchall()  # CREATE TABLE
            assert cursor.nextset() and cursor.rowcount == 2  # INSERT
            assert cursor.nextset() and cursor.fetchall() == ((1, "a"), (2, "b"))
            assert cursor.nextset() and cursor.fetchall() == ((2,),)
            assert [d[0] for d in cursor.description] == ["n"]
            assert cursor.nextset() and cursor.rowcount == 2  # UPDATE
            assert not cursor.nextset()
            # a failing statement ends the batch; its error comes when the client reads that result
            cursor.execute("SELECT 1; SELECT * FROM missing; SELECT 3")
            assert cursor.fetchall() == ((1,),)
            with pytest.raises(pymysql.MySQLError) as caught:
                cursor.nextset()
            assert caught.value.args[0] == 1146
            cursor.execute("SELECT v FROM t WHERE id = 2")
            assert cursor.fetchall() == (("z",),)
    finally:
        conn.close()


class Base(orm.DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(50), unique=True)
    books: orm.Mapped[list[Book]] = orm.relationship(back_populates="author", cascade="all, delete-orphan")


class Book(Base):
    __tablename__ = "books"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(100), index=True)
    price: orm.Mapped[Decimal | None] = orm.mapped_column(sa.Numeric(10, 2))
    published: orm.Mapped[datetime.date | None]
    author_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("authors.id"))
    author: orm.Mapped[Author] = orm.relationship(back_populates="books")


def test_sqlalchemy_orm_and_inspection(node: NodeProcess, database: str) -> None:
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{node.port}/{database}")
    try:
        Base.metadata.create_all(engine)
        with orm.Session(engine) as session:
            ada = Author(name="Ada", books=[Book(title="Notes", price=Decimal("9.99"))])
            bob = Author(
                name="Bob", books=[Book(title="B1"), Book(title="B2", published=datetime.date(2020, 1, 2))]
            )
            session.add_all([ada, bob])
            session.commit()
            assert ada.id and bob.id and ada.id != bob.id

        with orm.Session(engine) as session:
            bob = session.scalars(sa.select(Author).where(Author.name == "Bob")).one()
            assert sorted(b.title for b in bob.books) == ["B1", "B2"]
            b2 = next(b for b in bob.books if b.title == "B2")
            assert b2.published == datetime.date(2020, 1, 2) and b2.author is bob
            b2.price = Decimal("12.50")
            session.delete(next(b for b in bob.books if b.title == "B1"))
            session.commit()

        with orm.Session(engine) as session:
            rows = session.execute(
                sa.select(Author.name, Book.title, Book.price).join(Book.author).order_by(Book.title)
            ).all()
            assert [tuple(r) for r in rows] == [
                ("Bob", "B2", Decimal("12.50")),
                ("Ada", "Notes", Decimal("9.99")),
            ]
            ada = session.scalars(sa.select(Author).where(Author.name == "Ada")).one()
            session.delete(ada)  # cascades to Ada's book
            session.commit()
            assert session.scalar(sa.select(sa.func.count()).select_from(Book)) == 1

        inspector = sa.inspect(engine)
        assert sorted(inspector.get_table_names()) == ["authors", "books"]
        columns = {c["name"]: c for c in inspector.get_columns("books")}
        assert list(columns) == ["id", "title", "price", "published", "author_id"]
        assert isinstance(columns["price"]["type"], sa.Numeric) and columns["price"]["nullable"]
        assert isinstance(columns["title"]["type"], sa.String) and not columns["title"]["nullable"]
        assert inspector.get_pk_constraint("books")["constrained_columns"] == ["id"]
        indexes = {i["name"]: i for i in inspector.get_indexes("books")}
        assert indexes["ix_books_title"]["column_names"] == ["title"]
        assert not indexes["ix_books_title"]["unique"]

        Base.metadata.drop_all(engine)
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_writes_are_in_the_signed_log(node: NodeProcess, database: str) -> None:
    client = Client("pymysql", node.port, database)
    try:
        client.execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        for i in range(3):
            client.execute("INSERT INTO t VALUES (%s, %s)", (i, f"v{i}"))
    finally:
        client.close()
    status = node.status()
    assert status["running"] is True
    (entry,) = [d for d in status["databases"] if d["name"] == database]
    assert entry["heads"] and entry["entries"] >= 4  # CREATE TABLE and three inserts
    verified = p2pdb("verify", "--data-dir", str(node.data_dir), database)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{entry['entries']} entries checked, 0 bad" in verified.stdout
    log = p2pdb("log", "--data-dir", str(node.data_dir), database)
    assert log.returncode == 0, log.stderr
    assert log.stdout.splitlines()[0].startswith(entry["heads"][0])
    # each line: CID, Lamport time, the author as a peer id, the author's wall time (UTC), parents
    _cid, time, author, day, clock, parents = log.stdout.splitlines()[0].split()
    assert time.startswith("t=") and author == f"author={status['peer_id']}"
    assert day.startswith("at=20") and len(clock) == 8 and parents.startswith("parents=bafy")


def test_connector_start_transaction_with_autocommit_off(node: NodeProcess, database: str) -> None:
    """SERVER_STATUS_IN_TRANS as MySQL sets it: not for autocommit=0 alone (mysql-connector-python's
    ``start_transaction()`` refuses to run while the flag is set), yes once a statement used a table."""
    conn = mysql.connector.connect(
        host="127.0.0.1", port=node.port, user="root", database=database, autocommit=False
    )
    try:
        cursor = conn.cursor()
        assert not conn.in_transaction
        cursor.execute("CREATE TABLE t (id INT PRIMARY KEY)")  # implicit commit
        cursor.execute("INSERT INTO t VALUES (1)")
        assert conn.in_transaction
        conn.commit()
        assert not conn.in_transaction
        conn.start_transaction()
        assert conn.in_transaction
        cursor.execute("INSERT INTO t VALUES (2)")
        conn.rollback()
        assert not conn.in_transaction
        conn.start_transaction()
        cursor.execute("INSERT INTO t VALUES (3)")
        conn.commit()
        cursor.execute("SELECT id FROM t ORDER BY id")
        assert cursor.fetchall() == [(1,), (3,)]
        conn.commit()
    finally:
        conn.close()
