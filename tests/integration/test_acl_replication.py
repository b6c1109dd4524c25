"""Access rules in the log between real node processes (issue 12, docs/security.md): an outsider's
writes are refused everywhere, a column grant lets a writer change one column and not another, a
forged entry a modified peer sends anyway is rejected and recorded by every replica without cutting
the peer off, and a node that joins after a revocation replays the history to the same state."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from p2pdb.log import Identity
from p2pdb.store.registry import Registry
from tests.integration.cluster import NodeProcess, wait_until

OWNED = ["--new-database-access", "owned"]


def _peer_id(node: NodeProcess) -> str:
    from p2pdb.log.identity import peer_id

    return peer_id(Identity.load(node.data_dir / "identity.key").public_key)


def _error(node: NodeProcess, sql: str, db: str) -> int:
    with pytest.raises(pymysql.err.MySQLError) as caught:
        node.query(sql, db)
    return int(caught.value.args[0])


def _forge(data_dir: Path, db: str, sql: str) -> None:
    """Write ``sql`` into a stopped node's replica as a modified peer would: skipping the ACL check,
    signed with the node's real key."""
    identity = Identity.load(data_dir / "identity.key")
    registry = Registry(identity, data_dir)
    database = registry.get(db)
    assert database is not None
    import p2pdb.store.database as database_module

    real = database_module.check_row
    database_module.check_row = lambda *a, **k: None  # type: ignore[assignment]
    try:
        entry = database.write(lambda conn: conn.execute(sql)).entry
        assert entry is not None
    finally:
        database_module.check_row = real  # type: ignore[assignment]
        registry.close()


def test_acl_rules_are_enforced_by_every_replica(tmp_path: Path) -> None:
    owner = NodeProcess(tmp_path / "owner", OWNED).start()
    nodes = [owner]
    try:
        writer = NodeProcess(tmp_path / "writer", [*OWNED, "--bootstrap", owner.p2p_address]).start()
        outsider = NodeProcess(tmp_path / "outsider", [*OWNED, "--bootstrap", owner.p2p_address]).start()
        nodes += [writer, outsider]
        owner.query("CREATE DATABASE shop")
        owner.query("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price INT)", "shop")
        owner.query("INSERT INTO items VALUES (1, 'pen', 3)", "shop")
        owner.query("CREATE DATABASE pub")  # opened to anyone: the outsider keeps writing there
        owner.query("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)", "pub")
        owner.query("GRANT ALL ON pub.* TO '*'")
        owner.query(f"GRANT UPDATE (price) ON shop.items TO '{_peer_id(writer)}'")
        for node in (writer, outsider):
            wait_until(lambda n=node: n.query("SELECT price FROM items", "shop") == [(3,)], 20, "items")
            wait_until(lambda n=node: n.query("SHOW TABLES", "pub") == [("notes",)], 20, "pub")

        # The column grant: price yes, name no (1143), insert no (1142); the outsider: nothing.
        wait_until(
            lambda: _peer_id(writer) in repr(writer.query(f"SHOW GRANTS FOR '{_peer_id(writer)}'")),
            20,
            "grant",
        )
        writer.query("UPDATE items SET price = 4 WHERE id = 1", "shop")
        assert _error(writer, "UPDATE items SET name = 'quill' WHERE id = 1", "shop") == 1143
        assert _error(writer, "INSERT INTO items VALUES (2, 'ink', 5)", "shop") == 1142
        assert _error(outsider, "INSERT INTO items VALUES (3, 'nib', 1)", "shop") == 1142
        owner.query("CREATE TABLE seq (id INT AUTO_INCREMENT PRIMARY KEY, v INT)", "shop")
        wait_until(lambda: ("seq",) in outsider.query("SHOW TABLES", "shop"), 20, "seq on the outsider")
        assert _error(outsider, "INSERT INTO seq (v) VALUES (1)", "shop") == 1142  # at once, no id wait
        wait_until(lambda: owner.query("SELECT price FROM items", "shop") == [(4,)], 20, "writer's price")

        # A modified outsider sends a signed entry anyway: every replica rejects and records it.
        assert outsider.stop() == 0
        _forge(outsider.data_dir, "shop", "INSERT INTO items VALUES (66, 'forged', 0)")
        outsider.start()
        for node in (owner, writer):
            wait_until(lambda n=node: "access denied: INSERT" in n.log(), 30, "the forged entry rejected")
            assert node.query("SELECT id FROM items ORDER BY id", "shop") == [(1,)]
        assert outsider.query("SELECT id FROM items ORDER BY id", "shop") == [(1,), (66,)]  # its own replica
        # ...and the outsider is not cut off: its writes to the open database still arrive.
        outsider.query("INSERT INTO notes VALUES (1, 'still here')", "pub")
        wait_until(lambda: owner.query("SELECT body FROM notes", "pub") == [("still here",)], 30, "pub note")

        # Revocation, then a fresh node replays everything to the same state.
        owner.query(f"REVOKE UPDATE (price) ON shop.items FROM '{_peer_id(writer)}'")
        wait_until(
            lambda: _error(writer, "UPDATE items SET price = 9 WHERE id = 1", "shop") == 1142,
            20,
            "revocation",
        )
        late = NodeProcess(tmp_path / "late", [*OWNED, "--bootstrap", owner.p2p_address]).start()
        nodes.append(late)
        wait_until(
            lambda: late.query("SELECT id, name, price FROM items", "shop") == [(1, "pen", 4)], 30, "late"
        )
        assert "access denied: INSERT" in late.log()  # the forged entry: rejected there too
        assert late.query(f"SHOW GRANTS FOR '{_peer_id(writer)}'") == owner.query(
            f"SHOW GRANTS FOR '{_peer_id(writer)}'"
        )
        assert _error(late, "INSERT INTO items VALUES (4, 'x', 1)", "shop") == 1142
    finally:
        codes = [node.stop() for node in nodes]
        assert all(code == 0 for code in codes), codes


