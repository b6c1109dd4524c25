"""How fast a partition heals: N entries written on each side while apart, then the time until both
sides hold all 2N (issue 10, "partitions heal in bulk").

Two nodes (replicators with their databases, in this process) talk only through relays: small
userspace TCP proxies that add a one-way delay (the kernel here has no netem) and that cut every
connection while the partition lasts. Each node announces its relay's address, so nothing bypasses it.

    python bench/partition_bench.py                 # 10,000 entries per side, 0 ms and 50 ms
    python bench/partition_bench.py --entries 2000 --delays 0 20

Prints, per delay: heal time, entries/s, Wants sent (a heal that walks one entry per round trip sends
thousands), and the target (< 2 s on loopback, < 5 s at 50 ms). For loss, see
tests/integration/test_partitions.py (iptables in network namespaces, root only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable

import apsw

from p2pdb.log import DEFAULT_NETWORK_ID, Identity
from p2pdb.net.replicator import Options, Replicator
from p2pdb.store.registry import Registry


class Relay:
    """A TCP proxy to ``target`` adding ``delay`` seconds one way; ``cut()`` closes everything and
    refuses new connections until ``heal()``."""

    def __init__(self, target: str, delay: float) -> None:
        self.target = target
        self.delay = delay
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        host, _, port = self.target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        task = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                await queue.put((time.monotonic() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put((0.0, b""))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            writer.close()

    def cut(self) -> None:
        self.open = False
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    def heal(self) -> None:
        self.open = True


def write(replicator: Replicator, sql: str) -> None:
    db = replicator.registry.get("app") or replicator.registry.create("app")

    def fn(conn: apsw.Connection) -> None:
        conn.execute(sql)

    db.write(fn)


def count(replicator: Replicator) -> int:
    db = replicator.registry.get("app")
    if db is None:
        return -1
    try:
        return int(db.query("SELECT count(*) FROM t")[0][0])
    except apsw.SQLError:
        return -1


async def until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return False


async def heal_once(entries: int, delay: float) -> dict[str, float]:
    options = Options(sync_interval=1.0)
    a_id, b_id = Identity.generate(), Identity.generate()
    a = Replicator(
        a_id, Registry(a_id, None), host="127.0.0.1", port=0, network_id=DEFAULT_NETWORK_ID, options=options
    )
    await a.start()
    to_a = Relay(a.address, delay)
    a.announce = [await to_a.start()]
    b = Replicator(
        b_id, Registry(b_id, None), host="127.0.0.1", port=0, network_id=DEFAULT_NETWORK_ID, options=options
    )
    await b.start()
    to_b = Relay(b.address, delay)
    b.announce = [await to_b.start()]
    b.bootstrap.append(a.announce[0])
    try:
        write(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, side TEXT)")
        if not await until(lambda: count(b) == 0, 30):
            raise RuntimeError("the nodes did not connect")
        to_a.cut()
        to_b.cut()
        await until(lambda: not a.peers and not b.peers, 30)
        for i in range(entries):
            write(a, f"INSERT INTO t VALUES ({i}, 'a')")
            write(b, f"INSERT INTO t VALUES ({entries + i}, 'b')")
        wants = a.counters["wants_sent"] + b.counters["wants_sent"]
        start = time.monotonic()
        to_a.heal()
        to_b.heal()
        healed = await until(lambda: count(a) == 2 * entries and count(b) == 2 * entries, 300)
        took = time.monotonic() - start
        if not healed:
            raise RuntimeError(f"no heal in 300 s ({count(a)}, {count(b)} rows)")
        return {
            "seconds": took,
            "wants": a.counters["wants_sent"] + b.counters["wants_sent"] - wants,
        }
    finally:
        for relay in (to_a, to_b):
            relay.cut()
        await b.stop()
        await a.stop()
        a.registry.close()
        b.registry.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000, help="entries written on each side")
    parser.add_argument("--delays", type=float, nargs="+", default=[0.0, 50.0], help="one-way delays (ms)")
    args = parser.parse_args()
    print(f"partition heal: {args.entries:,} entries written on each side while apart")
    for delay in args.delays:
        result = await heal_once(args.entries, delay / 1000)
        target = 2.0 if delay == 0 else 5.0
        rate = 2 * args.entries / result["seconds"]
        verdict = "OK" if result["seconds"] < target else "ABOVE TARGET"
        print(
            f"  delay {delay:5.0f} ms   heal {result['seconds']:6.2f} s   {rate:9,.0f} entries/s"
            f"   Wants {result['wants']:6.0f}   target < {target:.0f} s  {verdict}"
        )


if __name__ == "__main__":
    asyncio.run(main())
