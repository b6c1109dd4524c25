"""Real brokers for the sink tests: ``nats-server -js``, ``mosquitto`` and ``rabbitmq-server`` (Debian packages).

Each runs on 127.0.0.1 on free ports, in a temporary directory, as a child process of the tests, and
is stopped (SIGTERM, then SIGKILL) at teardown. ``restart()`` stops and starts it again on the same
port and data directory (brokers keep their streams/queues/sessions). A missing binary skips the
tests that need it, naming the package. RabbitMQ boots slowly (~7 s): it is started once per
session and its tests are skipped when it is not up within :data:`RABBITMQ_START_TIMEOUT`.
Erlang's port mapper (``epmd``) is started by the fixture on 127.0.0.1 and a free port, never the
machine-wide one.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 15.0
RABBITMQ_START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, *extra_dirs: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/sbin", *extra_dirs):
        path = Path(directory) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One server process listening on ``127.0.0.1:port``, logging to ``workdir/<name>.log``."""

    def __init__(
        self, name: str, argv: list[str], port: int, workdir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            if _port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.name} did not listen on 127.0.0.1:{self.port} within {timeout:g} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def _require(name: str, package: str, *extra_dirs: str) -> str:
    binary = find_binary(name, *extra_dirs)
    if binary is None:
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return binary


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Broker]:
    """``nats-server`` with JetStream (file storage in the test's directory)."""
    binary = _require("nats-server", "nats-server")
    port = free_port()
    argv = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "jetstream")]
    broker = Broker("nats-server", argv, port, tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """``mosquitto`` with persistence (sessions and queued QoS 1 messages survive a restart)."""
    binary = _require("mosquitto", "mosquitto")
    port = free_port()
    data = tmp_path / "mosquitto"
    data.mkdir()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {data}/\nlog_dest stderr\nuser {getpass.getuser()}\n"
    )
    broker = Broker("mosquitto", [binary, "-c", str(conf)], port, tmp_path)
    broker.start()
    yield broker
    broker.stop()


class RabbitMQ(Broker):
    """``rabbitmq-server`` plus its own ``epmd``, both on 127.0.0.1."""

    def __init__(self, server: str, epmd: str, workdir: Path) -> None:
        self.epmd_port = free_port()
        port, dist_port = free_port(), free_port()
        (workdir / "rabbitmq-env.conf").touch()
        (workdir / "enabled_plugins").write_text("[].\n")
        (workdir / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n")
        env = {
            **os.environ,
            "HOME": str(workdir),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": f"p2pdbtest{port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        super().__init__("rabbitmq-server", [server], port, workdir, env)
        epmd_argv = [epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"]
        self.epmd = Broker("epmd", epmd_argv, self.epmd_port, workdir)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = RABBITMQ_START_TIMEOUT) -> None:
        if self.epmd.process is None:
            self.epmd.start()
        super().start(timeout)

    def close(self) -> None:
        self.stop()
        self.epmd.stop()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One ``rabbitmq-server`` for the session (tests use their own exchange and queue names)."""
    server = _require("rabbitmq-server", "rabbitmq-server", "/usr/lib/rabbitmq/bin")
    epmd = _require("epmd", "erlang-base (a dependency of rabbitmq-server)", "/usr/lib/erlang/bin")
    if server.startswith(("/usr/sbin", "/sbin")) and Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        # Debian's /usr/sbin wrapper switches to the rabbitmq user; run the broker script itself.
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    broker = RabbitMQ(server, epmd, tmp_path_factory.mktemp("rabbitmq"))
    try:
        broker.start()
    except (RuntimeError, TimeoutError) as exc:
        broker.close()
        pytest.skip(f"rabbitmq-server did not start within {RABBITMQ_START_TIMEOUT:g} s: {exc}")
    yield broker
    broker.close()