def test_grant_revoke_and_acl_from_the_command_line(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    node = NodeProcess(tmp_path / "n", OWNED).start()
    try:
        node.query("CREATE DATABASE shop")
        node.query("CREATE TABLE items (id INT PRIMARY KEY, price INT)", "shop")
        other = "12D3KooWBSB5Ni55zkoQ7Dns4a3UpYQKwyCMMAmuCoG43fK44gKF"

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "p2pdb", *args, "--data-dir", str(node.data_dir)],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip

        assert cli("grant", "INSERT, UPDATE (price)", "shop.items", other).returncode == 0
        shown = json.loads(cli("acl", "shop", "--json").stdout)
        mine = [(e["privilege"], e["table"], e["column"]) for e in shown if e["peer"] == other]
        assert sorted(mine, key=repr) == [("INSERT", "items", None), ("UPDATE", "items", "price")]
        assert [e["peer"] for e in shown if e["owner"]] == [_peer_id(node)] * len(
            [e for e in shown if e["owner"]]
        )
        assert cli("revoke", "INSERT", "shop.items", other).returncode == 0
        shown = json.loads(cli("acl", "shop", "--json").stdout)
        assert [(e["privilege"], e["column"]) for e in shown if e["peer"] == other] == [("UPDATE", "price")]
        bad = cli("grant", "INSERT; DROP TABLE x", "shop.items", other)
        assert bad.returncode != 0 and "privileges like" in bad.stderr
        bad = cli("grant", "INSERT", "shop.items", "not-a-peer")
        assert bad.returncode != 0 and "not a peer id" in bad.stderr
    finally:
        assert node.stop() == 0


def test_a_blind_relay_carries_an_encrypted_database_between_readers(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    secret = "the-launch-code-4471"

    def entries(node: NodeProcess) -> int:
        out = subprocess.run(
            [sys.executable, "-m", "p2pdb", "status", "--json", "--data-dir", str(node.data_dir)],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return sum(db["entries"] for db in json.loads(out.stdout)["databases"] if db["name"] == "vault")

    owner = NodeProcess(tmp_path / "owner", OWNED).start()
    relay = NodeProcess(tmp_path / "relay", [*OWNED, "--bootstrap", owner.p2p_address]).start()
    nodes = [owner, relay]
    try:
        subprocess.run(
            [sys.executable, "-m", "p2pdb", "init", "--data-dir", str(tmp_path / "reader")],
            capture_output=True, timeout=30, check=True,
        )  # fmt: skip
        reader_id = _peer_id(NodeProcess(tmp_path / "reader"))
        owner.query("CREATE DATABASE vault ENCRYPTION = 'Y'")
        owner.query("CREATE TABLE codes (id INT PRIMARY KEY, code TEXT)", "vault")
        owner.query(f"INSERT INTO codes VALUES (1, '{secret}')", "vault")
        owner.query(f"GRANT SELECT, INSERT ON vault.* TO '{reader_id}'")
        wait_until(lambda: entries(relay) == entries(owner) > 0, 30, "the relay to hold every entry")
        assert relay.query("SHOW TABLES", "vault") == []  # it holds the log, not the data
        assert owner.stop() == 0  # from now on only the relay has the database

        reader = NodeProcess(tmp_path / "reader", [*OWNED, "--bootstrap", relay.p2p_address]).start()
        nodes.append(reader)
        wait_until(lambda: reader.query("SELECT code FROM codes", "vault") == [(secret,)], 30, "the reader")
        reader.query("INSERT INTO codes VALUES (2, 'from the reader')", "vault")
        wait_until(lambda: entries(relay) == entries(reader), 30, "the reader's entry on the relay")
        assert relay.stop() == 0
        assert reader.stop() == 0
        for node in (relay, reader):  # both replay their log to exactly what they store
            done = subprocess.run(
                [sys.executable, "-m", "p2pdb", "verify", "--data-dir", str(node.data_dir), "vault"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
        for path in (tmp_path / "relay").rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert secret.encode() not in data and b"from the reader" not in data, path
    finally:
        for node in nodes:
            node.stop()
