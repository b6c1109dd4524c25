"""Encrypted databases (docs/security.md "Encrypted databases"): entries sealed for the readers,
carried by a blind relay that cannot read them. In-process nodes exchange blocks by hand."""

from __future__ import annotations

from pathlib import Path

from test_sql_keyless_and_select import Node, error, rows, run

from p2pdb.log import Identity
from p2pdb.log.identity import peer_id
from p2pdb.sql.backend import Accounts, SQLBackend
from p2pdb.store import Database
from p2pdb.store.registry import Registry

SECRET = "tiramisu-recipe-7731"


def push(a: Database, b: Database) -> None:
    b.join([e.block for e in a.log.traverse()])


def who(node: Node) -> str:
    return peer_id(node.backend.registry.identity.public_key)


def file_node(path: Path) -> Node:
    node = Node(access="owned")
    node.backend = SQLBackend(
        Registry(Identity.generate(), path, new_database_access="owned"), Accounts(None)
    )
    return node


def test_relay_carries_an_encrypted_database_it_cannot_read(tmp_path: Path) -> None:
    owner, reader, late = Node(access="owned"), Node(access="owned"), Node(access="owned")
    relay = file_node(tmp_path / "relay")
    run(owner.session, "CREATE DATABASE shop ENCRYPTION = 'Y'")
    assert "ENCRYPTION='Y'" in rows(owner.session, "SHOW CREATE DATABASE shop")[0][1]
    run(owner.session, "USE shop")
    run(owner.session, "CREATE TABLE recipes (id INT PRIMARY KEY, body TEXT)")
    run(owner.session, f"INSERT INTO recipes VALUES (1, '{SECRET}')")
    source = owner.db("shop")
    assert SECRET.encode() not in b"".join(e.block for e in source.log.traverse())  # sealed in the log

    # The relay holds and forwards every entry, applies none: no table, no plaintext in its files.
    hop = relay.backend.registry.create("shop")
    push(source, hop)
    assert len(hop.log) == len(source.log) and hop.tables() == []
    relay.backend.registry.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "relay").rglob("*") if p.is_file())
    assert SECRET.encode() not in stored and b"recipes" not in stored
    relay.backend = SQLBackend(Registry(relay.backend.registry.identity, tmp_path / "relay"), Accounts(None))
    hop = relay.db("shop")

    # A reader granted afterwards opens what it received sealed (the whole history), via the relay.
    replica = reader.backend.registry.create("shop")
    push(hop, replica)
    run(reader.session, "USE shop")
    assert error(reader.session, "SELECT * FROM recipes")[0] == 1146
    run(owner.session, f"GRANT SELECT, INSERT ON shop.* TO '{who(reader)}'")
    push(source, hop)
    push(hop, replica)
    assert rows(reader.session, "SELECT body FROM recipes") == [(SECRET,)]
    run(reader.session, "INSERT INTO recipes VALUES (2, 'reader note')")
    push(replica, hop)
    push(hop, source)
    assert rows(owner.session, "SELECT id FROM recipes ORDER BY id") == [(1,), (2,)]
    assert source.state_hash() == replica.state_hash()

    # Revoking the reader rotates the key: it reads and writes nothing after that.
    run(owner.session, f"REVOKE SELECT ON shop.* FROM '{who(reader)}'")
    run(owner.session, "INSERT INTO recipes VALUES (3, 'after the rotation')")
    push(source, hop)
    push(hop, replica)
    assert rows(reader.session, "SELECT id FROM recipes ORDER BY id") == [(1,), (2,)]
    assert error(reader.session, "INSERT INTO recipes VALUES (4, 'x')")[0] == 1044

    # A reader that joins late replays everything from the relay alone, and ends as the owner is.
    run(owner.session, f"GRANT SELECT ON shop.* TO '{who(late)}'")
    push(source, hop)
    joined = late.backend.registry.create("shop")
    push(hop, joined)
    run(late.session, "USE shop")
    assert rows(late.session, "SELECT id FROM recipes ORDER BY id") == [(1,), (2,), (3,)]
    assert joined.state_hash() == source.state_hash()
    assert error(late.session, "INSERT INTO recipes VALUES (5, 'x')")[0] == 1142  # reads, may not write


