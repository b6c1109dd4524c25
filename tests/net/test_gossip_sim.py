"""The gossip state machine in a simulated network on virtual time: no sockets, no sleeping."""

from __future__ import annotations

import heapq
import random

import pytest

from p2pdb.net.gossip import GossipState, Send


class Network:
    """N gossip nodes on a random graph; links drop messages with probability ``loss`` and take
    1-20 ms; runs on a virtual clock."""

    def __init__(self, n: int, links_per_node: int, loss: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.nodes = {f"n{i}": GossipState(degree=6, rng=random.Random(seed + i)) for i in range(n)}
        names = sorted(self.nodes)
        edges: set[tuple[str, str]] = set()
        for index, name in enumerate(names):  # a ring keeps the graph connected, then random links
            edges.add(tuple(sorted((name, names[(index + 1) % n]))))  # type: ignore[arg-type]
            for other in self.rng.sample(names, links_per_node):
                if other != name:
                    edges.add(tuple(sorted((name, other))))  # type: ignore[arg-type]
        for a, b in sorted(edges):  # in a fixed order: a run depends on its seed alone
            self.nodes[a].add_peer(b, {"db"})
            self.nodes[b].add_peer(a, {"db"})
        self.loss = loss
        self.now = 0.0
        self.queue: list[tuple[float, int, str, Send]] = []
        self.counter = 0
        self.delivered: dict[str, float] = {}
        self.messages = 0

    def send(self, sender: str, sends: list[Send]) -> None:
        for send in sends:
            self.messages += 1
            if self.rng.random() < self.loss:
                continue
            self.counter += 1
            heapq.heappush(self.queue, (self.now + self.rng.uniform(0.001, 0.02), self.counter, sender, send))

    def publish(self, origin: str, msg_id: bytes) -> None:
        self.delivered[origin] = self.now
        self.send(origin, self.nodes[origin].publish("db", msg_id, b"payload", self.now))

    def run(self, until: float, heartbeat: float = 0.1) -> None:
        next_tick = heartbeat
        while self.now < until:
            if not self.queue or self.queue[0][0] > next_tick:
                self.now = next_tick
                next_tick += heartbeat
                for name, node in self.nodes.items():
                    self.send(name, node.tick(self.now))
                continue
            self.now, _, sender, send = heapq.heappop(self.queue)
            node = self.nodes[send.peer]
            if send.kind == "publish":
                new, out = node.on_publish(sender, send.topic, send.ids[0], send.payload, self.now)
                if new:
                    self.delivered.setdefault(send.peer, self.now)
                self.send(send.peer, out)
            elif send.kind == "ihave":
                self.send(send.peer, node.on_ihave(sender, send.topic, send.ids, self.now))
            else:
                self.send(send.peer, node.on_iwant(sender, send.topic, send.ids))


@pytest.mark.parametrize("loss", [0.0, 0.05, 0.2])
def test_one_message_reaches_all_hundred_nodes_within_a_virtual_second(loss: float) -> None:
    """Over 20 random networks: every node has the message within a virtual second (with 20% of
    messages lost: in at least 18 of the 20 networks, and within two seconds in all of them)."""
    late = 0
    for seed in range(20):
        net = Network(100, links_per_node=8, loss=loss, seed=seed)
        net.publish("n0", b"entry-1")
        net.run(until=1.0)
        if len(net.delivered) < 100:
            late += 1
            net.run(until=2.0)
        assert len(net.delivered) == 100, f"{100 - len(net.delivered)} nodes missed it with loss {loss}"
        # Duplicates stop at the first hop and each id is re-announced once: about one message per edge.
        edges = sum(len(n.topics["db"].peers) for n in net.nodes.values())
        assert net.messages <= 2 * edges
    assert late <= (2 if loss >= 0.2 else 0)


def test_duplicates_are_not_forwarded_and_ids_expire() -> None:
    node = GossipState(degree=2, seen_ttl=10.0, rng=random.Random(1))
    node.add_peer("a", {"db"})
    node.add_peer("b", {"db"})
    node.add_peer("c", {"db"})
    new, out = node.on_publish("a", "db", b"x", b"p", now=0.0)
    assert new
    mesh = node.topics["db"].mesh
    assert {s.peer for s in out} == mesh - {"a"}  # the mesh, never back to the sender
    assert {s.kind for s in out} == {"publish"}
    # The heartbeat announces it to the peers not pushed to (and not the sender).
    announced = node.tick(now=0.2)
    assert {(s.peer, s.kind) for s in announced} == {(p, "ihave") for p in {"b", "c"} - mesh}
    again, out2 = node.on_publish("b", "db", b"x", b"p", now=1.0)
    assert not again and out2 == []
    assert node.tick(now=20.0) == []
    assert not node.seen(b"x")


def test_ihave_asks_once_and_iwant_serves_from_cache() -> None:
    a = GossipState(rng=random.Random(2))
    b = GossipState(rng=random.Random(3))
    a.add_peer("b", {"db"})
    b.add_peer("a", {"db"})
    a.publish("db", b"m", b"body", now=0.0)
    asks = b.on_ihave("a", "db", (b"m",), now=0.0)
    assert asks == [Send("a", "iwant", "db", (b"m",))]
    assert b.on_ihave("a", "db", (b"m",), now=0.1) == []  # already asked, not again so soon
    # The IWant was lost: the heartbeat asks again.
    assert Send("a", "iwant", "db", (b"m",)) in b.tick(now=0.3)
    (reply,) = a.on_iwant("b", "db", (b"m",))
    assert reply.kind == "publish" and reply.payload == b"body"


def test_messages_per_message_do_not_grow_with_the_number_of_peers() -> None:
    """A node with many peers pushes to its mesh and announces to at most ``degree`` others per
    heartbeat, in one IHave per peer for all the heartbeat's ids (it used to announce each id to
    every peer at once: O(peers) messages per write on every node)."""
    for peers in (10, 100, 1000):
        node = GossipState(degree=6, rng=random.Random(peers))
        for i in range(peers):
            node.add_peer(f"p{i}", {"db"})
        sends = []
        for m in range(20):
            sends += node.on_publish("p0", "db", b"m%d" % m, b"payload", now=0.01 * m)[1]
        sends += node.tick(now=0.25)
        publishes = [s for s in sends if s.kind == "publish"]
        ihaves = [s for s in sends if s.kind == "ihave"]
        assert len(publishes) <= 20 * 6
        assert len({s.peer for s in ihaves}) <= 20 * 6 and len(ihaves) <= 20 * 6
        # Each id is announced to at most degree peers, none of which had it pushed or sent it.
        for m in range(20):
            told = [s.peer for s in ihaves if b"m%d" % m in s.ids]
            pushed = {s.peer for s in publishes if s.ids == (b"m%d" % m,)}
            assert len(told) <= 6 and not (set(told) & (pushed | {"p0"}))
        assert node.tick(now=0.5) == []  # announced once


def test_pushes_reach_nodes_that_joined_late_through_busy_bootstrap_nodes() -> None:
    """Nodes join one after the other, each linking to the three first nodes (bootstrap addresses)
    and three random earlier ones. Each mesh is a random subset of the node's peers, so pushes
    alone (no announcement, no round trip) reach nearly every node before the first heartbeat. A
    mesh of each node's first peers reached about half of them (the first nodes' meshes were full
    before the others came)."""
    missed = 0
    for seed in range(20):
        net = Network(2, links_per_node=1, loss=0.0, seed=seed)
        rng = random.Random(seed)
        net.nodes = {}
        names: list[str] = []
        for i in range(60):
            name = f"n{i}"
            net.nodes[name] = GossipState(degree=6, rng=random.Random(seed * 1000 + i))
            for other in sorted(set(names[:3]) | set(rng.sample(names, min(3, len(names))))):
                net.nodes[name].add_peer(other, {"db"})
                net.nodes[other].add_peer(name, {"db"})
            names.append(name)
        net.publish("n59", b"x")
        net.run(until=0.09)  # the first heartbeat is at 0.1
        missed += 60 - len(net.delivered)
    assert missed <= 0.05 * 20 * 60


def test_mesh_is_refilled_when_a_mesh_peer_leaves() -> None:
    node = GossipState(degree=2, rng=random.Random(4))
    for peer in "abcd":
        node.add_peer(peer, {"db"})
    mesh = set(node.topics["db"].mesh)
    gone = sorted(mesh)[0]
    node.remove_peer(gone)
    assert len(node.topics["db"].mesh) == 2
    assert gone not in node.topics["db"].mesh
