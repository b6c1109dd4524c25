"""Benchmark of replication between real ``p2pdb start`` processes on 127.0.0.1 (issue 5).

    python bench/replication_bench.py [--quick] [--writes 1000] [--nodes-b 10] [--nodes-c 100]
                                      [--repeats 5] [--catchup-entries 100000] [--only a,b,c,d]

Nodes are launched as in ``tests/integration/cluster.py`` (free loopback ports, temp data dirs);
clients are PyMySQL connections with autocommit, so every INSERT is one commit = one log entry.

(a) 2 nodes: WRITES single-row INSERTs on A as fast as one connection goes (or ``--rate`` per s). Row ids increase and
    A's entries form one causal chain, so a node that shows ``max(id) >= i`` has every row up to
    ``i``. A poller thread per other node reads ``max(id)`` in a loop (``--poll-ms`` apart) and
    records when each id first showed up. Per-write latency = that moment minus the moment the
    INSERT was sent on A (so it includes A's own commit; the targets are checked on it); the lag
    from A's acknowledgement is printed too. Resolution is one poll period, printed. Converge =
    last row visible on every node, counted from the acknowledgement of the last INSERT.
    Targets: converge < 1 s, p99 < 50 ms.
(b) The same on B_NODES nodes (each bootstraps from up to 3 earlier ones); latency of a write =
    when it was visible on *all* other nodes. Targets: converge < 2 s after the last write, and
    every write visible everywhere < 2 s after the first was sent (issue 14). On two shared cores one
    run's span varies by half from run to run: ``--b-runs N`` runs it N times, each on a new
    network, prints every span, and checks the target on their median.
(c) As many nodes as the machine holds, up to C_NODES: nodes are added in batches while
    MemAvailable stays above a reserve. REPEATS times one INSERT on a random node; every other
    node is polled until it shows the row. Time-to-all p50/p99 over the repeats, and the per-node
    latency distribution. Target: p99 < 1 s.
(d) Catch-up: A alone gets CATCHUP_ENTRIES commits (4 connections of single-row INSERTs; the
    rate is printed), then B starts with ``--bootstrap A``; entries/s from B's "ready" line until
    B has every row (target: >= 40,000 entries/s, issue 14). Meanwhile a client runs point selects on B (a local table of 1,000 rows,
    one connection, back to back): their p50/p99/max while B absorbs the catch-up, against the
    same client on the idle node afterwards (baseline). Target: p99 < 20 ms.
(e) Memory: RSS (``/proc/PID/status``) of idle nodes from (c), and of A and B after (d).
(g) Memory per million rows: one node gets ROWS_G rows in 1,000-row INSERTs; its RSS before and
    after, scaled to a million rows.
(f) Cost per node as the network grows: SCALE_WRITES writes at SCALE_RATE per second on one node
    of a SMALL-node network, then of a LARGE-node network (same run, same rate). Each node's CPU
    over the stream, minus its own CPU over an idle window as long, divided by the writes: CPU per
    node per write, mean and the busiest node, and the ratio LARGE/SMALL. The links and gossip
    messages per node are read from each node's ``/metrics``. Target: ratio <= 1.3 (flat).

Reading the other nodes (``--probe``): ``sqlite`` (default) opens each node's SQLite file
read-only and reads the table there, which is what a query on that node would return, without
waking the node (with 100 nodes on 2 cores, polling through MySQL takes the CPU the nodes need
to gossip); ``mysql`` polls through each node's MySQL server instead. Writes always go through
MySQL. Every node's CPU time (``/proc/PID/stat``) is summed over each stream of writes.

Baseline in the same run: the local commit latency on A (INSERT sent -> acknowledged).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.cluster import NodeProcess, free_port

SCHEMA = "CREATE TABLE t (id BIGINT PRIMARY KEY, origin INT, body VARCHAR(64))"
A_CONVERGE, A_P99 = 1.0, 0.050
B_CONVERGE = 2.0
B_SPAN = 2.0  # issue 14: first write sent -> every write visible on every node
CATCHUP_TARGET = 40_000.0  # entries/s (issue 14)
C_P99 = 1.0
MEMORY_RESERVE = 2 * 1024**3  # stop adding nodes below this MemAvailable


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW"


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def rss_kib(pid: int) -> int:
    m = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) if m else 0


def _with_children(pid: int) -> list[int]:
    """``pid`` and its live descendants (a node's entry verifier is a child process)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of processes ``pids`` and their children so far (``/proc/PID/stat``;
    a child that exited and was waited for counts through its parent's cutime and cstime)."""
    total = 0
    for pid in {p for top in pids for p in _with_children(top)}:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime (fields 14 to 17)
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def mem_available() -> int:
    m = re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text())
    return int(m.group(1)) * 1024 if m else 0


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with contextlib.suppress(Exception):  # the database may not exist yet on that node
            if check():
                return time.perf_counter() - start
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


