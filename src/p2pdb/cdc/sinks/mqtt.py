"""MQTT sink (``aiomqtt`` on ``paho-mqtt``): every event a message, QoS 1 by default (acknowledged by PUBACK).

Options (docs/cdc.md): ``host`` (default ``127.0.0.1``), ``port`` (default 1883), ``topic``
(template, default ``p2pdb/{db}/{table}``), ``qos`` (0, 1 or 2; default 1 — QoS 0 has no
acknowledgement, so it is at-most-once), ``retain`` (default false), ``client_id`` (default
``p2pdb-<sink name>``), ``username``/``password``, ``timeout`` (seconds to wait for the broker's
acknowledgements, default 10), ``keepalive`` (seconds, default 30).

MQTT 3.1.1 has no message headers: consumers that need the node put ``{node}`` in the topic.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiomqtt

from p2pdb.cdc.sinks.base import Sink, SinkEvent, await_all, check_keys, check_template, option, replace_chars

log = logging.getLogger(__name__)

_clean = replace_chars("/+#")
#: QoS 1/2 messages awaiting their acknowledgement at once.
MAX_INFLIGHT = 1000


class MqttSink(Sink):
    type = "mqtt"
    options = frozenset(
        {
            "host",
            "port",
            "topic",
            "qos",
            "retain",
            "client_id",
            "username",
            "password",
            "timeout",
            "keepalive",
        }
    )

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name)
        self.host: str = option(config, "host", "127.0.0.1", str)
        self.port: int = option(config, "port", 1883, int)
        self.topic = check_template(config.get("topic", "p2pdb/{db}/{table}"), "topic")
        self.qos: int = option(config, "qos", 1, int)
        if self.qos not in (0, 1, 2):
            raise ValueError("mqtt qos must be 0, 1 or 2")
        self.retain: bool = option(config, "retain", False, bool)
        self.client_id: str = option(config, "client_id", f"p2pdb-{name}", str)
        self.username: str | None = option(config, "username", None, (str, type(None)))
        self.password: str | None = option(config, "password", None, (str, type(None)))
        self.timeout = float(option(config, "timeout", 10.0, (int, float)))
        self.keepalive: int = option(config, "keepalive", 30, int)
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> MqttSink:
        check_keys(config, cls.options)
        return cls(name, config)

    async def connect(self) -> None:
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            keepalive=self.keepalive,
            # A whole batch may be in flight (paho's default of 20 caps throughput at ~1.6k/s).
            max_inflight_messages=MAX_INFLIGHT,
        )
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(client)
        self._stack, self._client = stack, client

    async def publish(self, events: Sequence[SinkEvent]) -> None:
        client = self._client
        assert client is not None, "publish before connect"
        # Each publish hands its message to paho synchronously, in creation order, before
        # waiting for its acknowledgement: the batch leaves in order and is awaited as a whole.
        publishes = [
            client.publish(event.render(self.topic, _clean), event.payload, qos=self.qos, retain=self.retain)
            for event in events
        ]
        await await_all(publishes)

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            try:
                await stack.aclose()
            except Exception as exc:  # closing a broken connection: nothing left to do
                log.debug("mqtt sink %s: close: %s", self.name, exc)
