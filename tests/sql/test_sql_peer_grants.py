"""GRANT / REVOKE / SHOW GRANTS to peers: access rules in the log, enforced on every replica
(docs/security.md). Two in-process nodes exchange blocks by hand."""

from __future__ import annotations

from test_sql_keyless_and_select import Node, error, rows, run

from p2pdb.log.identity import peer_id
from p2pdb.store import Database


def sync(a: Database, b: Database) -> None:
    b.join([e.block for e in a.log.traverse()])
    a.join([e.block for e in b.log.traverse()])


def pair() -> tuple[Node, Node, Database, Database, str]:
    owner, writer = Node(access="owned"), Node(access="owned")
    run(owner.session, "CREATE DATABASE shop")
    run(owner.session, "USE shop")
    run(owner.session, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price INT)")
    run(owner.session, "INSERT INTO items VALUES (1, 'pen', 3)")
    replica = writer.backend.registry.create("shop")
    source = owner.db("shop")
    sync(source, replica)
    run(writer.session, "USE shop")
    return owner, writer, source, replica, peer_id(writer.backend.registry.identity.public_key)


def test_a_new_database_is_its_creators_and_others_get_1142() -> None:
    _, writer, _, _, _ = pair()
    code, message = error(writer.session, "INSERT INTO items VALUES (2, 'ink', 5)")
    assert code == 1142 and "INSERT command denied to peer '12D3KooW" in message and "'items'" in message
    assert error(writer.session, "DELETE FROM items")[0] == 1142
    assert error(writer.session, "CREATE TABLE other (id INT PRIMARY KEY)")[0] == 1142
    assert rows(writer.session, "SELECT name FROM items") == [("pen",)]  # reads are not refused


def test_column_grant_lets_a_writer_change_one_column_and_not_another() -> None:
    owner, writer, source, replica, who = pair()
    run(owner.session, f"GRANT UPDATE (price) ON shop.items TO '{who}'")
    sync(source, replica)
    run(writer.session, "UPDATE items SET price = 4 WHERE id = 1")
    code, message = error(writer.session, "UPDATE items SET name = 'quill' WHERE id = 1")
    assert code == 1143 and "for column 'name' in table 'items'" in message
    assert error(writer.session, "INSERT INTO items VALUES (2, 'ink', 5)")[0] == 1142
    sync(source, replica)
    assert rows(owner.session, "SELECT name, price FROM items") == [("pen", 4)]
    assert source.state_hash() == replica.state_hash()
    assert rows(owner.session, f"SHOW GRANTS FOR '{who}'") == [
        (f"GRANT USAGE ON *.* TO '{who}'",),
        (f"GRANT UPDATE (`price`) ON `shop`.`items` TO '{who}'",),
    ]
    got = rows(
        owner.session,
        "SELECT GRANTEE, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES",
    )
    assert got == [(f"'{who}'", "items", "price", "UPDATE")]


def test_grant_and_revoke_replicate_and_revocation_is_causal() -> None:
    owner, writer, source, replica, who = pair()
    run(owner.session, f"GRANT INSERT, UPDATE, DELETE ON shop.* TO '{who}'")
    sync(source, replica)
    run(writer.session, "INSERT INTO items VALUES (2, 'ink', 5)")
    sync(source, replica)
    run(owner.session, f"REVOKE INSERT ON shop.* FROM '{who}'")
    sync(source, replica)
    assert error(writer.session, "INSERT INTO items VALUES (3, 'nib', 1)")[0] == 1142
    run(writer.session, "UPDATE items SET price = 6 WHERE id = 2")  # what was not revoked still works
    sync(source, replica)
    assert rows(owner.session, "SELECT id, price FROM items ORDER BY id") == [(1, 3), (2, 6)]
    assert source.state_hash() == replica.state_hash()


def test_an_entry_a_modified_peer_sends_anyway_is_rejected_and_recorded() -> None:
    _, writer, source, replica, _ = pair()
    # The writer's node skips its own check (a modified peer): the entry is signed and valid.
    from p2pdb.store import access

    real = access.check_row
    try:
        access.check_row = lambda *a, **k: None  # type: ignore[assignment]
        import p2pdb.store.database as database_module

        database_module.check_row = access.check_row  # type: ignore[attr-defined]
        run(writer.session, "INSERT INTO items VALUES (9, 'forged', 0)")
    finally:
        access.check_row = real  # type: ignore[assignment]
        database_module.check_row = real  # type: ignore[attr-defined]
    result = source.join([e.block for e in replica.log.traverse()])
    assert len(result.rejected_ops) == 1 and "access denied: INSERT" in result.rejected_ops[0][1]
    assert next(iter(source.rejected()))[1].startswith("WriteDenied")
    assert source.query("SELECT id FROM items") == [(1,)]
    again = source.join([e.block for e in replica.log.traverse()])  # recorded, not retried
    assert again.rejected_ops == [] and again.applied == []


def test_open_to_anyone_then_closed() -> None:
    owner, writer, source, replica, _ = pair()
    run(owner.session, "GRANT ALL ON shop.* TO '*'")
    sync(source, replica)
    run(writer.session, "INSERT INTO items VALUES (2, 'ink', 5)")
    run(owner.session, "REVOKE ALL ON shop.* FROM '*'")
    sync(source, replica)
    assert error(writer.session, "INSERT INTO items VALUES (3, 'nib', 1)")[0] == 1142
    assert rows(owner.session, "SELECT id FROM items ORDER BY id") == [(1,), (2,)]


def test_only_an_owner_grants_and_bad_grants_are_refused() -> None:
    owner, writer, _, _, who = pair()
    me = peer_id(owner.backend.registry.identity.public_key)
    assert error(writer.session, f"GRANT INSERT ON shop.* TO '{me}'")[0] == 1227
    assert error(owner.session, f"GRANT INSERT ON *.* TO '{who}'")[0] == 1235
    assert error(owner.session, f"GRANT DELETE (price) ON shop.items TO '{who}'")[0] == 1221
    assert error(owner.session, f"GRANT UPDATE (nope) ON shop.items TO '{who}'")[0] == 1054
    assert error(owner.session, f"GRANT UPDATE ON shop.nope TO '{who}'")[0] == 1146
    assert error(owner.session, f"GRANT UPDATE ON nope.* TO '{who}'")[0] == 1049
    assert error(owner.session, f"GRANT EXECUTE ON shop.* TO '{who}'")[0] == 1235
    assert rows(owner.session, f"SHOW GRANTS FOR '{me}'")[-1] == (
        f"GRANT ALL PRIVILEGES ON `shop`.* TO '{me}' WITH GRANT OPTION",
    )
    # a MySQL account is still an account
    run(owner.session, "CREATE USER 'bob'@'%'")
    run(owner.session, "GRANT SELECT ON shop.* TO 'bob'@'%'")
    assert ("GRANT SELECT ON `shop`.* TO `bob`@`%`",) in rows(owner.session, "SHOW GRANTS FOR 'bob'@'%'")