# -- nodes ----------------------------------------------------------------------------------------


@dataclass
class Fleet:
    root: Path
    nodes: list[NodeProcess] = field(default_factory=list)

    def add(self, count: int, *, seeds: int = 3, parallel: int = 4, http: bool = False) -> list[NodeProcess]:
        """Start ``count`` more nodes (``parallel`` at a time); each bootstraps from up to
        ``seeds`` random earlier nodes (their ports are chosen before they start)."""
        self.root.mkdir(parents=True, exist_ok=True)
        new: list[NodeProcess] = []
        for _ in range(count):
            earlier = self.nodes + new
            args = []
            for seed in random.sample(earlier, min(seeds, len(earlier))):
                args += ["--bootstrap", f"127.0.0.1:{seed.p2p_port}"]
            if http:  # for /metrics
                args += ["--http-port", str(free_port())]
            node = NodeProcess(self.root / f"node{len(earlier)}", args)
            node.p2p_port = free_port()
            new.append(node)
        self.nodes += new  # before starting: stop() must reach a batch that failed half-way
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda n: n.start(timeout=60), new))
        return new

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop(timeout=30)
        self.nodes.clear()


def count_rows(node: NodeProcess) -> int:
    return int(node.query("SELECT count(*) FROM t", "bench")[0][0])


def create_table(fleet: Fleet, timeout: float = 60) -> None:
    """Create database ``bench`` and table ``t`` on the first node; wait until every node has it
    (each node is checked until it has the table, then left alone)."""
    first = fleet.nodes[0]
    first.query("CREATE DATABASE bench")
    first.query(SCHEMA, "bench")
    pending = list(fleet.nodes)

    def check() -> bool:
        for node in list(pending):
            with contextlib.suppress(Exception):  # the database may not exist there yet
                if count_rows(node) == 0:
                    pending.remove(node)
        return not pending

    wait_for(check, timeout, "the table on every node", 0.2)


class Probe:
    """Reads one node's copy of table ``t``.

    ``sqlite``: a read-only connection to the node's SQLite file (``<data-dir>/db/bench.sqlite``,
    WAL mode, so reading never blocks the node): what a query on the node would see, without
    waking the node's process, so a hundred probes do not take the CPU the nodes need.
    ``mysql``: ``SELECT`` through the node's MySQL server (end to end, but each poll costs the node
    CPU time)."""

    def __init__(self, node: NodeProcess, how: str) -> None:
        self.how = how
        self._sqlite: apsw.Connection | None = None
        self._mysql: Any = None
        path = node.data_dir / "db" / "bench.sqlite"
        if how == "sqlite" and path.exists():
            self._sqlite = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
            self._sqlite.setbusytimeout(1000)
        else:
            self.how = "mysql"
            self._mysql = node.connect("bench")

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self._sqlite is not None:
            try:
                row = next(iter(self._sqlite.execute(sql.replace("%s", "?"), params)), None)
            except apsw.SQLError:  # the table is not there yet
                return None
            return None if row is None else row[0]
        with self._mysql.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            return None if row is None else row[0]

    def max_id(self) -> int:
        top = self._one("SELECT max(id) FROM t")
        return -1 if top is None else int(top)

    def has(self, row_id: int) -> bool:
        return self._one("SELECT 1 FROM t WHERE id = %s", (row_id,)) is not None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._sqlite is not None:
                self._sqlite.close()
            if self._mysql is not None:
                self._mysql.close()


# -- (a), (b): a stream of writes -----------------------------------------------------------------


@dataclass
class StreamResult:
    nodes: int
    writes: int
    write_seconds: float
    commit: list[float]  # per write: sent -> acknowledged on A
    latency: list[float]  # per write: sent -> visible on every other node
    lag: list[float]  # per write: acknowledged on A -> visible on every other node (0 if before)
    converge: float  # last acknowledgement -> last row visible everywhere
    poll_period: float
    cpu: float  # CPU seconds of all nodes while writing and converging
    probe: str
    span: float = 0.0  # first write sent -> last write visible everywhere
    writer_cpu: float = 0.0  # CPU seconds of the writing node (within ``cpu``)


