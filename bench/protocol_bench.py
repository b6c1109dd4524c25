"""Benchmark of the MySQL protocol layer (``p2pdb.sql.protocol``) over a trivial in-memory backend.

    python bench/protocol_bench.py [--mode all|micro|pymysql|aiomysql|idle] [--queries N]
                                   [--conns C] [--procs P] [--idle N] [--loop uvloop|asyncio]

- ``micro``: the layer alone, in process, without sockets: a COM_QUERY / COM_STMT_EXECUTE packet is
  fed to a connection and the reply written to a fake transport. Baseline in the same run: the bare
  backend call. Target: well under 40 us per point select (the whole stack must do > 10k/s on a core).
- ``pymysql`` / ``aiomysql``: the server in its own process (pinned to CPU 0 when there are 2+ CPUs),
  clients in others; prints queries/s and the server's CPU time per query, read from /proc, which is
  the layer's real cost whatever the (slower, Python) clients manage. Baseline, alternated with it:
  a server on the same loop answering every query with the same pre-encoded bytes (sockets + loop
  cost). Best of ``--repeat`` runs.
- ``idle``: a client process holds N idle connections (default 10,000) while PyMySQL queries run;
  prints the server's memory per connection and the query rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from p2pdb.sql.protocol import (
    Account,
    Column,
    ConnectInfo,
    Credential,
    FieldType,
    MySQLServer,
    OkResult,
    Result,
    ResultSet,
    SqlValue,
)
from p2pdb.sql.protocol.connection import MySQLConnection
from p2pdb.sql.protocol.context import ServerContext, ServerOptions

POINT_SELECT = "SELECT id, k, c, pad FROM sbtest1 WHERE id={}"
ROWS = 10_000
COLUMNS = (
    Column("id", FieldType.LONG, table="sbtest1"),
    Column("k", FieldType.LONG, table="sbtest1"),
    Column("c", FieldType.STRING, table="sbtest1", length=480),
    Column("pad", FieldType.STRING, table="sbtest1", length=240),
)
PARAMS = (Column("?", FieldType.LONGLONG),)
TABLE = [(i, i * 7 % ROWS, f"{i:010d}-" * 10, f"{i:08d}-pad" * 5) for i in range(ROWS)]
_PREFIX = len(POINT_SELECT.format(""))


# --- the trivial backend -----------------------------------------------------------------------


class BenchStatement:
    params = PARAMS
    columns = COLUMNS

    async def execute(self, params: Sequence[SqlValue]) -> Sequence[Result]:
        return (ResultSet(COLUMNS, (TABLE[int(params[0]) % ROWS],)),)  # type: ignore[arg-type]

    def close(self) -> None:
        pass


class BenchSession:
    autocommit = True
    in_transaction = False

    async def execute(self, sql: str, *, multi: bool) -> Sequence[Result]:
        if sql.startswith("SELECT id, k, c, pad FROM sbtest1 WHERE id="):
            return (ResultSet(COLUMNS, (TABLE[int(sql[_PREFIX:]) % ROWS],)),)
        if sql.startswith("SELECT rows "):
            n = int(sql[12:])
            return (ResultSet(COLUMNS, TABLE[:n]),)
        return (OkResult(),)

    async def prepare(self, sql: str) -> BenchStatement:
        return BenchStatement()

    async def use(self, database: str) -> None:
        pass

    async def field_list(self, table: str, wildcard: str) -> Sequence[Column]:
        return COLUMNS

    async def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class BenchBackend:
    def __init__(self) -> None:
        self.root = Account(Credential.from_password(""))

    def lookup_account(self, user: str, peer_host: str) -> Account | None:
        return self.root if user == "root" else None

    async def open_session(self, info: ConnectInfo) -> BenchSession:
        return BenchSession()


# --- micro: the layer without sockets ----------------------------------------------------------


class NullTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.last = b""
        self.bytes = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def write(self, data: Any) -> None:
        self.last = bytes(data)
        self.bytes += len(data)

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def packet(payload: bytes, seq: int = 0) -> bytes:
    return struct.pack("<I", len(payload) | (seq << 24)) + payload


def best_us(fn: Any, n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


async def micro(n: int) -> None:
    ctx = ServerContext(BenchBackend(), ServerOptions(), None, None)
    conn = MySQLConnection(ctx)
    transport = NullTransport()
    conn.connection_made(transport)
    body = struct.pack("<IIB23x", 0x200 | 0x8000 | 0x80000 | 0x20000, 1 << 24, 45) + b"root\x00\x00"
    conn.data_received(packet(body + b"mysql_native_password\x00", 1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.last[4] == 0, transport.last
    session = BenchSession()

    def backend_only(k: int) -> None:
        for i in range(k):
            coro = session.execute(POINT_SELECT.format(i % ROWS), multi=False)
            with contextlib.suppress(StopIteration):
                coro.send(None)

    queries = [packet(b"\x03" + POINT_SELECT.format(i).encode()) for i in range(1000)]

    def text_query(k: int) -> None:
        feed = conn.data_received
        for i in range(k):
            feed(queries[i % 1000])

    conn.data_received(packet(b"\x16SELECT id, k, c, pad FROM sbtest1 WHERE id=?"))
    stmt_id = struct.unpack_from("<I", transport.last, 5)[0]
    executes = [
        packet(b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01\x08\x00" + struct.pack("<q", i))
        for i in range(1000)
    ]

    def prepared(k: int) -> None:
        feed = conn.data_received
        for i in range(k):
            feed(executes[i % 1000])

    hundred = packet(b"\x03SELECT rows 100")

    def hundred_rows(k: int) -> None:
        for _ in range(k):
            conn.data_received(hundred)

    base = best_us(backend_only, n)
    text = best_us(text_query, n)
    prep = best_us(prepared, n)
    rows = best_us(hundred_rows, max(1, n // 50))
    print(f"micro (in process, no sockets), best of 5 x {n}:")
    print(f"  backend call alone (baseline)     {base:7.2f} us")
    print(
        f"  COM_QUERY point select            {text:7.2f} us  (layer: {text - base:.2f} us, {1e6 / text:,.0f}/s)"
    )
    print(f"  COM_STMT_EXECUTE point select     {prep:7.2f} us  ({1e6 / prep:,.0f}/s)")
    print(f"  COM_QUERY 100 rows x 4 columns    {rows:7.2f} us  ({rows / 100:.2f} us/row)")
    conn.connection_lost(None)


# --- server process and clients ----------------------------------------------------------------


class CannedProtocol(asyncio.Protocol):
    """Baseline: the least a server can do per query on the same loop: answer each packet with
    pre-encoded bytes (the very reply our server sends for a point select; OK for anything but a
    SELECT). It only knows login, COM_QUERY and COM_QUIT, one packet per read."""

    handshake = b""
    reply = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.logged_in = False
        transport.write(self.handshake)

    def data_received(self, data: bytes) -> None:
        if not self.logged_in:
            self.logged_in = True
            self.transport.write(packet(b"\x00\x00\x00\x02\x00\x00\x00", 2))
        elif data[4] == 0x01:
            self.transport.close()
        elif data.startswith(b"\x03SELECT", 4):
            self.transport.write(self.reply)
        else:
            self.transport.write(packet(b"\x00\x00\x00\x02\x00\x00\x00", 1))


def _canned_bytes() -> tuple[bytes, bytes]:
    from p2pdb.sql.protocol.handshake import build_handshake
    from p2pdb.sql.protocol.resultset import Output, end_of_rows, shape_for, write_text_rows

    hs = build_handshake(
        server_version="8.0.36-baseline",
        connection_id=1,
        scramble=b"x" * 20,
        capabilities=0x200 | 0x8000 | 0x80000 | 0x20000,
        collation=45,
        status=2,
        plugin="mysql_native_password",
    )
    out = Output(1)
    meta, count = shape_for(COLUMNS).metadata(1, False, 2)
    out.add_framed(meta, count)
    write_text_rows(out, iter([TABLE[1]]), 4, 1 << 20)
    out.add(end_of_rows(False, 0, 2))
    return packet(hs), out.take()


def serve_main(loop_kind: str, baseline: bool) -> None:
    if loop_kind == "uvloop":
        import uvloop

        uvloop.install()

    async def main() -> None:
        if baseline:
            CannedProtocol.handshake, CannedProtocol.reply = _canned_bytes()
            loop = asyncio.get_running_loop()
            srv = await loop.create_server(CannedProtocol, "127.0.0.1", 0, backlog=4096)
            port = srv.sockets[0].getsockname()[1]
        else:
            server = MySQLServer(BenchBackend())
            await server.start("127.0.0.1", 0, backlog=4096)
            port = server.port
        print(f"PORT {port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class ServerProcess:
    def __init__(self, loop_kind: str, cpu: int | None, baseline: bool = False) -> None:
        cmd = [sys.executable, __file__, "--serve", "--loop", loop_kind] + (
            ["--baseline"] if baseline else []
        )
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _pin_client(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def pymysql_client(port: int, n: int, seed: int, cpu: int | None, results: Any = None) -> None:
    import pymysql

    _pin_client(cpu)
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    cur = conn.cursor()
    start = time.perf_counter()
    for i in range(n):
        cur.execute(POINT_SELECT.format((i * 7919 + seed) % ROWS))
        cur.fetchall()
    if results is not None:
        results.put(time.perf_counter() - start)
    conn.close()


def aiomysql_client(port: int, n: int, conns: int, cpu: int | None, results: Any = None) -> None:
    import aiomysql
    import uvloop

    _pin_client(cpu)

    async def one(conn: Any, k: int) -> None:
        async with conn.cursor() as cur:
            for i in range(k):
                await cur.execute(POINT_SELECT.format(i * 7919 % ROWS))
                await cur.fetchall()

    async def main() -> None:
        pool = [
            await aiomysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
            for _ in range(conns)
        ]
        start = time.perf_counter()
        await asyncio.gather(*(one(c, n // conns) for c in pool))
        if results is not None:
            results.put(time.perf_counter() - start)
        for c in pool:
            c.close()

    uvloop.run(main())


def run_clients(
    server: ServerProcess, target: Any, args_for: Any, procs: int, queries: int
) -> tuple[float, float]:
    """Run client processes against ``server``; return (queries/s, server CPU us per query).

    The rate is timed by the clients around their query loops; the server's CPU time covers the
    whole run, connection setup included (a small share at these query counts)."""
    cpus = sorted(os.sched_getaffinity(0))
    client_cpus = [c for c in cpus if c != cpus[0]] if len(cpus) > 1 else [None]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=target, args=(*args_for(server.port, i, client_cpus[i % len(client_cpus)]), results)
        )
        for i in range(procs)
    ]
    cpu0 = server.cpu_seconds()
    for w in workers:
        w.start()
    elapsed = max(results.get(timeout=600) for _ in workers)
    for w in workers:
        w.join(60)
    cpu = server.cpu_seconds() - cpu0
    return queries / elapsed, cpu / queries * 1e6


def idle_client(port: int, n: int, ready: Any, done: Any) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))

    async def login() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        header = await reader.readexactly(4)
        await reader.readexactly(int.from_bytes(header[:3], "little"))
        body = struct.pack("<IIB23x", 0x200 | 0x8000 | 0x80000, 1 << 24, 45) + b"root\x00\x00"
        body += b"mysql_native_password\x00"
        writer.write(packet(body, 1))
        header = await reader.readexactly(4)
        await reader.readexactly(int.from_bytes(header[:3], "little"))
        return writer

    async def main() -> None:
        sem = asyncio.Semaphore(500)

        async def one() -> asyncio.StreamWriter:
            async with sem:
                return await login()

        writers = await asyncio.gather(*(one() for _ in range(n)))
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, done.wait)
        for w in writers:
            w.close()

    asyncio.run(main())


def idle(server: ServerProcess, n: int, queries: int) -> None:
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    rss0 = server.rss_kib()
    start = time.perf_counter()
    client = ctx.Process(target=idle_client, args=(server.port, n, ready, done))
    client.start()
    if not ready.wait(300):
        raise RuntimeError("idle connections were not established")
    opened = time.perf_counter() - start
    rss = server.rss_kib()
    ctx_results = ctx.Queue()
    pymysql_client(server.port, queries, 0, None, ctx_results)
    elapsed = ctx_results.get(timeout=60)
    print(
        f"idle: {n:,} connections logged in after {opened:.1f}s; server RSS +{(rss - rss0) / 1024:.0f} MiB "
        f"({(rss - rss0) / n:.1f} KiB/connection); one PyMySQL client meanwhile: {queries / elapsed:,.0f} queries/s"
    )
    done.set()
    client.join(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", default="all", choices=["all", "micro", "pymysql", "aiomysql", "idle"])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--conns", type=int, default=32, help="aiomysql connections per client process")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"])
    parser.add_argument("--repeat", type=int, default=3, help="TCP runs per measure; the best is kept")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_main(args.loop, args.baseline)
        return
    print(f"python {sys.version.split()[0]}, loop {args.loop}, CPUs {sorted(os.sched_getaffinity(0))}")
    if args.mode in ("all", "micro"):
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(micro(args.queries))
        else:
            asyncio.run(micro(args.queries))
    if args.mode == "micro":
        return
    cpus = sorted(os.sched_getaffinity(0))
    pin = cpus[0] if len(cpus) > 1 else None
    q, procs, conns = args.queries, args.procs, args.conns
    runs: list[tuple[str, Any, Any, int, int]] = []
    if args.mode in ("all", "pymysql"):
        runs.append(("pymysql x1", pymysql_client, lambda port, i, c: (port, q, i, c), 1, q))
        per = q // procs
        runs.append(
            (f"pymysql x{procs}", pymysql_client, lambda port, i, c: (port, per, i, c), procs, per * procs)
        )
    if args.mode in ("all", "aiomysql"):
        per = q // procs
        total = (per // conns) * conns * procs
        runs.append(
            (
                f"aiomysql {procs}x{conns}",
                aiomysql_client,
                lambda port, i, c: (port, per, conns, c),
                procs,
                total,
            )
        )
    if runs:
        print(f"over TCP, best of {args.repeat} alternating runs (a shared machine only makes runs slower):")
    for label, target, args_for, nprocs, total in runs:
        best: dict[bool, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for baseline in (True, False):
                server = ServerProcess(args.loop, pin, baseline=baseline)
                try:
                    qps, cpu = run_clients(server, target, args_for, nprocs, total)
                finally:
                    server.stop()
                old = best.get(baseline, (0.0, float("inf")))
                best[baseline] = (max(old[0], qps), min(old[1], cpu))
        for baseline in (True, False):
            qps, cpu = best[baseline]
            name = "baseline" if baseline else "p2pdb"
            print(
                f"  {label:15} {name:8} {qps:8,.0f} queries/s; server CPU {cpu:5.1f} us/query "
                f"(=> {1e6 / cpu:,.0f}/s per server core)"
            )
        added = best[False][1] - best[True][1]
        print(f"  {label:15} => the protocol layer adds {added:.1f} us of server CPU per query")
    if args.mode in ("all", "idle"):
        server = ServerProcess(args.loop, pin)
        try:
            idle(server, args.idle, min(q, 5000))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
