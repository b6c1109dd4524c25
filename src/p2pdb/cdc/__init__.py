"""Change-data capture consumers: webhooks and broker sinks fed from the databases' change feeds.

Both deliver at-least-once and in order per database, with durable cursors in ``<data-dir>/cdc.sqlite``
(docs/cdc.md). The HTTP change feed itself (NDJSON/SSE/WebSocket) lives in ``p2pdb.http``.
"""

from p2pdb.cdc.cursor_store import CursorStore, WebhookRecord
from p2pdb.cdc.signing import SIGNATURE_HEADER, sign, verify_signature
from p2pdb.cdc.sinks import Sink, SinkEvent, SinkRunner
from p2pdb.cdc.webhooks import WebhookManager

__all__ = [
    "SIGNATURE_HEADER",
    "CursorStore",
    "Sink",
    "SinkEvent",
    "SinkRunner",
    "WebhookManager",
    "WebhookRecord",
    "sign",
    "verify_signature",
]