SCALE_RATIO = 1.3


def stream(
    fleet: Fleet, writes: int, poll_ms: float, how: str, rate: float = 0.0, timeout: float = 60
) -> StreamResult:
    """``writes`` INSERTs on the first node (``rate`` per second, or as fast as it goes with 0)."""
    writer, targets = fleet.nodes[0], fleet.nodes[1:]
    sent = [0.0] * writes
    acked = [0.0] * writes
    seen: list[list[float]] = [[0.0] * writes for _ in targets]
    polls = [0] * len(targets)
    done = threading.Event()
    failed: list[BaseException] = []

    def poll(index: int, node: NodeProcess) -> None:
        try:
            with contextlib.closing(Probe(node, how)) as probe:
                covered = -1
                deadline = time.perf_counter() + timeout
                while covered < writes - 1 and time.perf_counter() < deadline:
                    top = probe.max_id()
                    now = time.perf_counter()
                    polls[index] += 1
                    for i in range(covered + 1, min(top, writes - 1) + 1):
                        seen[index][i] = now
                    covered = max(covered, top)
                    if not done.is_set() or covered < writes - 1:
                        time.sleep(poll_ms / 1000)
        except BaseException as exc:
            failed.append(exc)

    pids = [n.process.pid for n in fleet.nodes if n.process is not None]
    cpu_before = cpu_seconds(pids)
    writer_before = cpu_seconds(pids[:1])
    threads = [threading.Thread(target=poll, args=(i, n), daemon=True) for i, n in enumerate(targets)]
    for thread in threads:
        thread.start()
    with contextlib.closing(writer.connect("bench")) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        for i in range(writes):
            if rate > 0 and (ahead := start + i / rate - time.perf_counter()) > 0:
                time.sleep(ahead)
            sent[i] = time.perf_counter()
            cur.execute("INSERT INTO t VALUES (%s, 0, %s)", (i, f"row {i}"))
            acked[i] = time.perf_counter()
        write_seconds = time.perf_counter() - start
    done.set()
    for thread in threads:
        thread.join(timeout + 5)
    cpu = cpu_seconds(pids) - cpu_before
    writer_cpu = cpu_seconds(pids[:1]) - writer_before
    if failed:
        raise failed[0]
    if any(s[-1] == 0.0 for s in seen):
        raise TimeoutError(f"not every node had all {writes} rows within {timeout}s")
    latency = [max(s[i] for s in seen) - sent[i] for i in range(writes)]
    last = max(s[-1] for s in seen)
    span = max(s[-1] for s in seen) - sent[0]
    return StreamResult(
        nodes=len(fleet.nodes),
        writes=writes,
        write_seconds=write_seconds,
        commit=[a - s for s, a in zip(sent, acked, strict=True)],
        latency=latency,
        lag=[max(0.0, max(s[i] for s in seen) - acked[i]) for i in range(writes)],
        converge=max(0.0, last - acked[-1]),
        poll_period=span / max(1, statistics.mean(polls)),
        cpu=cpu,
        probe=how,
        span=span,
        writer_cpu=writer_cpu,
    )


def node_cpu(pids: Sequence[int]) -> list[float]:
    return [cpu_seconds([pid]) for pid in pids]


def metric(node: NodeProcess, name: str) -> dict[str, float]:
    """One metric from the node's ``/metrics``, by its labels ("" without labels)."""
    import urllib.request

    if not node.http_address:
        return {}
    with urllib.request.urlopen(f"http://{node.http_address}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            head, value = line.rsplit(" ", 1)
            out[head[len(name) :]] = float(value)
    return out


def counters(fleet: Fleet, name: str) -> list[dict[str, float]]:
    return [metric(n, name) for n in fleet.nodes]


def grown(after: list[dict[str, float]], before: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v - b.get(k, 0.0) for k, v in a.items()} for a, b in zip(after, before, strict=True)]


