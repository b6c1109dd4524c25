"""The sink interface: where the :class:`~p2pdb.cdc.sinks.runner.SinkRunner` hands change events over.

A sink is a connection to one destination (a NATS JetStream stream, a RabbitMQ exchange, an MQTT
broker...). The runner owns everything else: reading the change feeds, durable cursors, batching,
retries and reconnection. A sink only has to keep three promises (docs/cdc.md, "Adding a sink"):

- ``connect()`` opens the connection (and declares what must exist, e.g. a stream or exchange).
  It raises on failure. The runner calls it before the first batch and after any failure.
- ``publish(events)`` hands a batch over **in order** and returns only once the destination has
  acknowledged *every* event (JetStream ack, publisher confirm, PUBACK). It raises if any event
  may not have been stored; the runner then calls ``close()``, waits (backoff), reconnects and
  sends the same batch again. So a destination may see an event twice, never miss one.
- ``close()`` releases the connection; it never raises and may be called when not connected.
"""

from __future__ import annotations

import asyncio
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

#: Keys every sink configuration may have; the runner reads them (docs/cdc.md).
COMMON_KEYS = frozenset({"type", "name", "db", "table", "start", "batch"})
_FIELD = re.compile(r"\{(\w*)\}")
TEMPLATE_FIELDS = ("db", "table", "op", "node")


@dataclass(frozen=True, slots=True)
class SinkEvent:
    """One change as a sink sees it."""

    #: The event object (``Change.to_json()``): ``{id, db, table, op, pk, row, changed, cid, author, clock}``.
    data: dict[str, Any]
    #: ``data`` as compact UTF-8 JSON: the message body.
    payload: bytes
    #: ``<node peer id>/<db>/<change id>``: unique per node, database and change (broker-side dedup).
    key: str
    #: Peer id of this node (change ids are per node).
    node: str

    @classmethod
    def from_json(cls, data: dict[str, Any], node: str) -> SinkEvent:
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(data, payload, f"{node}/{data['db']}/{data['id']}", node)

    def render(self, template: str, clean: Callable[[str], str]) -> str:
        """Fill ``{db}``, ``{table}``, ``{op}`` and ``{node}`` in a subject/topic/routing-key template,
        each value passed through ``clean`` (which removes the destination's separators)."""
        values = {
            "db": self.data["db"],
            "table": self.data["table"],
            "op": self.data["op"],
            "node": self.node,
        }
        return _FIELD.sub(lambda m: clean(str(values[m.group(1)]) or "_"), template)


def check_template(template: Any, what: str) -> str:
    """A template string whose every ``{field}`` is known (ValueError otherwise)."""
    if not isinstance(template, str) or not template:
        raise ValueError(f"{what} must be a non-empty string")
    for name in _FIELD.findall(template):
        if name not in TEMPLATE_FIELDS:
            raise ValueError(
                f"{what} {template!r}: unknown field {{{name}}} (known: {', '.join(TEMPLATE_FIELDS)})"
            )
    return template


def replace_chars(chars: str) -> Callable[[str], str]:
    """A cleaner replacing each of ``chars`` (and control characters) by ``_``."""
    table = {ord(c): "_" for c in chars} | {i: "_" for i in range(32)}
    return lambda value: value.translate(table)


class Sink(ABC):
    """One destination of change events (see the module docstring for the contract)."""

    #: The ``type`` of its configuration entries.
    type: ClassVar[str]
    #: Its own configuration keys (besides :data:`COMMON_KEYS`).
    options: ClassVar[frozenset[str]]

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    @abstractmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> Sink:
        """Build the sink from its configuration entry; ValueError for a bad value.

        Must not do I/O (that is ``connect``'s job): configuration errors show at start.
        """

    @abstractmethod
    async def connect(self) -> None:
        """Open the connection and declare what the destination needs; raise on failure."""

    @abstractmethod
    async def publish(self, events: Sequence[SinkEvent]) -> None:
        """Hand ``events`` over in order; return once every one is acknowledged, else raise."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection. Never raises."""


def option(config: Mapping[str, Any], key: str, default: Any, kind: type | tuple[type, ...]) -> Any:
    """``config[key]`` (or ``default``), checked to be of ``kind``."""
    value = config.get(key, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"sink option {key!r} has the wrong type: {value!r}")
    return value


def check_keys(config: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(config) - COMMON_KEYS - allowed
    if unknown:
        raise ValueError(f"unknown {config.get('type')} sink options: {', '.join(sorted(unknown))}")


async def await_all(publishes: Iterable[Awaitable[Any]]) -> None:
    """Wait for every publish of a batch (they run concurrently), then raise the first failure:
    the batch counts as delivered only when all of it is."""
    results = await asyncio.gather(*publishes, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