def test_encryption_options_and_a_forged_clear_write() -> None:
    owner, other = Node(access="owned"), Node(access="owned")
    run(owner.session, "CREATE DATABASE plain")
    run(owner.session, "ALTER DATABASE plain CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    run(owner.session, "ALTER DATABASE plain ENCRYPTION 'N'")
    assert "ENCRYPTION='N'" in rows(owner.session, "SHOW CREATE DATABASE plain")[0][1]
    run(owner.session, "ALTER DATABASE plain ENCRYPTION = 'Y'")
    assert error(owner.session, "ALTER DATABASE plain ENCRYPTION = 'N'")[0] == 1235
    assert error(owner.session, "ALTER DATABASE plain FROBNICATE = 1")[0] == 1064
    assert error(owner.session, "GRANT SELECT ON plain.* TO '*'")[0] == 1235
    assert error(other.session, "ALTER DATABASE nope ENCRYPTION = 'Y'")[0] == 1049
    run(owner.session, "CREATE DATABASE open_one")
    replica = other.backend.registry.create("open_one")
    push(owner.db("open_one"), replica)
    assert error(other.session, "ALTER DATABASE open_one ENCRYPTION = 'Y'")[0] == 1227  # owners only


def test_a_write_in_clear_to_an_encrypted_database_is_rejected_everywhere() -> None:
    owner, writer = Node(access="owned"), Node(access="owned")
    run(owner.session, "CREATE DATABASE vault ENCRYPTION 'Y'")
    run(owner.session, "CREATE TABLE vault.t (id INT PRIMARY KEY, v TEXT)")
    run(owner.session, f"GRANT SELECT, INSERT ON vault.* TO '{who(writer)}'")
    source = owner.db("vault")
    replica = writer.backend.registry.create("vault")
    push(source, replica)
    from p2pdb.store.ops import encode_ops

    replica._encode_local = lambda acl, ops, ddl: encode_ops(ops)  # type: ignore[method-assign]
    run(writer.session, "INSERT INTO vault.t VALUES (1, 'in clear')")  # a modified peer
    result = source.join([e.block for e in replica.log.traverse()])
    assert [reason for _, reason in result.rejected_ops] == [
        "InvalidOps: an entry of an encrypted database writes in clear"
    ]
    assert rows(owner.session, "SELECT * FROM vault.t") == []


def test_a_write_sealed_with_another_key_is_rejected_everywhere() -> None:
    """A removed reader that kept writing with a key of its own (or an old one) is refused."""
    from p2pdb.store import sealed
    from p2pdb.store.ops import encode_ops

    owner, writer = Node(access="owned"), Node(access="owned")
    run(owner.session, "CREATE DATABASE vault ENCRYPTION 'Y'")
    run(owner.session, "CREATE TABLE vault.t (id INT PRIMARY KEY, v TEXT)")
    run(owner.session, f"GRANT SELECT, INSERT ON vault.* TO '{who(writer)}'")
    source = owner.db("vault")
    replica = writer.backend.registry.create("vault")
    push(source, replica)
    own_key = sealed.new_key()
    replica._encode_local = lambda acl, ops, ddl: [  # type: ignore[method-assign]
        sealed.seal(own_key, replica.log.id, encode_ops(ops), ddl=ddl).to_ipld()
    ]
    run(writer.session, "INSERT INTO vault.t VALUES (1, 'wrong key')")
    result = source.join([e.block for e in replica.log.traverse()])
    assert [reason for _, reason in result.rejected_ops] == [
        "InvalidOps: sealed with a key that is not the database's key in the entry's past"
    ]


def test_a_transaction_larger_than_one_entry_is_sealed_entry_by_entry() -> None:
    owner, reader = Node(access="owned"), Node(access="owned")
    run(owner.session, "CREATE DATABASE shop ENCRYPTION = 'Y'")
    run(owner.session, "USE shop")
    run(owner.session, "CREATE TABLE notes (id INT PRIMARY KEY, body LONGTEXT)")
    run(owner.session, f"GRANT SELECT ON shop.* TO '{who(reader)}'")
    source = owner.db("shop")
    before = len(source.log)
    run(owner.session, "BEGIN")
    for i in range(5):  # 5 MB of new rows: several entries
        run(owner.session, f"INSERT INTO notes VALUES ({i}, CONCAT('{SECRET}', REPEAT('x', 1000000)))")
    run(owner.session, "COMMIT")
    assert len(source.log) - before == 5
    assert SECRET.encode() not in b"".join(e.block for e in source.log.traverse())  # every part sealed
    replica = reader.backend.registry.create("shop")
    push(source, replica)
    run(reader.session, "USE shop")
    assert rows(reader.session, "SELECT COUNT(*), MIN(LEFT(body, 20)) FROM notes") == [(5, SECRET)]
    assert replica.state_hash() == source.state_hash()