def per_node_cost(fleet: Fleet, size: int, writes: int, rate: float, probe: str) -> tuple[float, float]:
    """(mean, max) CPU milliseconds per node per write over a paced stream, idle CPU subtracted."""
    fleet.add(size, http=True)
    create_table(fleet, timeout=120)
    time.sleep(3)  # the mesh settles (peer exchange, first heads)
    pids = [n.process.pid for n in fleet.nodes if n.process is not None]
    window = writes / rate + 1.0
    before = node_cpu(pids)
    time.sleep(window)
    idle = [b - a for a, b in zip(before, node_cpu(pids), strict=True)]
    before_traffic = traffic(fleet)
    before = node_cpu(pids)
    started = time.perf_counter()
    r = stream(fleet, writes, max(1.0, 0.5 * (size - 1)), probe, rate)
    took = time.perf_counter() - started
    busy = [b - a for a, b in zip(before, node_cpu(pids), strict=True)]
    per = [max(0.0, b - i * took / window) * 1000 / writes for b, i in zip(busy, idle, strict=True)]
    links = [sum(metric(n, "p2pdb_replication_peers").values()) for n in fleet.nodes]
    mean, top = statistics.mean(per), max(per)
    print(
        f"  {size} nodes: CPU per node per write {mean:.3f} ms (busiest {top:.3f} ms, writer"
        f" {per[0]:.3f} ms), idle {statistics.mean(idle) / window * 1000:.1f} ms/s per node;"
        f" links per node mean {statistics.mean(links):.1f} max {max(links):.0f}"
    )
    report_traffic(
        fleet, before_traffic, writes, f"converged {r.converge * 1000:.0f} ms after the last write"
    )
    return mean, top


_TRAFFIC = (
    "p2pdb_replication_messages_sent_total",
    "p2pdb_replication_duplicates_received_total",
    "p2pdb_replication_bytes_total",
    "p2pdb_replication_entries_sent_total",
)


def traffic(fleet: Fleet) -> list[list[dict[str, float]]]:
    """Each node's replication counters now: messages sent by kind, duplicates, bytes."""
    return [counters(fleet, name) for name in _TRAFFIC]


def report_traffic(fleet: Fleet, before: list[list[dict[str, float]]], writes: int, tail: str = "") -> None:
    """Messages, duplicates, entries pushed in answer to heads or wants (anti-entropy), and bytes per
    node per write since ``before`` (nodes with HTTP)."""
    sent, dups, wire, pushed = (grown(a, b) for a, b in zip(traffic(fleet), before, strict=True))
    size = len(fleet.nodes)
    bytes_out = [sum(v for k, v in d.items() if '"sent"' in k) / writes for d in wire]
    totals = [sum(d.values()) / writes for d in sent]
    kinds: dict[str, float] = {}
    for d in sent:
        for label, value in d.items():
            kind = label.split('"')[1] if '"' in label else label
            kinds[kind] = kinds.get(kind, 0.0) + value / size / writes
    print(
        f"    messages sent per node per write {statistics.mean(totals):.2f} (max {max(totals):.2f}):"
        f" {', '.join(f'{k} {v:.2f}' for k, v in sorted(kinds.items()) if v >= 0.005)};"
        f" duplicates received {statistics.mean(sum(d.values()) for d in dups) / writes:.2f}"
        f" (by the writer {sum(dups[0].values()) / writes:.2f}); entries pushed on request"
        f" {statistics.mean(sum(d.values()) for d in pushed) / writes:.2f}"
        f" (by the writer {sum(pushed[0].values()) / writes:.2f})" + (f"; {tail}" if tail else "")
    )
    print(
        f"    bytes sent per node per write {statistics.mean(bytes_out):,.0f} (max {max(bytes_out):,.0f},"
        " encrypted frames on peer links)"
    )


