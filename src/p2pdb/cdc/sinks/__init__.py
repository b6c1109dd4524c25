"""Broker sinks of the change feed: the :class:`Sink` interface and the :class:`SinkRunner` that feeds them.

Built-in sinks (each needs its client library only when configured): ``nats`` (JetStream,
``nats-py``), ``rabbitmq`` (``aio-pika``) and ``mqtt`` (``aiomqtt``). docs/cdc.md describes their
options and how to add another one.
"""

from p2pdb.cdc.sinks.base import COMMON_KEYS, Sink, SinkEvent
from p2pdb.cdc.sinks.runner import SINK_TYPES, SinkRunner, make_sink, sink_name

__all__ = ["COMMON_KEYS", "SINK_TYPES", "Sink", "SinkEvent", "SinkRunner", "make_sink", "sink_name"]
