"""NATS JetStream sink (``nats-py``): every event a JetStream publish, acknowledged by the stream.

Options (docs/cdc.md): ``url`` (default ``nats://127.0.0.1:4222``; a list of URLs is allowed),
``subject`` (template, default ``p2pdb.{db}.{table}``), ``stream`` (default ``P2PDB``, created with
file storage when missing), ``stream_subjects`` (subjects of a created stream; default: the subject
template with every ``{field}`` as ``*``), ``timeout`` (seconds to wait for an ack, default 5),
``user``/``password`` or ``token``.

Every message carries ``Nats-Msg-Id: <node>/<db>/<change id>``, so JetStream drops a resend inside
its duplicate window (2 minutes by default), plus ``P2PDB-Change-Id``, ``P2PDB-Db`` and ``P2PDB-Node``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from p2pdb.cdc.sinks.base import Sink, SinkEvent, check_keys, check_template, option, replace_chars

log = logging.getLogger(__name__)

_clean = replace_chars(". *>")
_FIELDS = ("{db}", "{table}", "{op}", "{node}")


class NatsSink(Sink):
    type = "nats"
    options = frozenset(
        {"url", "subject", "stream", "stream_subjects", "timeout", "user", "password", "token"}
    )

    def __init__(
        self,
        name: str,
        *,
        servers: list[str],
        subject: str,
        stream: str,
        stream_subjects: list[str],
        timeout: float,
        auth: dict[str, str],
    ) -> None:
        super().__init__(name)
        self.servers = servers
        self.subject = subject
        self.stream = stream
        self.stream_subjects = stream_subjects
        self.timeout = timeout
        self.auth = auth
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> NatsSink:
        check_keys(config, cls.options)
        url = option(config, "url", "nats://127.0.0.1:4222", (str, list))
        servers = [url] if isinstance(url, str) else [str(u) for u in url]
        subject = check_template(config.get("subject", "p2pdb.{db}.{table}"), "subject")
        wildcard = subject
        for field in _FIELDS:
            wildcard = wildcard.replace(field, "*")
        subjects = option(config, "stream_subjects", [wildcard], list)
        auth = {key: option(config, key, "", str) for key in ("user", "password", "token") if key in config}
        return cls(
            name,
            servers=servers,
            subject=subject,
            stream=option(config, "stream", "P2PDB", str),
            stream_subjects=[str(s) for s in subjects],
            timeout=float(option(config, "timeout", 5.0, (int, float))),
            auth=auth,
        )

    async def connect(self) -> None:
        async def on_error(exc: Exception) -> None:
            log.debug("nats sink %s: %s", self.name, exc)

        # The runner reconnects (with backoff, then resends unacknowledged batches), so the
        # client's own reconnect-and-buffer logic is off, and a failed connect fails fast
        # (nats-py tries each server max_reconnect_attempts + 1 times, even for the first connect).
        nc = await nats.connect(
            servers=self.servers,
            name=f"p2pdb-{self.name}",
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,  # seconds (annotated int in nats-py, used as a float)
            connect_timeout=max(1, int(self.timeout)),
            error_cb=on_error,
            **self.auth,
        )
        self._nc = nc
        self._js = nc.jetstream(timeout=self.timeout)
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(name=self.stream, subjects=self.stream_subjects)

    async def publish(self, events: Sequence[SinkEvent]) -> None:
        js = self._js
        assert js is not None, "publish before connect"
        # Pipelined: each message is written in order, then every ack is awaited together.
        pending: list[asyncio.Future[Any]] = []
        try:
            for event in events:
                headers = {
                    "Nats-Msg-Id": event.key,
                    "P2PDB-Change-Id": str(event.data["id"]),
                    "P2PDB-Db": str(event.data["db"]),
                    "P2PDB-Node": event.node,
                }
                subject = event.render(self.subject, _clean)
                pending.append(
                    await js.publish_async(subject, event.payload, stream=self.stream, headers=headers)
                )
            await asyncio.wait_for(asyncio.gather(*pending), self.timeout)
        finally:
            for future in pending:
                future.cancel()

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception as exc:  # closing a broken connection: nothing left to do
                log.debug("nats sink %s: close: %s", self.name, exc)