def report_stream(r: StreamResult, converge_target: float, p99_target: float | None) -> bool:
    print(
        f"  {r.writes} writes on A in {r.write_seconds:.2f} s ({r.writes / r.write_seconds:,.0f} commits/s)"
    )
    print(
        f"  baseline: local commit p50 {ms(pct(r.commit, 50))}  p99 {ms(pct(r.commit, 99))}"
        f"  (INSERT sent -> acknowledged on A)"
    )
    p50, p99 = pct(r.latency, 50), pct(r.latency, 99)
    where = "B" if r.nodes == 2 else f"all {r.nodes - 1} other nodes"
    print(
        f"  replication latency (sent on A -> visible on {where}): p50 {ms(p50)}  p99 {ms(p99)}"
        f"  max {ms(max(r.latency))}   poll period {r.poll_period * 1000:.1f} ms"
    )
    print(
        f"  replication lag (acknowledged on A -> visible on {where}): p50 {ms(pct(r.lag, 50))}"
        f"  p99 {ms(pct(r.lag, 99))}  (without A's own commit time)"
    )
    print(f"  p99 / local commit p99: {p99 / max(1e-9, pct(r.commit, 99)):.1f}x")
    print(f"  CPU of all {r.nodes} nodes: {r.cpu * 1000 / r.writes:.2f} ms per write ({r.probe} probes)")
    others = (r.cpu - r.writer_cpu) / max(1, r.nodes - 1)
    print(
        f"  of it the writer {r.writer_cpu * 1000 / r.writes:.2f} ms, each other node"
        f" {others * 1000 / r.writes:.2f} ms (processes and their children)"
    )
    ok = r.converge < converge_target
    print(
        f"  converge after the last write: {r.converge * 1000:.0f} ms (< {converge_target:.0f} s) {verdict(ok)}"
    )
    print(f"  first write sent -> every write visible on every node: {r.span:.2f} s")
    if p99_target is not None:
        ok_p99 = p99 < p99_target
        print(f"  p99 < {p99_target * 1000:.0f} ms: {verdict(ok_p99)}")
        ok = ok and ok_p99
    return ok


# -- (c): one write, many nodes --------------------------------------------------------------------


def grow(fleet: Fleet, limit: int, batch: int) -> str:
    """Add nodes up to ``limit`` while memory allows; why it stopped."""
    while len(fleet.nodes) < limit:
        rss = [rss_kib(n.process.pid) * 1024 for n in fleet.nodes if n.process]
        per_node = statistics.median(rss) if rss else 100 * 1024**2
        step = min(batch, limit - len(fleet.nodes))
        if mem_available() - step * per_node * 1.5 < MEMORY_RESERVE:
            return f"stopped at {len(fleet.nodes)}: MemAvailable {mem_available() / 1024**3:.1f} GiB"
        fleet.add(step)
        print(
            f"    {len(fleet.nodes)} nodes up, MemAvailable {mem_available() / 1024**3:.1f} GiB", flush=True
        )
    return f"reached --nodes-c {limit}"


def one_write_everywhere(fleet: Fleet, row_id: int, how: str, timeout: float = 30) -> list[float]:
    """Insert one row on a random node; seconds until each other node showed it. SQLite probes
    are polled by one thread (cheap), MySQL probes by 8."""
    nodes = fleet.nodes
    origin = random.randrange(len(nodes))
    probes = [Probe(n, how) for n in nodes]
    try:
        visible = [0.0] * len(nodes)
        threads = 1 if all(p.how == "sqlite" for p in probes) else 8
        others = [i for i in range(len(nodes)) if i != origin]
        slices = [others[k::threads] for k in range(threads)]
        start = [0.0]

        def poll(indexes: list[int]) -> None:
            pending = list(indexes)
            while pending and time.perf_counter() - start[0] < timeout:
                for i in list(pending):
                    if probes[i].has(row_id):
                        visible[i] = time.perf_counter() - start[0]
                        pending.remove(i)
                time.sleep(0.002)

        with contextlib.closing(nodes[origin].connect("bench")) as conn, conn.cursor() as cur:
            start[0] = time.perf_counter()
            cur.execute("INSERT INTO t VALUES (%s, %s, 'probe')", (row_id, origin))
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(poll, slices))
        missing = [i for i in others if visible[i] == 0.0]
        if missing:
            raise TimeoutError(f"{len(missing)} nodes did not show the row within {timeout}s")
        return [visible[i] for i in others]
    finally:
        for probe in probes:
            probe.close()


# -- (d): catch-up --------------------------------------------------------------------------------


POINT_P99 = 0.020


class PointSelects:
    """Point selects on a node, back to back on one connection, in a thread: their latencies."""

    def __init__(self, node: NodeProcess) -> None:
        node.query("CREATE DATABASE IF NOT EXISTS probe")
        node.query("CREATE TABLE IF NOT EXISTS p (id INT PRIMARY KEY, v VARCHAR(40))", "probe")
        node.query(
            "INSERT IGNORE INTO p VALUES " + ", ".join(f"({i}, 'value {i}')" for i in range(1000)), "probe"
        )
        self.node = node
        self.latency: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        rng = random.Random(1)
        with contextlib.closing(self.node.connect("probe")) as conn, conn.cursor() as cur:
            while not self.stop.is_set():
                started = time.perf_counter()
                cur.execute("SELECT v FROM p WHERE id = %s", (rng.randrange(1000),))
                cur.fetchall()
                self.latency.append(time.perf_counter() - started)

    def finish(self) -> list[float]:
        self.stop.set()
        self.thread.join(30)
        return self.latency


