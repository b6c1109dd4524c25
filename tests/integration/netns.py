"""Network namespaces for partition, loss and mDNS tests (DESIGN §5 test traffic rule, §8).

A :class:`Lab` is a private network that exists only inside namespaces it creates:

- a hub namespace ``<lab>-hub`` holding bridges ``br0`` (everyone) and ``br1``, ``br2`` ... (the
  sides of a partition);
- one namespace ``<lab>-n<i>`` per node with ``lo`` up and ``eth0`` = ``10.251.0.<10+i>/24``, the
  peer end of a veth pair ``h<i>`` whose other end is a port of a hub bridge.

No interface, address or route is added to the root namespace: the veth pairs are created inside
the hub namespace, so every packet (and every mDNS multicast) of a test stays in the lab.

- :meth:`Lab.partition` moves the hub ports of each group onto a bridge of its own; :meth:`Lab.heal`
  puts them all back on ``br0``. Open TCP connections stall (nothing is reset), as with a real
  partition.
- :meth:`Lab.impair` adds ``tc netem`` loss and delay on a node's ``eth0`` (its outgoing packets).
- :class:`NsNode` runs ``python -m p2pdb start`` inside a namespace; :meth:`NsNode.query` runs the
  ``mariadb`` client inside the same namespace (the node's MySQL listens on that namespace's
  127.0.0.1, which the root namespace cannot reach).

Lab names carry the creating process id (``p2pt<pid>-<hex>``), so :func:`remove_stale` can delete
what a killed test run left behind without touching a concurrent run's namespaces.
:func:`unavailable` says why namespaces cannot be used here (not root, no ``ip``, no permission),
for ``pytest.skip``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PREFIX = "p2pt"
SUBNET = "10.251.0"
CMD_TIMEOUT = 15.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0

_P2P = re.compile(r"^p2p\s+(\S+):(\d+)", re.M)
_MYSQL = re.compile(r"^mysql\s+\S+:(\d+)", re.M)
_NAME = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]+-")


def run(*args: str, timeout: float = CMD_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded); raise with its stderr if it fails and ``check``."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@functools.cache
def unavailable(tools: tuple[str, ...] = ("ip",)) -> str | None:
    """``None`` if labs work here, else why not (a skip reason)."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool!r} is not installed"
    probe = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}-probe"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "-n", probe, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", probe, "link", "add", "h0", "type", "veth", "peer", "name", "eth0")
        if "tc" in tools:
            run("ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "eth0", "clsact")
            _add_loss_filter(probe, "eth0", 1.0)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create network namespaces, bridges or tc filters here: {exc}"
    finally:
        run("ip", "netns", "del", probe, check=False)
    return None


@functools.cache
def has_netem() -> bool:
    """Whether the kernel has the ``netem`` qdisc (some VM kernels ship without it)."""
    probe = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}-netem"
    try:
        run("ip", "netns", "add", probe)
        result = run("ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                     "delay", "1ms", check=False)  # fmt: skip
        return result.returncode == 0
    finally:
        run("ip", "netns", "del", probe, check=False)


def _add_loss_filter(namespace: str, device: str, loss: float) -> None:
    """Drop ``loss`` percent of ``device``'s outgoing packets at random without netem: a classic
    BPF classifier in direct-action mode on the clsact egress hook (``ld rand`` is the kernel's
    SKF_AD_RANDOM; returning 2 is TC_ACT_SHOT, 0 is TC_ACT_OK)."""
    threshold = min(2**32 - 1, int((1.0 - loss / 100.0) * 2**32))
    program = [
        (0x20, 0, 0, 0xFFFFF000 + 56),  # A = random u32
        (0x35, 0, 1, threshold),  # if A >= threshold: drop, else pass
        (0x06, 0, 0, 2),  # return TC_ACT_SHOT
        (0x06, 0, 0, 0),  # return TC_ACT_OK
    ]
    bytecode = f"{len(program)}," + ",".join(" ".join(map(str, op)) for op in program)
    run("ip", "netns", "exec", namespace, "tc", "filter", "replace", "dev", device, "egress", "pref", "1",
        "handle", "1", "bpf", "da", "bytecode", bytecode)  # fmt: skip


def remove_stale() -> list[str]:
    """Delete lab namespaces whose creating process is gone; return their names."""
    removed = []
    listing = run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NAME.match(name)
        if m is None or _alive(int(m.group(1))):
            continue
        _kill_processes_in(name)
        run("ip", "netns", "del", name, check=False)
        removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_processes_in(namespace: str) -> None:
    pids = run("ip", "netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


class NsNode:
    """A ``p2pdb start`` process inside namespace ``namespace`` (MySQL on its 127.0.0.1)."""

    def __init__(self, lab: Lab, index: int, data_dir: Path, args: Sequence[str] = ()) -> None:
        self.lab = lab
        self.index = index
        self.namespace = lab.namespaces[index]
        self.ip = lab.address(index)
        self.data_dir = data_dir
        self.args = list(args)
        self.process: subprocess.Popen[str] | None = None
        self.mysql_port = 0
        self.p2p_port = 0
        self.peer_id = ""
        self.log_path = data_dir.with_suffix(".log")

    @property
    def p2p_address(self) -> str:
        return f"{self.ip}:{self.p2p_port}"

    def spawn(self) -> NsNode:
        """Start the process; :meth:`wait_ready` waits for its addresses."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        command = ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "p2pdb", "start",
                   "--data-dir", str(self.data_dir), "--mysql-host", "127.0.0.1", "--mysql-port", "0",
                   "--p2p-port", "0", *self.args]  # fmt: skip
        if (
            "--new-database-access" not in self.args
        ):  # replication tests: every node writes (docs/security.md)
            command += ["--new-database-access", "open"]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> NsNode:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()  # the node prints its banner promptly or exits
            if not line:
                raise RuntimeError(
                    f"node {self.index} exited early ({self.process.poll()}): {seen}{self.log()}"
                )
            seen += line
            if line.startswith("P2PDB "):
                self.peer_id = line.split()[-1]
            if m := _MYSQL.search(line):
                self.mysql_port = int(m.group(1))
            if m := _P2P.search(line):
                self.p2p_port = int(m.group(2))
            if line.startswith("data"):
                return self
        raise TimeoutError(f"node {self.index} did not start in {timeout}s: {seen}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def peer_ids(self) -> set[str]:
        """Peer ids the node reports as connected (``node.json``, refreshed every 2 s)."""
        path = self.data_dir / "node.json"
        status = json.loads(path.read_text()) if path.exists() else {}
        return {peer["peer_id"] for peer in status.get("peers", [])}

    def query(self, sql: str, database: str | None = None, timeout: float = 10.0) -> list[tuple[str, ...]]:
        """Rows of ``sql`` as tuples of strings (``NULL`` for null), via ``mariadb`` in the namespace."""
        args = ["ip", "netns", "exec", self.namespace, "mariadb", "-h", "127.0.0.1", "-P", str(self.mysql_port),
                "-u", "root", "--batch", "--skip-column-names", "--connect-timeout=5", "-e", sql]  # fmt: skip
        if database:
            args.append(database)
        result = run(*args, timeout=timeout)
        return [tuple(line.split("\t")) for line in result.stdout.splitlines()]

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait (bounded), SIGKILL if needed; the exit code (-9 after a kill)."""
        process = self.process
        if process is None:
            return 0
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            return process.returncode
        finally:
            if process.stdout is not None:
                process.stdout.close()


class Lab:
    """``count`` node namespaces on a bridge in a hub namespace. Use :func:`lab` to get one."""

    def __init__(self, count: int, tmp: Path) -> None:
        self.name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.hub = f"{self.name}-hub"
        self.namespaces = [f"{self.name}-n{i}" for i in range(count)]
        self.tmp = tmp
        self.nodes: list[NsNode] = []
        self._bridges = 0
        self._created: list[str] = []

    def address(self, index: int) -> str:
        return f"{SUBNET}.{10 + index}"

    def create(self) -> Lab:
        for namespace in [self.hub, *self.namespaces]:
            run("ip", "netns", "add", namespace)
            self._created.append(namespace)
            run("ip", "-n", namespace, "link", "set", "lo", "up")
        self._bridge(0)
        for index, namespace in enumerate(self.namespaces):
            port = f"h{index}"
            run(
                "ip",
                "-n",
                self.hub,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                namespace,
            )
            run("ip", "-n", self.hub, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", namespace, "addr", "add", f"{self.address(index)}/24", "dev", "eth0")
            run("ip", "-n", namespace, "link", "set", "eth0", "up")
        return self

    def _bridge(self, number: int) -> str:
        while self._bridges <= number:
            name = f"br{self._bridges}"
            run("ip", "-n", self.hub, "link", "add", name, "type", "bridge", "stp_state", "0",
                "forward_delay", "0", "mcast_snooping", "0")  # fmt: skip
            run("ip", "-n", self.hub, "link", "set", name, "up")
            self._bridges += 1
        return f"br{number}"

    # -- nodes ------------------------------------------------------------------------------------

    def start(self, args_for: Sequence[Sequence[str]]) -> list[NsNode]:
        """Start one node per entry of ``args_for``, all at once, in the next free namespaces."""
        first = len(self.nodes)
        nodes = [
            NsNode(self, first + i, self.tmp / f"node{first + i}", args) for i, args in enumerate(args_for)
        ]
        self.nodes.extend(nodes)
        for node in nodes:
            node.spawn()
        for node in nodes:
            node.wait_ready()
        return nodes

    def start_node(self, index: int, args: Sequence[str] = ()) -> NsNode:
        node = NsNode(self, index, self.tmp / f"node{index}", args)
        self.nodes.append(node)
        return node.spawn().wait_ready()

    # -- faults -----------------------------------------------------------------------------------

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut the lab into ``groups`` of node indexes: each group gets a bridge of its own."""
        for number, group in enumerate(groups):
            bridge = self._bridge(number)
            for index in group:
                run("ip", "-n", self.hub, "link", "set", f"h{index}", "master", bridge)

    def heal(self) -> None:
        for index in range(len(self.namespaces)):
            run("ip", "-n", self.hub, "link", "set", f"h{index}", "master", "br0")

    def impair(self, index: int, *, loss: float = 0.0, delay_ms: float = 0.0) -> bool:
        """Random loss (percent) and delay on node ``index``'s outgoing packets, with ``tc netem``.

        Without netem in the kernel the loss is made by a BPF filter (see :func:`_add_loss_filter`)
        and there is no delay: returns whether the delay was applied."""
        namespace = self.namespaces[index]
        if has_netem():
            run("ip", "netns", "exec", namespace, "tc", "qdisc", "replace", "dev", "eth0", "root",
                "netem", "loss", f"{loss}%", "delay", f"{delay_ms}ms")  # fmt: skip
            return True
        run("ip", "netns", "exec", namespace, "tc", "qdisc", "replace", "dev", "eth0", "clsact")
        _add_loss_filter(namespace, "eth0", loss)
        return not delay_ms

    def clear(self, index: int) -> None:
        """Remove node ``index``'s impairment."""
        for qdisc in ("root", "clsact"):
            run("ip", "netns", "exec", self.namespaces[index], "tc", "qdisc", "del", "dev", "eth0", qdisc,
                check=False)  # fmt: skip

    # -- teardown ---------------------------------------------------------------------------------

    def destroy(self) -> list[int]:
        """Stop every node, then delete every namespace (deleting them removes the veths and
        bridges). Returns the nodes' exit codes."""
        codes = []
        for node in self.nodes:
            with contextlib.suppress(Exception):
                codes.append(node.stop())
        for namespace in reversed(self._created):
            _kill_processes_in(namespace)
            run("ip", "netns", "del", namespace, check=False)
        self._created.clear()
        return codes


@contextlib.contextmanager
def lab(count: int, tmp: Path) -> Iterator[Lab]:
    """A :class:`Lab` of ``count`` namespaces, destroyed on exit (also on failure). Nodes must
    exit cleanly (code 0) unless the body failed already."""
    remove_stale()
    network = Lab(count, tmp)
    try:
        network.create()
        yield network
    except BaseException:
        network.destroy()
        raise
    codes = network.destroy()
    assert all(code == 0 for code in codes), f"unclean node exits {codes}; logs in {tmp}"
