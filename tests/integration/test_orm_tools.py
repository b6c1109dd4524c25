"""SQLAlchemy ORM with an Alembic migration, and pandas ``read_sql``/``to_sql``, against a real node.

The Alembic project is ``tests/clients/alembic`` (two revisions: create the tables; add a column and a
unique index). Upgrade and downgrade run through Alembic's own commands over PyMySQL; the schema is
checked with SQLAlchemy's inspector, the data with the ORM.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import orm

from tests.integration.test_mysql_clients import Client

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

ALEMBIC_DIR = Path(__file__).resolve().parents[1] / "clients" / "alembic"


@pytest.fixture
def engine(node: NodeProcess, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    name = f"tools_{request.node.name}"[:60]
    admin = Client("pymysql", node.port, None)
    try:
        admin.execute(f"CREATE DATABASE `{name}`")
    finally:
        admin.close()
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{node.port}/{name}?charset=utf8mb4")
    yield engine
    engine.dispose()


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
    title: orm.Mapped[str] = orm.mapped_column(sa.String(100))
    price: orm.Mapped[Decimal | None] = orm.mapped_column(sa.Numeric(10, 2))
    author_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("authors.id"))
    isbn: orm.Mapped[str | None] = orm.mapped_column(sa.String(20))  # added by revision 0002
    author: orm.Mapped[Author] = orm.relationship(back_populates="books")


def _migrate(engine: sa.Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _schema(engine: sa.Engine) -> tuple[list[str], list[str], dict[str, tuple[list[str | None], bool]]]:
    inspector = sa.inspect(engine)
    columns = [c["name"] for c in inspector.get_columns("books")]
    indexes = {
        str(i["name"]): (list(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes("books")
    }
    return sorted(inspector.get_table_names()), columns, indexes


def _version(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))


def test_alembic_upgrade_downgrade_and_orm_crud(engine: sa.Engine) -> None:
    _migrate(engine, "upgrade", "0001")
    tables, columns, indexes = _schema(engine)
    assert tables == ["alembic_version", "authors", "books"]
    assert columns == ["id", "title", "price", "author_id"]
    assert "ix_books_isbn" not in indexes
    assert _version(engine) == ["0001"]

    _migrate(engine, "upgrade", "head")
    _, columns, indexes = _schema(engine)
    assert columns == ["id", "title", "price", "author_id", "isbn"]
    assert indexes["ix_books_isbn"] == (["isbn"], True)
    assert _version(engine) == ["0002"]

    with orm.Session(engine) as session:
        ada = Author(name="Ada", books=[Book(title="Notes", price=Decimal("9.99"), isbn="978-1")])
        session.add_all([ada, Author(name="Bob", books=[Book(title="B1"), Book(title="B2", isbn="978-2")])])
        session.commit()
        assert ada.id and ada.books[0].id
    with orm.Session(engine) as session:
        bob = session.scalars(sa.select(Author).where(Author.name == "Bob")).one()
        b1 = next(b for b in bob.books if b.title == "B1")
        b1.isbn, b1.price = "978-3", Decimal("12.50")
        session.delete(next(b for b in bob.books if b.title == "B2"))
        session.commit()
    with orm.Session(engine) as session:
        rows = session.execute(
            sa.select(Author.name, Book.title, Book.price, Book.isbn).join(Book.author).order_by(Book.isbn)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("Ada", "Notes", Decimal("9.99"), "978-1"),
            ("Bob", "B1", Decimal("12.50"), "978-3"),
        ]
        session.add(Book(title="dup", isbn="978-1", author=session.scalars(sa.select(Author)).first()))
        with pytest.raises(sa.exc.IntegrityError) as caught:
            session.commit()  # the unique index of revision 0002
        assert caught.value.orig.args[0] == 1062  # type: ignore[union-attr]


def test_alembic_downgrade(engine: sa.Engine) -> None:
    _migrate(engine, "upgrade", "head")
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO authors (id, name) VALUES (1, 'Ada')"))
        connection.execute(
            sa.text(
                "INSERT INTO books (title, author_id, isbn) VALUES ('B1', 1, '978-3'), ('Notes', 1, NULL)"
            )
        )
    _migrate(engine, "downgrade", "0001")
    _, columns, indexes = _schema(engine)
    assert columns == ["id", "title", "price", "author_id"] and "ix_books_isbn" not in indexes
    assert _version(engine) == ["0001"]
    with engine.connect() as connection:  # the rows survive the column's removal
        assert connection.execute(sa.text("SELECT title FROM books ORDER BY title")).all() == [
            ("B1",),
            ("Notes",),
        ]

    _migrate(engine, "downgrade", "base")
    assert _schema_tables(engine) == ["alembic_version"]
    assert _version(engine) == []


def _schema_tables(engine: sa.Engine) -> list[str]:
    return sorted(sa.inspect(engine).get_table_names())


def test_pandas_to_sql_and_read_sql(engine: sa.Engine) -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "x": [1.5, -0.25, 1e10],
            "s": ["a", "ünï ✓", "it's"],
            "when": pd.to_datetime(["2024-02-29 23:59:58", "1999-12-31 00:00:00", "2000-01-01 12:00:00"]),
            "ok": [True, False, True],
        }
    )
    assert frame.to_sql("measures", engine, index=False, if_exists="replace") == 3
    back = pd.read_sql("SELECT n, x, s, `when`, ok FROM measures ORDER BY n", engine)
    expected = frame.assign(ok=frame["ok"].astype("int64"))  # BOOLEAN is TINYINT(1) in MySQL
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["when"].dtype.kind == "M" and back["n"].dtype.kind == "i" and back["x"].dtype.kind == "f"

    more = frame.assign(n=frame["n"] + 3)
    more.to_sql("measures", engine, index=False, if_exists="append")
    counted = pd.read_sql(
        sa.text("SELECT COUNT(*) AS c, SUM(n) AS total FROM measures WHERE x > :x"), engine, params={"x": 0}
    )
    assert counted.to_dict("records") == [{"c": 4, "total": 1 + 3 + 4 + 6}]

    other = pd.DataFrame({"k": ["only"], "v": [datetime.date(2020, 1, 2)]})
    other.to_sql("measures", engine, index=False, if_exists="replace")
    replaced = pd.read_sql_table("measures", engine)
    assert list(replaced.columns) == ["k", "v"] and replaced["k"].tolist() == ["only"]
    assert pd.Timestamp(replaced["v"][0]) == pd.Timestamp("2020-01-02")