def bulk_fill(node: NodeProcess, rows: int, per_statement: int = 1000) -> float:
    """``rows`` rows in multi-row INSERTs of ``per_statement`` rows on one connection; seconds."""
    start = time.perf_counter()
    with contextlib.closing(node.connect("bench")) as conn, conn.cursor() as cur:
        for first in range(0, rows, per_statement):
            count = min(per_statement, rows - first)
            values = ", ".join(["(%s, 0, %s)"] * count)
            params: list[Any] = []
            for i in range(first, first + count):
                params += [i, f"row {i:08d}"]
            cur.execute(f"INSERT INTO t VALUES {values}", params)
    return time.perf_counter() - start


def fill(node: NodeProcess, entries: int, connections: int = 4) -> float:
    """``entries`` single-row autocommit INSERTs over ``connections`` connections; seconds taken."""
    per = [entries // connections + (1 if k < entries % connections else 0) for k in range(connections)]
    first = [sum(per[:k]) for k in range(connections)]

    def run(k: int) -> None:
        with contextlib.closing(node.connect("bench")) as conn, conn.cursor() as cur:
            for i in range(first[k], first[k] + per[k]):
                cur.execute("INSERT INTO t VALUES (%s, 0, %s)", (i, f"catch-up row {i:08d}"))

    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(run, range(connections)))
    return time.perf_counter() - start


