"""The node's HTTP API: change feed (NDJSON, SSE, WebSocket), webhooks, admin routes and metrics.

See ``docs/http.md`` for every route. :class:`HttpApi` is what the node starts.
"""

from p2pdb.http.auth import HttpConfigError
from p2pdb.http.server import HttpApi, HttpStartError

__all__ = ["HttpApi", "HttpConfigError", "HttpStartError"]
