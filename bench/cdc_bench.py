"""Benchmark of the HTTP change feed: throughput to one NDJSON client, change-to-event latency remotely.

Run: ``python bench/cdc_bench.py`` (``--changes 20000 --writes 500`` for a quick run).

Nodes run in child processes (this script in ``--serve`` mode: a Node plus its HttpApi on 127.0.0.1,
port 0, uvloop as ``p2pdb start`` uses), so the server and the client never share a core's event loop.

1. Throughput: node A is prefilled with CHANGES changes (100 inserted rows per commit); one NDJSON
   client in this process streams them all from id 0 and counts events per second. Baseline, in the
   same run: node A reading and encoding the same pages in process (``ChangeFeed.read`` +
   ``to_json`` + JSON encoding, no HTTP), so the ratio is the cost of the HTTP path.
   Target: HTTP >= 0.8 x the in-process rate (the feed read itself is the store's cost).
2. Latency: node B bootstraps from A. This process streams B's feed, then inserts WRITES rows into A
   over MySQL (PyMySQL, one autocommit INSERT each, RATE per second), each row carrying the wall-clock
   time just before its INSERT was sent; an event's latency is its arrival time on B's feed minus that
   time: MySQL commit on A, gossip to B, verification and apply on B, feed read and HTTP.
   Target: p99 <= 100 ms. B replicates only ``lat`` (not the prefilled database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pymysql

RATIO_TARGET = 0.8
P99_TARGET_MS = 100.0
READY = "ready "


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW"


# -- child process: one node with its HTTP API ------------------------------------------------------


async def serve(data_dir: Path, prefill: int, bootstrap: str | None, replicate: str | None) -> None:
    from p2pdb.config import Config
    from p2pdb.http import HttpApi
    from p2pdb.node import Node

    options: dict[str, Any] = {"mysql_port": 0, "p2p_port": 0}
    if bootstrap:
        options["bootstrap"] = [bootstrap]
    if replicate:
        options["replicate"] = [replicate]
    node = Node(Config.load(data_dir, options))
    await node.start()
    baseline = prefill_feed(node, prefill) if prefill else 0.0
    api = HttpApi(node, port=0)
    await api.start()
    assert node.mysql is not None
    info = {"mysql": node.mysql.port, "p2p": node.replicator.address, "http": api.port, "baseline": baseline}
    print(READY + json.dumps(info), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await api.stop()
    await node.stop()


def prefill_feed(node: Any, count: int) -> float:
    """Write ``count`` changes to database ``bench``; return the in-process read+encode rate."""
    db = node.registry.create("bench")
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, ts REAL)"))
    for first in range(1, count, 100):
        rows = [(i, i * 7, f"value {i:08d}", 0.0) for i in range(first, min(first + 100, count))]
        db.write(lambda c, rows=rows: c.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows))
    encode = msgspec.json.Encoder().encode
    start = time.perf_counter()
    after, events = 0, 0
    while page := db.changes.read(after, limit=500):
        b"".join(encode(c.to_json()) + b"\n" for c in page)
        events += len(page)
        after = page[-1].id
    return events / (time.perf_counter() - start)


# -- parent: processes and measurements --------------------------------------------------------------


class Child:
    def __init__(self, data_dir: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(data_dir), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(READY):
            self.stop()
            raise RuntimeError(f"node did not start: {line!r}")
        self.info: dict[str, Any] = json.loads(line[len(READY) :])

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


async def throughput(http_port: int, expected: int) -> float:
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.perf_counter()
        response = await session.get(f"http://127.0.0.1:{http_port}/v1/changes", params={"db": "bench"})
        seen, tail = 0, b""
        async for chunk in response.content.iter_any():
            seen += chunk.count(b"\n")
            tail = (tail + chunk)[-4096:]
            if seen >= expected:
                break
        elapsed = time.perf_counter() - start
        response.close()
    last = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])
    assert last["id"] == expected, last["id"]
    return expected / elapsed


async def latency(a: Child, b: Child, writes: int, rate: float) -> list[float]:
    conn = pymysql.connect(host="127.0.0.1", port=a.info["mysql"], user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE lat")
        cur.execute("USE lat")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, ts DOUBLE)")
    url = f"http://127.0.0.1:{b.info['http']}"
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async with asyncio.timeout(30):
            while (await session.get("/v1/changes", params={"db": "lat", "from": "0"})).status == 404:
                await asyncio.sleep(0.05)  # until B has the database
        response = await session.get("/v1/changes", params={"db": "lat"})

        def write() -> None:
            with conn.cursor() as cur:
                for i in range(writes):
                    due = start + i / rate
                    if (pause := due - time.perf_counter()) > 0:
                        time.sleep(pause)
                    cur.execute("INSERT INTO t VALUES (%s, %s)", (i, time.time()))

        start = time.perf_counter()
        writer = threading.Thread(target=write)
        writer.start()
        samples: list[float] = []
        async with asyncio.timeout(60 + writes / rate):
            while len(samples) < writes:
                line = await response.content.readline()
                if not line.strip():
                    continue
                event = json.loads(line)
                if event["op"] == "insert":
                    samples.append((time.time() - event["row"]["ts"]) * 1000)
        writer.join(30)
        response.close()
    conn.close()
    return samples


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=500.0, help="inserts per second on node A")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prefill", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--replicate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        import uvloop

        uvloop.run(serve(args.serve, args.prefill, args.bootstrap, args.replicate))
        return

    with tempfile.TemporaryDirectory() as tmp:
        a = Child(Path(tmp) / "a", "--prefill", str(args.changes))
        b: Child | None = None
        try:
            rate = asyncio.run(throughput(a.info["http"], args.changes))
            base = a.info["baseline"]
            print(f"feed throughput, one NDJSON client, {args.changes:,} changes:")
            print(f"  HTTP stream      {rate:>10,.0f} events/s")
            print(f"  in-process read  {base:>10,.0f} events/s  (baseline)")
            print(f"  HTTP/baseline    {rate / base:>10.2f}  ({verdict(rate / base >= RATIO_TARGET)})")
            # B starts only now and replicates only `lat`: copying the prefilled database would
            # compete for the CPU with what is measured.
            b = Child(Path(tmp) / "b", "--bootstrap", a.info["p2p"], "--replicate", "lat")
            samples = asyncio.run(latency(a, b, args.writes, args.rate))
            p50, p99 = percentile(samples, 50), percentile(samples, 99)
            print(f"change-to-event latency on a remote node, {args.writes:,} inserts at {args.rate:g}/s:")
            print(f"  p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {max(samples):7.2f} ms", end="")
            print(f"  ({verdict(p99 <= P99_TARGET_MS)})")
        finally:
            if b is not None:
                b.stop()
            a.stop()


if __name__ == "__main__":
    main()