# -- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a quick check, not the targets' sizes"
    )
    parser.add_argument("--writes", type=int, help="writes in (a) and (b) [1000; quick 200]")
    parser.add_argument("--nodes-b", type=int, help="nodes in (b) [10]")
    parser.add_argument(
        "--b-runs",
        type=int,
        default=1,
        help="runs of (b), each on a new network; the span's median counts [1]",
    )
    parser.add_argument("--nodes-c", type=int, help="at most this many nodes in (c) [100; quick 20]")
    parser.add_argument("--repeats", type=int, help="single writes timed in (c) [5; quick 3]")
    parser.add_argument("--catchup-entries", type=int, help="entries on A in (d) [100000; quick 5000]")
    parser.add_argument("--poll-ms", type=float, default=1.0, help="pause between polls of a node in (a) [1]")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="writes per second in (a) and (b), 0 = as fast as possible [0]",
    )
    parser.add_argument(
        "--probe",
        choices=("sqlite", "mysql"),
        default="sqlite",
        help="how the other nodes are read: their SQLite files (cheap) or their MySQL servers [sqlite]",
    )
    parser.add_argument(
        "--scale", default="3,30", help="network sizes compared in (f), SMALL,LARGE [3,30; quick 3,10]"
    )
    parser.add_argument("--scale-writes", type=int, help="writes in (f) [600; quick 200]")
    parser.add_argument("--scale-rate", type=float, default=50.0, help="writes per second in (f) [50]")
    parser.add_argument("--rows-g", type=int, help="rows held by the node in (g) [1000000; quick 100000]")
    parser.add_argument("--only", default="a,b,c,d,f,g", help="parts to run, e.g. a,b [a,b,c,d,f,g]")
    args = parser.parse_args(argv)
    quick = args.quick
    writes = args.writes or (200 if quick else 1000)
    nodes_b = args.nodes_b or 10
    nodes_c = args.nodes_c or (20 if quick else 100)
    repeats = args.repeats or (3 if quick else 5)
    catchup = args.catchup_entries or (5000 if quick else 100_000)
    parts = set(args.only.split(","))
    small, large = (int(x) for x in (args.scale if args.scale != "3,30" or not quick else "3,10").split(","))
    scale_writes = args.scale_writes or (200 if quick else 600)
    million_rows = args.rows_g or (100_000 if quick else 1_000_000)
    results: dict[str, str] = {}
    ok_all = True
    print(
        f"replication benchmark ({'quick' if quick else 'full'}), nodes on 127.0.0.1, PyMySQL autocommit clients"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load()} at start (other work on the machine skews latency)"
    )

    with tempfile.TemporaryDirectory(prefix="p2pdb-repl-bench-") as tmp:
        root = Path(tmp)
        if "a" in parts:
            print(f"\n(a) 2 nodes, {writes} writes on A")
            fleet = Fleet(root / "a")
            try:
                fleet.add(2)
                create_table(fleet)
                r = stream(fleet, writes, args.poll_ms, args.probe, args.rate)
                ok = report_stream(r, A_CONVERGE, A_P99)
                ok_all &= ok
                results["a"] = (
                    f"a: p99 {pct(r.latency, 99) * 1000:.0f} ms, converge {r.converge * 1000:.0f} ms"
                )
            finally:
                fleet.stop()

        if "b" in parts:
            spans: list[float] = []
            converged = True
            for run in range(args.b_runs):
                print(
                    f"\n(b) {nodes_b} nodes, {writes} writes on A"
                    + (f", run {run + 1}" if args.b_runs > 1 else "")
                )
                fleet = Fleet(root / f"b{run}")
                try:
                    fleet.add(nodes_b, http=True)
                    create_table(fleet)
                    poll_ms = max(args.poll_ms, 0.5 * (nodes_b - 1))  # 2 cores: keep the pollers' load modest
                    before_traffic = traffic(fleet)
                    r = stream(fleet, writes, poll_ms, args.probe, args.rate)
                    converged &= report_stream(r, B_CONVERGE, None)
                    report_traffic(fleet, before_traffic, writes)
                    spans.append(r.span)
                finally:
                    fleet.stop()
            span = statistics.median(spans)
            if len(spans) > 1:
                print(
                    f"  spans of the {len(spans)} runs: {', '.join(f'{x:.2f}' for x in spans)} s; median {span:.2f} s"
                )
            ok_span = span < B_SPAN
            which = "median " if len(spans) > 1 else ""
            print(
                f"  all {writes} writes everywhere < {B_SPAN:.0f} s from the first ({which}{span:.2f} s): {verdict(ok_span)}"
            )
            ok_all &= converged and ok_span
            results["b"] = f"b: span {which}{span:.2f} s, p99 {pct(r.latency, 99) * 1000:.0f} ms (last run)"

        idle_rss: list[int] = []
        if "c" in parts:
            print(f"\n(c) up to {nodes_c} nodes, one write at a time, {repeats} times")
            fleet = Fleet(root / "c")
            try:
                started = time.perf_counter()
                why = grow(fleet, nodes_c, batch=10)
                print(f"  {len(fleet.nodes)} nodes started in {time.perf_counter() - started:.0f} s ({why})")
                took = time.perf_counter()
                create_table(fleet, timeout=120)
                print(f"  table visible on all nodes after {time.perf_counter() - took:.1f} s")
                time.sleep(3)  # let the mesh settle (peer exchange, heads) before measuring
                to_all, per_node = [], []
                for r_ in range(repeats):
                    lat = one_write_everywhere(fleet, 1_000_000 + r_, args.probe)
                    to_all.append(max(lat))
                    per_node += lat
                    print(
                        f"    write {r_ + 1}: on all {len(fleet.nodes)} nodes after {max(lat) * 1000:.0f} ms"
                    )
                    time.sleep(1)
                idle_rss = [rss_kib(n.process.pid) for n in fleet.nodes if n.process]
                p50, p99 = pct(to_all, 50), pct(to_all, 99)
                print(f"  time until visible on all: p50 {ms(p50)}  p99 {ms(p99)}  (over {repeats} writes)")
                print(
                    f"  per-node latency: p50 {ms(pct(per_node, 50))}  p99 {ms(pct(per_node, 99))}"
                    f"  (resolution: one pass over the nodes that have not shown it yet, {args.probe} probes)"
                )
                ok = p99 < C_P99
                ok_all &= ok
                print(f"  p99 < {C_P99:.0f} s: {verdict(ok)}")
                results["c"] = f"c: {len(fleet.nodes)} nodes p99 {p99 * 1000:.0f} ms"
            finally:
                fleet.stop()

        if "d" in parts:
            print(f"\n(d) catch-up: {catchup:,} entries on A, then B joins")
            fleet = Fleet(root / "d")
            try:
                (a,) = fleet.add(1)
                create_table(fleet)
                seconds = fill(a, catchup)
                print(
                    f"  filled A: {catchup:,} commits in {seconds:.1f} s ({catchup / seconds:,.0f} commits/s, 4 connections)"
                )
                spawned = time.perf_counter()
                (b,) = fleet.add(1, seeds=1)
                ready = time.perf_counter()
                probe = PointSelects(b)
                took = wait_for(lambda: count_rows(b) == catchup, 600, "B to catch up", 0.1)
                during = probe.finish()
                rate = catchup / took
                idle_probe = PointSelects(b)
                time.sleep(3)
                idle_lat = idle_probe.finish()
                p99 = pct(during, 99)
                ok = p99 < POINT_P99
                ok_all &= ok
                print(
                    f"  point selects on B during catch-up: {len(during):,} queries, p50 {ms(pct(during, 50))}"
                    f"  p99 {ms(p99)}  max {ms(max(during))}; on idle B: p50 {ms(pct(idle_lat, 50))}"
                    f"  p99 {ms(pct(idle_lat, 99))}"
                )
                print(f"  point-select p99 during catch-up < {POINT_P99 * 1000:.0f} ms: {verdict(ok)}")
                print(
                    f"  B started in {ready - spawned:.1f} s, had all {catchup:,} entries {took:.1f} s after it was ready"
                )
                ok_rate = rate >= CATCHUP_TARGET
                ok_all &= ok_rate
                print(f"  catch-up rate: {rate:,.0f} entries/s (>= {CATCHUP_TARGET:,.0f}) {verdict(ok_rate)}")
                rss_a, rss_b = (rss_kib(n.process.pid) / 1024 if n.process else 0.0 for n in (a, b))
                print(f"  RSS after catch-up: A {rss_a:.0f} MiB, B {rss_b:.0f} MiB")
                results["d"] = f"d: catch-up {rate:,.0f} entries/s, point-select p99 {p99 * 1000:.0f} ms"
            finally:
                fleet.stop()

        if "f" in parts:
            print(
                f"\n(f) CPU per node per write: {small} nodes vs {large} nodes, {scale_writes} writes at {args.scale_rate:.0f}/s"
            )
            costs = {}
            for size in (small, large):
                fleet = Fleet(root / f"f{size}")
                try:
                    costs[size] = per_node_cost(fleet, size, scale_writes, args.scale_rate, args.probe)
                finally:
                    fleet.stop()
            mean_ratio = costs[large][0] / max(1e-9, costs[small][0])
            max_ratio = costs[large][1] / max(1e-9, costs[small][1])
            ok = mean_ratio <= SCALE_RATIO
            ok_all &= ok
            print(
                f"  ratio {large}/{small} nodes: mean {mean_ratio:.2f}x, busiest node {max_ratio:.2f}x"
                f" (<= {SCALE_RATIO}) {verdict(ok)}"
            )
            results["f"] = f"f: CPU/node/write {large} vs {small} nodes {mean_ratio:.2f}x"

        if "g" in parts:
            print(f"\n(g) memory of a node holding {million_rows:,} rows")
            fleet = Fleet(root / "g")
            try:
                (node,) = fleet.add(1)
                create_table(fleet)
                assert node.process is not None
                empty = rss_kib(node.process.pid)
                took = bulk_fill(node, million_rows)
                time.sleep(2)
                full = rss_kib(node.process.pid)
                per_million = (full - empty) / 1024 * 1_000_000 / million_rows
                print(
                    f"  {million_rows:,} rows in {took:.1f} s ({million_rows / took:,.0f} rows/s, 1,000-row INSERTs);"
                    f" RSS {empty / 1024:.0f} MiB empty -> {full / 1024:.0f} MiB"
                    f" ({per_million:.0f} MiB more per million rows)"
                )
                results["g"] = f"g: RSS +{per_million:.0f} MiB per million rows"
            finally:
                fleet.stop()

    print("\n(e) memory per idle node (VmRSS)")
    if idle_rss:
        print(
            f"  {len(idle_rss)} idle nodes from (c): median {statistics.median(idle_rss) / 1024:.1f} MiB,"
            f" min {min(idle_rss) / 1024:.1f}, max {max(idle_rss) / 1024:.1f}"
        )
        results["e"] = f"e: {statistics.median(idle_rss) / 1024:.0f} MiB/idle node"
    else:
        print("  (needs part c)")
    print(f"\nload average {load()} at the end")
    print(
        "summary: "
        + "; ".join(results.values())
        + f" -> {'all targets PASS' if ok_all else 'some targets BELOW'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
