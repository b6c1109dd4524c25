"""The sink runner with an in-memory sink: cursors, start positions, filters, retries; and config checks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from p2pdb.cdc.sinks import SINK_TYPES, Sink, SinkEvent, SinkRunner, make_sink, sink_name
from p2pdb.cdc.sinks.base import replace_chars

from .helpers import expected_events, insert_items, make_registry, wait_until

FAST = {"retry_base": 0.02, "retry_cap": 0.2}


class MemorySink(Sink):
    """Keeps what it is given; fails the first ``fail`` publishes (option) like a broker outage."""

    type = "memory"
    options = frozenset({"fail"})
    received: ClassVar[dict[str, list[SinkEvent]]] = {}

    def __init__(self, name: str, fail: int) -> None:
        super().__init__(name)
        self.fail = fail
        self.connects = 0

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> MemorySink:
        return cls(name, int(config.get("fail", 0)))

    async def connect(self) -> None:
        self.connects += 1

    async def publish(self, events: Sequence[SinkEvent]) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("broker unavailable")
        self.received.setdefault(self.name, []).extend(events)

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def memory_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(SINK_TYPES, "memory", (lambda: MemorySink, "none"))
    MemorySink.received.clear()
    yield


def got(name: str) -> list[dict[str, Any]]:
    return [e.data for e in MemorySink.received.get(name, [])]


async def test_runner_retries_resumes_and_positions_new_sinks(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    state = tmp_path / "cdc.sqlite"
    configs = [
        {"type": "memory", "name": "now", "fail": 3, "batch": 7},
        {"type": "memory", "name": "oldest", "start": "oldest"},
        {"type": "memory", "name": "orders", "table": "orders"},
    ]
    start = db.changes.last_id()
    runner = SinkRunner(registry, configs, state, **FAST)
    await runner.start()
    insert_items(db, 1, 30)
    db.write(lambda c: c.execute("INSERT INTO orders VALUES (1, 1)"))
    await wait_until(lambda: len(got("now")) == 31, what="31 events after 3 failures")
    status = {s["name"]: s for s in runner.status()}
    assert status["now"]["last_error"] == "ConnectionError: broker unavailable"
    assert status["now"]["failures"] == 0 and status["now"]["connected"]
    await runner.stop()
    assert got("now") == expected_events(db, start)
    assert got("oldest") == expected_events(db)
    assert got("orders") == expected_events(db, start, table="orders")
    events = MemorySink.received["now"]
    assert events[0].key == f"{registry.identity.peer_id}/shop/{start + 1}"
    # Written while stopped, then a new runner on the same state resumes each sink at its cursor.
    insert_items(db, 31, 5)
    again = SinkRunner(registry, configs, state, **FAST)
    await again.start()
    await wait_until(lambda: len(got("now")) == 36 and len(got("oldest")) == len(expected_events(db)))
    await wait_until(lambda: all(s["lag"] == 0 for s in again.status() if s["name"] != "orders"))
    await again.stop()
    assert got("now") == expected_events(db, start)
    assert got("oldest") == expected_events(db)


async def test_runner_follows_databases_created_later_and_db_filter(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    runner = SinkRunner(
        registry,
        [{"type": "memory", "name": "all"}, {"type": "memory", "name": "only-new", "db": "new"}],
        tmp_path / "cdc.sqlite",
        **FAST,
    )
    await runner.start()
    new = registry.create("new")
    new.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    new.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    insert_items(db, 1, 2)
    await wait_until(lambda: len(got("all")) == 4 and len(got("only-new")) == 2)
    await runner.stop()
    assert [e["op"] for e in got("only-new")] == ["ddl", "insert"]
    assert {e["db"] for e in got("all")} == {"shop", "new"}


def test_sink_configuration_is_checked_at_construction(tmp_path: Path) -> None:
    registry, _ = make_registry(tmp_path)
    bad: list[tuple[list[dict[str, Any]], str]] = [
        ([{"type": "kafka"}], "unknown sink type"),
        ([{"type": "nats", "subjekt": "x"}], "unknown nats sink options: subjekt"),
        ([{"type": "nats", "subject": "p2pdb.{database}"}], "unknown field {database}"),
        ([{"type": "mqtt", "qos": 3}], "qos"),
        ([{"type": "mqtt", "port": "1883"}], "wrong type"),
        ([{"type": "rabbitmq", "exchange_type": "nope"}], "exchange_type"),
        ([{"type": "memory", "start": "yesterday"}], "start"),
        ([{"type": "memory", "batch": 0}], "batch"),
        ([{"type": "memory", "name": "a"}, {"type": "memory", "name": "a"}], "duplicate sink names: a"),
    ]
    for configs, message in bad:
        with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
            SinkRunner(registry, configs, tmp_path / "cdc.sqlite")


def test_sink_names_templates_and_missing_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"type": "nats", "url": "nats://127.0.0.1:4222"}
    assert sink_name(config) == sink_name(dict(reversed(config.items()))) != sink_name({"type": "nats"})
    assert sink_name({**config, "name": "mine"}) == "mine"
    event = SinkEvent.from_json({"id": 3, "db": "my.db", "table": "a/b", "op": "insert"}, "12D3Koo")
    assert event.render("p2pdb.{db}.{table}.{op}", replace_chars(". *>")) == "p2pdb.my_db.a/b.insert"
    assert event.render("p2pdb/{node}/{table}", replace_chars("/+#")) == "p2pdb/12D3Koo/a_b"
    assert event.payload == b'{"id":3,"db":"my.db","table":"a/b","op":"insert"}'

    def missing() -> type[Sink]:
        raise ImportError("No module named 'nats'")

    monkeypatch.setitem(SINK_TYPES, "nats", (missing, "nats-py"))
    with pytest.raises(ValueError, match="needs the nats-py package"):
        make_sink(config)
