"""The CRUD script (see ../README.md) through the Python drivers of ``test_mysql_clients``.

``crud(driver, port, database)`` yields the same records the other languages' scripts print:
PyMySQL, mysql-connector-python (text protocol, and ``prepared`` for its server-side prepared cursor)
and aiomysql, each through that module's ``Client`` adapter. Run standalone with
``python -m tests.clients.python.crud DRIVER PORT DATABASE``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from tests.integration.test_mysql_clients import Client, DBError

NAME_A = 'it\'s "quoted" \\ ünïcödé ✓ 🎉'
BODY_A = "line 1\nline 2: 100% _wild_; back\\slash"
DOC_A = '{"a": [1, 2.5, null], "b": "ü"}'
BLOB_A = bytes(range(256))
CREATE = (
    "CREATE TABLE crud (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,"
    " body TEXT, price DECIMAL(10,2), created DATETIME, active BOOLEAN, doc JSON, data BLOB)"
)
INSERT = (
    "INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


def norm(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def crud(driver: str, port: int, database: str) -> Iterator[dict[str, Any]]:
    conn = Client(driver, port, database)
    ids: dict[str, int] = {}

    def count(client: Client = conn) -> int:
        return int(client.value("SELECT COUNT(*) FROM crud"))

    def connect() -> Any:
        return conn.value("SELECT 40 + 2")

    def create() -> Any:
        conn.execute("DROP TABLE IF EXISTS crud")
        conn.execute(CREATE)
        return True

    def insert() -> Any:
        params = (NAME_A, BODY_A, Decimal("12345.67"), "2024-02-29 23:59:58", True, DOC_A, BLOB_A)
        result = conn.execute(INSERT, params)
        ids["a"] = int(result.lastrowid or 0)
        return {"affected": result.rowcount, "id": result.lastrowid}

    def insert_null() -> Any:
        result = conn.execute(INSERT, ("second", None, None, None, None, None, None))
        ids["b"] = int(result.lastrowid or 0)
        last = conn.value("SELECT LAST_INSERT_ID()")
        return {"affected": result.rowcount, "id": result.lastrowid, "last_insert_id": last}

    def select(key: str) -> Callable[[], Any]:
        def run() -> Any:
            sql = "SELECT id, name, body, price, created, active, doc, data FROM crud WHERE id = %s"
            (row,) = conn.rows(sql, (ids[key],))
            doc = row[6].decode() if isinstance(row[6], bytes | bytearray) else row[6]  # connector: bytes
            return [norm(v) for v in row[:6]] + [doc, norm(row[7])]

        return run

    def update() -> Any:
        result = conn.execute(
            "UPDATE crud SET body = %s WHERE id IN (%s, %s)", ("updated", ids["a"], ids["b"])
        )
        return {
            "affected": result.rowcount,
            "bodies": [r[0] for r in conn.rows("SELECT body FROM crud ORDER BY id")],
        }

    def delete() -> Any:
        result = conn.execute("DELETE FROM crud WHERE id = %s", (ids["a"],))
        return {"affected": result.rowcount, "count": count()}

    def rollback() -> Any:
        conn.begin()
        conn.execute("INSERT INTO crud (name) VALUES (%s)", ("rolled back",))
        inside = count()
        conn.rollback()
        return {"inside": inside, "after": count()}

    def commit() -> Any:
        conn.begin()
        conn.execute("INSERT INTO crud (name) VALUES (%s)", ("committed",))
        conn.commit()
        other = Client(driver, port, database)
        try:
            return {"after": count(other)}
        finally:
            other.close()

    def prepared() -> Any:
        params = [
            ("p1", Decimal("1.10"), True, b"\x00\x01"),
            ("p2", "2.20", False, b"'\\\""),
            ("p3", None, True, None),
        ]
        sql = "INSERT INTO crud (name, price, active, data) VALUES (%s, %s, %s, %s)"
        affected = [conn.execute(sql, p).rowcount for p in params]
        rows = conn.rows("SELECT name, price, active, data FROM crud WHERE name LIKE %s ORDER BY id", ("p%",))
        return {"affected": affected, "rows": [[norm(v) for v in r] for r in rows]}

    def error() -> Any:
        code = None
        try:
            conn.execute("INSERT INTO crud (name) VALUES (%s)", ("p1",))
        except DBError as exc:
            code = exc.code
        return {"code": code, "after": conn.value("SELECT 1")}

    checks: list[tuple[str, Callable[[], Any]]] = [
        ("connect", connect),
        ("create", create),
        ("insert", insert),
        ("insert_null", insert_null),
        ("select", select("a")),
        ("select_null", select("b")),
        ("update", update),
        ("delete", delete),
        ("rollback", rollback),
        ("commit", commit),
        ("prepared", prepared),
        ("error", error),
    ]
    try:
        for name, fn in checks:
            try:
                yield {"check": name, "value": fn()}
            except Exception as exc:
                yield {"check": name, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        conn.close()


if __name__ == "__main__":
    for record in crud(sys.argv[1], int(sys.argv[2]), sys.argv[3]):
        print(json.dumps(record, ensure_ascii=False))
