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
        for a, b in edges:
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
    net = Network(100, links_per_node=8, loss=loss, seed=7)
    net.publish("n0", b"entry-1")
    net.run(until=1.0)
    assert len(net.delivered) == 100, f"{100 - len(net.delivered)} nodes missed it with loss {loss}"
    latest = max(net.delivered.values())
    assert latest < 1.0
    # Duplicates stop at the first hop and each id is re-announced once: about one message per edge.
    edges = sum(len(n.topics["db"].peers) for n in net.nodes.values())
    assert net.messages <= 2 * edges


def test_duplicates_are_not_forwarded_and_ids_expire() -> None:
    node = GossipState(degree=2, seen_ttl=10.0, rng=random.Random(1))
    node.add_peer("a", {"db"})
    node.add_peer("b", {"db"})
    node.add_peer("c", {"db"})
    new, out = node.on_publish("a", "db", b"x", b"p", now=0.0)
    assert new
    assert {s.peer for s in out} == {"b", "c"}  # never back to the sender
    assert {s.kind for s in out if s.peer in node.topics["db"].mesh} <= {"publish"}
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


def test_mesh_is_refilled_when_a_mesh_peer_leaves() -> None:
    node = GossipState(degree=2, rng=random.Random(4))
    for peer in "abcd":
        node.add_peer(peer, {"db"})
    mesh = set(node.topics["db"].mesh)
    gone = sorted(mesh)[0]
    node.remove_peer(gone)
    assert len(node.topics["db"].mesh) == 2
    assert gone not in node.topics["db"].mesh
