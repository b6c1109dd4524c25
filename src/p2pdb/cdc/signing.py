"""Webhook signatures: HMAC-SHA256 of the raw request body, keyed with the webhook's secret.

The header is ``X-P2PDB-Signature: sha256=<hex>``. The body carries ``sent_at`` (also sent as
``X-P2PDB-Timestamp``), so the signature covers the time too and a receiver can refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-P2PDB-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)
