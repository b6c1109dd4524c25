"""RabbitMQ sink (``aio-pika``): every event a persistent message on a durable exchange, with publisher confirms.

Options (docs/cdc.md): ``url`` (default ``amqp://guest:guest@127.0.0.1:5672/``), ``exchange``
(default ``p2pdb``), ``exchange_type`` (default ``topic``), ``routing_key`` (template, default
``{db}.{table}.{op}``), ``queue`` (optional: a durable queue to declare and bind, so events are
kept even before any consumer exists), ``binding_key`` (of that queue, default ``#``),
``timeout`` (seconds to wait for a confirm, default 10).

A message the exchange cannot route (no queue bound to its key) is confirmed and dropped by the
broker, as RabbitMQ does for any publisher: bind a durable queue (or set ``queue``) to keep events.
Messages carry ``message_id = <node>/<db>/<change id>`` and headers ``p2pdb-change-id``,
``p2pdb-db`` and ``p2pdb-node``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange

from p2pdb.cdc.sinks.base import Sink, SinkEvent, await_all, check_keys, check_template, option, replace_chars

log = logging.getLogger(__name__)

_clean = replace_chars(".")


class RabbitMQSink(Sink):
    type = "rabbitmq"
    options = frozenset(
        {"url", "exchange", "exchange_type", "routing_key", "queue", "binding_key", "timeout"}
    )

    def __init__(
        self,
        name: str,
        *,
        url: str,
        exchange: str,
        exchange_type: str,
        routing_key: str,
        queue: str | None,
        binding_key: str,
        timeout: float,
    ) -> None:
        super().__init__(name)
        self.url = url
        self.exchange = exchange
        self.exchange_type = aio_pika.ExchangeType(exchange_type)
        self.routing_key = routing_key
        self.queue = queue
        self.binding_key = binding_key
        self.timeout = timeout
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> RabbitMQSink:
        check_keys(config, cls.options)
        exchange_type = option(config, "exchange_type", "topic", str)
        if exchange_type not in {t.value for t in aio_pika.ExchangeType}:
            raise ValueError(f"unknown RabbitMQ exchange_type {exchange_type!r}")
        return cls(
            name,
            url=option(config, "url", "amqp://guest:guest@127.0.0.1:5672/", str),
            exchange=option(config, "exchange", "p2pdb", str),
            exchange_type=exchange_type,
            routing_key=check_template(config.get("routing_key", "{db}.{table}.{op}"), "routing_key"),
            queue=option(config, "queue", None, (str, type(None))),
            binding_key=option(config, "binding_key", "#", str),
            timeout=float(option(config, "timeout", 10.0, (int, float))),
        )

    async def connect(self) -> None:
        # A plain (not "robust") connection: the runner reconnects and resends unconfirmed batches.
        connection = await aio_pika.connect(
            self.url, timeout=self.timeout, client_properties={"connection_name": f"p2pdb-{self.name}"}
        )
        self._connection = connection
        channel = await connection.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(self.exchange, self.exchange_type, durable=True)
        if self.queue is not None:
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(self._exchange, self.binding_key)

    async def publish(self, events: Sequence[SinkEvent]) -> None:
        exchange = self._exchange
        assert exchange is not None, "publish before connect"
        # The publishes are pipelined: each task writes its frames in creation order (aiormq's
        # channel lock is FIFO), so the broker receives the batch in order; then every confirm is awaited.
        publishes = [
            exchange.publish(
                aio_pika.Message(
                    event.payload,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=event.key,
                    headers={
                        "p2pdb-change-id": event.data["id"],
                        "p2pdb-db": event.data["db"],
                        "p2pdb-node": event.node,
                    },
                ),
                routing_key=event.render(self.routing_key, _clean),
                mandatory=False,
                timeout=self.timeout,
            )
            for event in events
        ]
        await await_all(publishes)

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as exc:  # closing a broken connection: nothing left to do
                log.debug("rabbitmq sink %s: close: %s", self.name, exc)
