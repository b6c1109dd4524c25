"""mDNS discovery (``p2pdb start --lan``) between nodes in network namespaces (issue 5).

mDNS runs only inside namespaces the test creates, never on the machine's interfaces (DESIGN §5).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from p2pdb.net.discovery import announced_addresses
from tests.integration.cluster import wait_until
from tests.integration.netns import NsNode, lab, unavailable


def rows(node: NsNode) -> list[tuple[str, ...]]:
    return node.query("SELECT * FROM t ORDER BY id", "lan")


def databases(node: NsNode) -> set[str]:
    return {r[0] for r in node.query("SHOW DATABASES")}


@pytest.mark.netns
def test_lan_nodes_discover_each_other_and_outsiders_stay_out(tmp_path: Path) -> None:
    reason = unavailable(("ip", "mariadb"))
    if reason:
        pytest.skip(reason)
    key, other_key = tmp_path / "network.key", tmp_path / "other.key"
    key.write_text("11" * 32)
    other_key.write_text("22" * 32)
    with lab(4, tmp_path) as net:
        # Three members, no bootstrap; an outsider with another key that also dials a member.
        members = net.start([["--lan", "--network-key", str(key)]] * 3)
        (outsider,) = net.start(
            [["--lan", "--network-key", str(other_key), "--bootstrap", members[0].p2p_address]]
        )
        members[0].query("CREATE DATABASE lan")
        members[0].query("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", "lan")
        members[0].query("INSERT INTO t VALUES (1, 'found you')", "lan")
        outsider.query("CREATE DATABASE secret")

        wait_until(
            lambda: all(rows(n) == [("1", "found you")] for n in members),
            30,
            "the write on every member",
            0.3,
        )
        ids = {n.peer_id for n in members}
        wait_until(lambda: all(n.peer_ids() == ids - {n.peer_id} for n in members), 20, "a full mesh", 0.3)

        time.sleep(2.5)  # more than one sync interval: the outsider had its chances
        assert "lan" not in databases(outsider)
        assert all("secret" not in databases(n) for n in members)
        assert outsider.peer_ids() == set()
        for member in members:
            found = member.log()
            assert all(f"mDNS: found peer {i}" in found for i in ids - {member.peer_id})
            assert f"mDNS: found peer {outsider.peer_id}" not in found  # another network: ignored
        assert "handshake with" in outsider.log()  # the outsider's own dial is refused


def test_only_lan_addresses_are_announced() -> None:
    assert announced_addresses("127.0.0.1") == []
    assert announced_addresses("::1") == []
    assert announced_addresses("localhost") == []
    assert announced_addresses("10.251.0.7") == ["10.251.0.7"]
    assert all(not a.startswith("127.") for a in announced_addresses("0.0.0.0"))
