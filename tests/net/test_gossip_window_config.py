"""The ``gossip_window`` configuration key: checked at load, handed to the replicator in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pdb.config import Config
from p2pdb.node import Node


@pytest.mark.parametrize("value", [-1, 1001])
def test_a_gossip_window_out_of_range_is_refused(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError, match="gossip_window"):
        Config.load(tmp_path, {"gossip_window": value})


async def test_the_node_gossips_with_the_configured_window(tmp_path: Path) -> None:
    assert Config.load(tmp_path, {}).gossip_window == 10.0
    node = Node(Config.load(tmp_path, {"mysql_port": 0, "p2p_port": 0, "gossip_window": 25}))
    await node.start()
    try:
        assert node.replicator is not None and node.replicator.options.gossip_window == 0.025
    finally:
        await node.stop()
