"""Many idle connections: no thread or task per connection, and active clients stay fast.

The full 10,000-connection check is ``python bench/protocol_bench.py --idle 10000`` (client in another
process, for the file-descriptor limit); here 2,000 keep the suite quick.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time

import pymysql
from conftest import ServerThread

IDLE = 2000


async def _login(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    header = await reader.readexactly(4)
    await reader.readexactly(int.from_bytes(header[:3], "little"))
    caps = 0x200 | 0x8000 | 0x80000 | 1
    body = struct.pack("<IIB23x", caps, 1 << 24, 45) + b"root\x00\x00mysql_native_password\x00"
    writer.write(struct.pack("<I", len(body) | (1 << 24)) + body)
    header = await reader.readexactly(4)
    ok = await reader.readexactly(int.from_bytes(header[:3], "little"))
    assert ok[0] == 0, ok
    return writer


async def test_thousands_of_idle_connections(server: ServerThread) -> None:
    threads_before = threading.active_count()
    before = server.connection_count
    writers: list[asyncio.StreamWriter] = []
    sem = asyncio.Semaphore(200)

    async def open_one() -> None:
        async with sem:
            writers.append(await _login(server.port))

    try:
        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(IDLE))), 60)
        assert server.connection_count == before + IDLE
        assert threading.active_count() == threads_before  # nothing per connection
        tasks = server.run(lambda: sum(1 for t in asyncio.all_tasks(server.loop) if not t.done()))
        assert tasks < 5, f"{tasks} tasks alive for idle connections"

        def timed_queries() -> float:
            conn = pymysql.connect(host="127.0.0.1", port=server.port, user="root", read_timeout=10)
            start = time.perf_counter()
            with conn.cursor() as cur:
                for _ in range(200):
                    cur.execute("SELECT 1")
            elapsed = time.perf_counter() - start
            conn.close()
            return elapsed

        elapsed = await asyncio.to_thread(timed_queries)
        assert elapsed < 2.0, f"200 queries took {elapsed:.2f}s with {IDLE} idle connections"
    finally:
        for w in writers:
            w.close()
    deadline = time.monotonic() + 10
    while server.connection_count > before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert server.connection_count <= before
