"""DDL through the SQL session layer: ALTER TABLE, and what replicas show after exchanging logs.

Each test drives :class:`SQLSession` objects the way the MySQL server does; replication is the
store's log exchange (``Database.join``), so what a replica shows is what the merge made of the
schema events (docs/crdt.md §10).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.sql.test_sql_keyless_and_select import Node, error, replica_of, rows, run, sync


@pytest.fixture
def node() -> Node:
    n = Node()
    run(n.session, "CREATE DATABASE app")
    run(n.session, "USE app")
    return n


def columns(node: Node, table: str) -> list[tuple[Any, ...]]:
    return [r[:2] for r in rows(node.session, f"SHOW COLUMNS FROM {table}")]


def create_show(node: Node, table: str) -> str:
    return str(rows(node.session, f"SHOW CREATE TABLE {table}")[0][1])


def test_drop_column_keeps_the_rows_and_replicates(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b INT, KEY ab (a, b))")
    run(node.session, "INSERT INTO t VALUES (1, 'x', 10), (2, 'y', 20)")
    replica = replica_of(node)
    run(node.session, "ALTER TABLE t DROP COLUMN b")
    assert columns(node, "t") == [("id", "int"), ("a", "varchar(10)")]
    assert rows(node.session, "SELECT * FROM t ORDER BY id") == [(1, "x"), (2, "y")]
    assert "KEY `ab` (`a`)" in create_show(node, "t")  # the column left the index, as in MySQL
    run(node.session, "INSERT INTO t VALUES (3, 'z')")
    sync(node.db(), replica.db())
    assert rows(replica.session, "SELECT * FROM t ORDER BY id") == [(1, "x"), (2, "y"), (3, "z")]
    assert columns(replica, "t") == [("id", "int"), ("a", "varchar(10)")]


def test_drop_column_errors(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    assert error(node.session, "ALTER TABLE t DROP COLUMN nope")[0] == 1091
    assert error(node.session, "ALTER TABLE t DROP COLUMN id")[0] == 1235
    run(node.session, "CREATE TABLE k (a INT)")
    assert error(node.session, "ALTER TABLE k DROP COLUMN a")[0] == 1090
    assert error(node.session, "ALTER TABLE nope DROP COLUMN a")[0] == 1146


def test_modify_and_change_column_convert_the_values_and_replicate(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, n VARCHAR(10), c INT)")
    run(node.session, "INSERT INTO t VALUES (1, '12', 5), (2, '7', NULL)")
    replica = replica_of(node)
    run(node.session, "ALTER TABLE t MODIFY n BIGINT NOT NULL COMMENT 'a number' AFTER id")
    run(node.session, "ALTER TABLE t CHANGE COLUMN c c VARCHAR(20) DEFAULT 'none'")
    assert columns(node, "t") == [("id", "int"), ("n", "bigint"), ("c", "varchar(20)")]
    assert rows(node.session, "SELECT id, n, c FROM t ORDER BY id") == [(1, 12, "5"), (2, 7, None)]
    assert rows(node.session, "SELECT n + 1 FROM t WHERE id = 1") == [(13,)]
    run(node.session, "INSERT INTO t (id, n) VALUES (3, 1)")
    assert rows(node.session, "SELECT c FROM t WHERE id = 3") == [("none",)]
    assert "COMMENT 'a number'" in create_show(node, "t")
    sync(node.db(), replica.db())
    assert rows(replica.session, "SELECT id, n, c FROM t ORDER BY id") == [
        (1, 12, "5"),
        (2, 7, None),
        (3, 1, "none"),
    ]
    assert create_show(replica, "t") == create_show(node, "t")


def test_alter_column_default(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(5) DEFAULT 'a')")
    run(node.session, "ALTER TABLE t ALTER COLUMN s SET DEFAULT 'b'")
    run(node.session, "INSERT INTO t (id) VALUES (1)")
    run(node.session, "ALTER TABLE t ALTER s DROP DEFAULT")
    run(node.session, "INSERT INTO t (id) VALUES (2)")
    assert rows(node.session, "SELECT id, s FROM t ORDER BY id") == [(1, "b"), (2, None)]


def test_several_alterations_in_one_statement_are_one_change(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)")
    run(node.session, "INSERT INTO t VALUES (1, 2, 3)")
    before = len(node.db().log)
    result = run(
        node.session,
        "ALTER TABLE t ADD COLUMN c INT NOT NULL FIRST, DROP b, ADD UNIQUE KEY ua (a),"
        " MODIFY a BIGINT, ENGINE=InnoDB, DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci,"
        " ALGORITHM=INPLACE, LOCK=NONE",
    )
    assert result.affected_rows == 0
    assert len(node.db().log) == before + 1
    assert columns(node, "t") == [("c", "int"), ("id", "int"), ("a", "bigint")]  # c FIRST
    assert rows(node.session, "SELECT * FROM t") == [(0, 1, 2)]
    assert error(node.session, "INSERT INTO t VALUES (0, 2, 2)")[0] == 1062
    run(node.session, "ALTER TABLE t MODIFY c INT NOT NULL AFTER a, ADD COLUMN d INT AFTER id")
    assert columns(node, "t") == [("id", "int"), ("d", "int"), ("a", "bigint"), ("c", "int")]
    assert error(node.session, "ALTER TABLE t ADD COLUMN e INT AFTER nope")[0] == 1054
    replica = replica_of(node)
    assert columns(replica, "t") == columns(node, "t")


def test_indexes_add_drop_rename(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)")
    run(node.session, "ALTER TABLE t ADD INDEX (a), ADD KEY kb (b), ADD CONSTRAINT u UNIQUE (a, b)")
    shown = create_show(node, "t")
    assert "KEY `a` (`a`)" in shown and "KEY `kb` (`b`)" in shown and "UNIQUE KEY `u` (`a`,`b`)" in shown
    run(node.session, "ALTER TABLE t DROP INDEX a, RENAME INDEX kb TO kb2")
    shown = create_show(node, "t")
    assert "KEY `a` (" not in shown and "KEY `kb2` (`b`)" in shown
    assert error(node.session, "ALTER TABLE t DROP KEY nope")[0] == 1091
    assert error(node.session, "ALTER TABLE t ADD INDEX (nope)")[0] == 1072


def test_primary_key_and_rename_changes_get_a_clear_error(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    run(node.session, "CREATE TABLE k (a INT)")
    run(node.session, "ALTER TABLE t ADD PRIMARY KEY (id)")  # the key it has: nothing to do
    assert error(node.session, "ALTER TABLE t ADD PRIMARY KEY (a)")[0] == 1068
    assert error(node.session, "ALTER TABLE t DROP PRIMARY KEY")[0] == 1235
    code, message = error(node.session, "ALTER TABLE k ADD PRIMARY KEY (a)")
    assert code == 1235 and "doesn't yet support 'ADD PRIMARY KEY'" in message


def test_options_and_comments_are_accepted(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a INT)")
    for statement in (
        "ALTER TABLE t ENGINE=InnoDB",
        "ALTER TABLE t ENGINE InnoDB, ROW_FORMAT=DYNAMIC",
        "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        "ALTER TABLE t CHARACTER SET = latin1",
        "ALTER TABLE t AUTO_INCREMENT = 100",
        "ALTER TABLE t COMMENT = 'people, and more'",
    ):
        run(node.session, statement)
    run(node.session, "ALTER TABLE t MODIFY a INT COMMENT 'the a, column'")
    assert "COMMENT 'the a, column'" in create_show(node, "t")


def test_add_column_not_null_without_default_fills_the_zero(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY)")
    run(node.session, "INSERT INTO t VALUES (1)")
    run(node.session, "ALTER TABLE t ADD COLUMN n INT NOT NULL, ADD COLUMN s VARCHAR(3) NOT NULL")
    assert rows(node.session, "SELECT * FROM t") == [(1, 0, "")]
    assert error(node.session, "ALTER TABLE t ADD COLUMN n INT")[0] == 1060


def test_rename_table_moves_definition_rows_and_indexes_and_replicates(node: Node) -> None:
    run(
        node.session,
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, a VARCHAR(5) COMMENT 'x', UNIQUE KEY ua (a))",
    )
    run(node.session, "INSERT INTO t (a) VALUES ('p'), ('q')")
    replica = replica_of(node)
    run(node.session, "RENAME TABLE t TO u")
    assert rows(node.session, "SHOW TABLES") == [("u",)]
    assert rows(node.session, "SELECT * FROM u ORDER BY id") == [(1, "p"), (2, "q")]
    shown = create_show(node, "u")
    assert "UNIQUE KEY `ua` (`a`)" in shown and "AUTO_INCREMENT" in shown and "COMMENT 'x'" in shown
    run(node.session, "ALTER TABLE u RENAME TO v, ADD COLUMN b INT")
    run(node.session, "INSERT INTO v (a, b) VALUES ('r', 1)")
    assert rows(node.session, "SELECT id, a, b FROM v ORDER BY id") == [
        (1, "p", None),
        (2, "q", None),
        (3, "r", 1),
    ]
    assert error(node.session, "INSERT INTO v (a) VALUES ('p')")[0] == 1062
    assert error(node.session, "SELECT * FROM t")[0] == 1146
    sync(node.db(), replica.db())
    assert rows(replica.session, "SHOW TABLES") == [("v",)]
    assert rows(replica.session, "SELECT id, a, b FROM v ORDER BY id") == [
        (1, "p", None),
        (2, "q", None),
        (3, "r", 1),
    ]


def test_rename_table_errors(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY)")
    run(node.session, "CREATE TABLE u (id INT PRIMARY KEY)")
    assert error(node.session, "RENAME TABLE t TO u")[0] == 1050
    assert error(node.session, "RENAME TABLE nope TO w")[0] == 1146
    run(node.session, "RENAME TABLE t TO t2, u TO t")
    assert rows(node.session, "SHOW TABLES") == [("t",), ("t2",)]


def test_rename_column_keeps_values_and_indexes_and_replicates(node: Node) -> None:
    run(
        node.session,
        "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(5) NOT NULL, b INT, UNIQUE KEY ua (a, b))",
    )
    run(node.session, "INSERT INTO t VALUES (1, 'p', 1), (2, 'q', 2)")
    replica = replica_of(node)
    run(node.session, "ALTER TABLE t RENAME COLUMN a TO name")
    assert columns(node, "t") == [("id", "int"), ("name", "varchar(5)"), ("b", "int")]  # in its place
    assert rows(node.session, "SELECT id, name FROM t ORDER BY id") == [(1, "p"), (2, "q")]
    assert "UNIQUE KEY `ua` (`name`,`b`)" in create_show(node, "t")
    assert "`name` varchar(5) NOT NULL" in create_show(node, "t")
    run(node.session, "ALTER TABLE t CHANGE b num BIGINT DEFAULT 7 FIRST")
    assert [c for c, _ in columns(node, "t")] == ["num", "id", "name"]
    run(node.session, "INSERT INTO t (id, name) VALUES (3, 'r')")
    assert rows(node.session, "SELECT id, name, num FROM t ORDER BY id") == [
        (1, "p", 1),
        (2, "q", 2),
        (3, "r", 7),
    ]
    assert error(node.session, "INSERT INTO t (id, name, num) VALUES (4, 'p', 1)")[0] == 1062
    assert error(node.session, "ALTER TABLE t RENAME COLUMN id TO ident")[0] == 1235
    assert error(node.session, "ALTER TABLE t RENAME COLUMN name TO num")[0] == 1060
    sync(node.db(), replica.db())
    assert rows(replica.session, "SELECT id, name, num FROM t ORDER BY id") == [
        (1, "p", 1),
        (2, "q", 2),
        (3, "r", 7),
    ]
    assert create_show(replica, "t") == create_show(node, "t")


def test_expression_defaults_are_evaluated_by_the_writer_and_replicate(node: Node) -> None:
    run(
        node.session,
        "CREATE TABLE t (id INT PRIMARY KEY, u CHAR(36) DEFAULT (uuid()), at DATETIME DEFAULT NOW(),"
        " d DATE DEFAULT (CURRENT_DATE), j JSON DEFAULT (JSON_ARRAY()), ts TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))",
    )
    run(node.session, "INSERT INTO t (id) VALUES (1), (2)")
    (one, two) = rows(node.session, "SELECT u, at, d, j, ts FROM t ORDER BY id")
    assert len(str(one[0])) == 36 and one[0] != two[0]
    assert one[1] is not None and one[2] is not None and one[4] is not None
    assert one[3] == "[]"
    replica = replica_of(node)
    assert rows(replica.session, "SELECT u, at, d, j, ts FROM t ORDER BY id") == [one, two]
    shown = create_show(node, "t")
    assert "DEFAULT (uuid())" in shown and "`at` datetime DEFAULT CURRENT_TIMESTAMP" in shown
    assert "DEFAULT CURRENT_TIMESTAMP(3)" in shown
    described = {r[0]: r for r in rows(node.session, "SHOW COLUMNS FROM t")}
    assert described["u"][4] == "uuid()" and described["u"][5] == "DEFAULT_GENERATED"
    assert error(node.session, "CREATE TABLE x (a INT DEFAULT (1 + id))")[0] == 1235


def test_on_update_current_timestamp_is_set_by_the_writer_only(node: Node) -> None:
    run(
        node.session,
        "CREATE TABLE t (id INT PRIMARY KEY, v INT,"
        " changed DATETIME DEFAULT '2000-01-01 00:00:00' ON UPDATE CURRENT_TIMESTAMP)",
    )
    run(node.session, "INSERT INTO t (id, v) VALUES (1, 1), (2, 2)")
    run(node.session, "UPDATE t SET v = 10 WHERE id = 1")
    run(node.session, "UPDATE t SET v = 2 WHERE id = 2")  # nothing changes: no new time
    run(node.session, "INSERT INTO t (id, v) VALUES (3, 3)")
    run(node.session, "UPDATE t SET v = 30, changed = '2001-01-01 00:00:00' WHERE id = 3")  # given: kept
    got = dict(rows(node.session, "SELECT id, changed FROM t"))
    assert str(got[1]) > "2020" and str(got[2]).startswith("2000") and str(got[3]).startswith("2001")
    replica = replica_of(node)
    assert dict(rows(replica.session, "SELECT id, changed FROM t")) == got
    # A replica applying a peer's update does not stamp it again: the writer's value travels.
    run(node.session, "UPDATE t SET v = 11 WHERE id = 2")
    sync(node.db(), replica.db())
    assert rows(replica.session, "SELECT changed FROM t WHERE id = 2") == rows(
        node.session, "SELECT changed FROM t WHERE id = 2"
    )
    described = {r[0]: r for r in rows(node.session, "SHOW COLUMNS FROM t")}
    assert described["changed"][5] == "on update CURRENT_TIMESTAMP"
    assert "ON UPDATE CURRENT_TIMESTAMP" in create_show(node, "t")
    # The trigger follows schema changes.
    run(node.session, "ALTER TABLE t ADD COLUMN w INT")
    run(node.session, "UPDATE t SET w = 5 WHERE id = 3")
    assert str(rows(node.session, "SELECT changed FROM t WHERE id = 3")[0][0]) > "2020"


def test_views_are_created_queried_altered_dropped_and_replicated(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(5), n INT)")
    run(node.session, "INSERT INTO t VALUES (1, 'x', 10), (2, 'y', 20), (3, 'it''s', 30)")
    replica = replica_of(node)
    run(
        node.session,
        "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW big AS"
        " SELECT id, a, n * 2 AS dbl FROM t WHERE n > 15 OR a = 'it''s' ORDER BY 1 DESC",
    )
    assert rows(node.session, "SELECT * FROM big") == [(3, "it's", 60), (2, "y", 40)]
    assert rows(node.session, "SELECT a FROM big WHERE dbl = 40") == [("y",)]
    assert rows(node.session, "SHOW FULL TABLES") == [("big", "VIEW"), ("t", "BASE TABLE")]
    assert error(node.session, "CREATE VIEW big AS SELECT 1")[0] == 1050
    assert error(node.session, "CREATE VIEW t AS SELECT 1")[0] == 1050
    assert error(node.session, "CREATE OR REPLACE VIEW t AS SELECT 1")[0] == 1347
    assert error(node.session, "CREATE VIEW bad AS SELECT nope FROM t")[0] == 1054
    assert error(node.session, "CREATE VIEW bad AS SELECT * FROM nope")[0] == 1146
    assert error(node.session, "CREATE VIEW bad AS SELECT * FROM _p2pdb_schema")[0] == 1146
    assert error(node.session, "ALTER VIEW nope AS SELECT 1")[0] == 1146
    sync(node.db(), replica.db())
    assert rows(replica.session, "SELECT * FROM big") == [(3, "it's", 60), (2, "y", 40)]
    run(node.session, "CREATE OR REPLACE VIEW big (k, label) AS SELECT id, a FROM t WHERE id < 2")
    assert rows(node.session, "SELECT k, label FROM big") == [(1, "x")]
    run(node.session, "ALTER VIEW big AS SELECT count(*) AS c FROM t")
    assert rows(node.session, "SELECT c FROM big") == [(3,)]
    run(node.session, "INSERT INTO t VALUES (4, 'z', 0)")
    assert rows(node.session, "SELECT c FROM big") == [(4,)]
    sync(node.db(), replica.db())
    assert rows(replica.session, "SELECT c FROM big") == [(4,)]
    assert rows(node.session, "DESCRIBE big") == [("c", "bigint", "YES", "", None, "")]
    run(node.session, "CREATE VIEW named AS SELECT a, id FROM t")
    assert [r[:2] for r in rows(node.session, "SHOW COLUMNS FROM named")] == [
        ("a", "varchar(5)"),
        ("id", "int"),
    ]
    run(node.session, "DROP VIEW named")
    created = rows(node.session, "SHOW CREATE VIEW big")[0]
    assert created[0] == "big" and "VIEW `big` AS SELECT count(*) AS c FROM t" in created[1]
    assert rows(
        node.session,
        "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'app'",
    ) == [("big", "SELECT count(*) AS c FROM t")]
    assert rows(
        node.session,
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app'"
        " ORDER BY TABLE_NAME",
    ) == [("big", "VIEW"), ("t", "BASE TABLE")]
    run(node.session, "DROP VIEW big")
    assert error(node.session, "SELECT * FROM big")[0] == 1146
    assert error(node.session, "DROP VIEW big")[0] == 1051
    assert run(node.session, "DROP VIEW IF EXISTS big").warnings == 1
    sync(node.db(), replica.db())
    assert rows(replica.session, "SHOW TABLES") == [("t",)]


def test_a_view_may_name_its_tables_with_their_database(node: Node) -> None:
    name = node.db().name
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, n INT)")
    run(node.session, "INSERT INTO t VALUES (1, 10), (2, 20)")
    run(
        node.session,
        f"CREATE VIEW `{name}`.q AS SELECT t.id, `{name}`.t.n * 10 AS big FROM {name}.t WHERE n > 15",
    )
    assert rows(node.session, f"SELECT * FROM {name}.q") == [(2, 200)]
    replica = replica_of(node)
    assert rows(replica.session, "SELECT big FROM q") == [(200,)]


def test_a_peer_view_over_internal_tables_cannot_be_read(node: Node) -> None:
    from p2pdb.schema import ViewSpec

    db = node.db()

    def forged(conn: Any) -> None:  # a view written by a peer without the SQL layer's checks
        db.catalog.note_change("create_view", "spy", ViewSpec("spy", "SELECT * FROM _p2pdb_schema", ()))

    db.write(forged)
    assert ("spy",) in rows(node.session, "SHOW TABLES")
    assert error(node.session, "SELECT * FROM spy")[0] == 1146


def test_triggers_procedures_and_functions_get_1235(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY)")
    for statement in (
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.id = NEW.id + 1",
        "CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.id = 1",
        "CREATE PROCEDURE p() SELECT 1",
        "CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
        "CALL p()",
        "DROP TRIGGER tr",
        "DROP PROCEDURE IF EXISTS p",
    ):
        code, message = error(node.session, statement)
        assert code == 1235 and "doesn't yet support" in message, statement


def test_tables_with_on_update_columns_can_be_renamed_and_dropped(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, v INT, at DATETIME ON UPDATE CURRENT_TIMESTAMP)")
    run(node.session, "INSERT INTO t (id, v) VALUES (1, 1)")
    run(node.session, "UPDATE t SET v = 2")  # the trigger exists now
    run(node.session, "RENAME TABLE t TO u")
    run(node.session, "UPDATE u SET v = 3")
    assert rows(node.session, "SELECT v, at IS NOT NULL FROM u") == [(3, 1)]
    run(node.session, "DROP TABLE u")
    assert rows(node.session, "SHOW TABLES") == []


def test_check_constraints_are_kept_shown_and_enforced_on_local_writes(node: Node) -> None:
    run(
        node.session,
        "CREATE TABLE t (id INT PRIMARY KEY, q INT CHECK (q > 0), p INT,"
        " CONSTRAINT small CHECK (p < 100)) COMMENT='stock, per shop'",
    )
    run(node.session, "INSERT INTO t VALUES (1, 1, 1), (2, NULL, NULL)")  # NULL passes, as in MySQL
    assert error(node.session, "INSERT INTO t VALUES (3, 0, 1)") == (
        3819,
        "Check constraint 't_chk_1' is violated.",
    )
    assert error(node.session, "UPDATE t SET p = 100 WHERE id = 1")[0] == 3819
    shown = create_show(node, "t")
    assert "CONSTRAINT `small` CHECK (p < 100)" in shown and "CONSTRAINT `t_chk_1` CHECK (q > 0)" in shown
    assert shown.endswith("COMMENT='stock, per shop'")
    run(node.session, "ALTER TABLE t DROP CHECK small, ADD CONSTRAINT even CHECK (p % 2 = 1), COMMENT 'new'")
    run(node.session, "UPDATE t SET p = 101 WHERE id = 1")
    assert error(node.session, "UPDATE t SET p = 102 WHERE id = 1")[0] == 3819
    assert error(node.session, "ALTER TABLE t DROP CHECK nope")[0] == 3821
    assert error(node.session, "ALTER TABLE t ADD CHECK (nope > 1)")[0] == 3820
    run(node.session, "RENAME TABLE t TO t2")
    run(node.session, "RENAME TABLE t2 TO t")  # the definition travels with the rows
    replica = replica_of(node)
    assert create_show(replica, "t") == create_show(node, "t")
    assert rows(
        replica.session, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_NAME = 't'"
    ) == [("new",)]
    # A replica applies a peer's rows without checking them: the writer checked.
    assert error(replica.session, "INSERT INTO t VALUES (5, -1, 1)")[0] == 3819


def test_foreign_keys_are_kept_shown_and_enforced_on_local_writes(node: Node) -> None:
    run(node.session, "CREATE TABLE par (id INT PRIMARY KEY, name VARCHAR(5))")
    run(
        node.session,
        "CREATE TABLE kid (id INT PRIMARY KEY, p INT, q INT REFERENCES par (id),"
        " CONSTRAINT kp FOREIGN KEY (p) REFERENCES par (id) ON DELETE CASCADE)",
    )
    run(node.session, "INSERT INTO par VALUES (1, 'a'), (2, 'b')")
    run(node.session, "INSERT INTO kid VALUES (10, 1, NULL), (11, 2, 2)")
    code, message = error(node.session, "INSERT INTO kid VALUES (12, 3, NULL)")
    assert code == 1452 and "CONSTRAINT `kp` FOREIGN KEY (`p`) REFERENCES `par` (`id`)" in message
    assert error(node.session, "DELETE FROM par WHERE id = 2")[0] == 1451  # kid_ibfk_1 restricts
    run(node.session, "DELETE FROM par WHERE id = 1")  # kp cascades
    assert rows(node.session, "SELECT id FROM kid") == [(11,)]
    run(node.session, "SET foreign_key_checks = 0")
    run(node.session, "INSERT INTO kid VALUES (13, 9, 9)")
    run(node.session, "SET foreign_key_checks = 1")
    shown = create_show(node, "kid")
    assert "CONSTRAINT `kp` FOREIGN KEY (`p`) REFERENCES `par` (`id`) ON DELETE CASCADE" in shown
    assert "CONSTRAINT `kid_ibfk_1` FOREIGN KEY (`q`) REFERENCES `par` (`id`)" in shown
    assert rows(
        node.session,
        "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME"
        " FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL ORDER BY 1",
    ) == [("kid_ibfk_1", "q", "par", "id"), ("kp", "p", "par", "id")]
    assert rows(
        node.session,
        "SELECT CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS ORDER BY 1",
    ) == [("kid_ibfk_1", "RESTRICT", "RESTRICT"), ("kp", "CASCADE", "RESTRICT")]
    run(node.session, "ALTER TABLE kid DROP FOREIGN KEY kid_ibfk_1")
    run(node.session, "DELETE FROM par WHERE id = 2")
    run(
        node.session,
        "ALTER TABLE kid ADD CONSTRAINT kq FOREIGN KEY (q) REFERENCES par (id) ON DELETE SET NULL",
    )
    assert (
        error(node.session, "CREATE TABLE orphan (id INT PRIMARY KEY, x INT REFERENCES nope (id))")[0] == 1824
    )
    assert error(node.session, "ALTER TABLE kid ADD FOREIGN KEY (q) REFERENCES par (nope)")[0] == 1822
    replica = replica_of(node)
    assert create_show(replica, "kid") == create_show(node, "kid")
    # a referenced table is not dropped alone (MySQL 8's 3730), with its children it is
    code, message = error(node.session, "DROP TABLE par")
    assert (code, message) == (
        3730,
        "Cannot drop table 'par' referenced by a foreign key constraint 'kp' on table 'kid'.",
    )
    run(node.session, "DROP TABLE kid, par")
    assert rows(node.session, "SHOW TABLES LIKE 'par'") == []


def test_temporary_tables_belong_to_their_session_and_are_never_replicated(node: Node) -> None:
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))")
    run(node.session, "INSERT INTO t VALUES (1, 'real')")
    before = len(node.db().log)
    run(node.session, "CREATE TEMPORARY TABLE t (id INT PRIMARY KEY, v VARCHAR(5), n INT DEFAULT 7)")
    run(node.session, "INSERT INTO t (id, v) VALUES (1, 'tmp'), (2, 'tmp2')")
    run(node.session, "UPDATE t SET n = n + 1 WHERE id = 2")
    run(node.session, "DELETE FROM t WHERE id = 1")
    assert rows(node.session, "SELECT id, v, n FROM t") == [(2, "tmp2", 8)]  # shadows the real t
    assert rows(node.session, "SELECT t.v FROM t JOIN t AS u ON t.id = u.id") == [("tmp2",)]
    other = node.session_()
    run(other, "USE app")
    assert rows(other, "SELECT v FROM t") == [("real",)]  # another session sees the real table
    run(other, "CREATE TEMPORARY TABLE t (x INT)")  # and may have its own
    run(other, "INSERT INTO t VALUES (5)")
    assert rows(other, "SELECT * FROM t") == [(5,)]
    assert len(node.db().log) == before  # nothing was replicated
    assert error(node.session, "CREATE TEMPORARY TABLE t (a INT)")[0] == 1050
    run(node.session, "DROP TEMPORARY TABLE t")
    assert rows(node.session, "SELECT v FROM t") == [("real",)]
    assert error(node.session, "DROP TEMPORARY TABLE t")[0] == 1051
    run(node.session, "CREATE TEMPORARY TABLE scratch (a INT)")
    node.session.close()  # disconnect: its temporary tables go
    assert rows(other, "SELECT * FROM t") == [(5,)]
    assert [
        r for r in node.db().conn.execute("SELECT name FROM sqlite_temp_schema WHERE name LIKE '%scratch'")
    ] == []
