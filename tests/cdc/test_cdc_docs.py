"""Every sink type and option is documented in docs/cdc.md (a missing line fails here)."""

from __future__ import annotations

from pathlib import Path

from p2pdb.cdc.sinks import COMMON_KEYS, SINK_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "cdc.md"


def test_every_sink_type_and_option_is_documented() -> None:
    text = DOC.read_text()
    for key in COMMON_KEYS:
        assert f"`{key}`" in text, f"common sink option {key} is not in docs/cdc.md"
    for kind, (load, package) in SINK_TYPES.items():
        assert f"`{kind}`" in text and f"`{package}`" in text, f"sink type {kind} is not in docs/cdc.md"
        for name in load().options:
            assert f"`{name}`" in text, f"option {name} of the {kind} sink is not in docs/cdc.md"
    for header in ("X-P2PDB-Signature", "X-P2PDB-Timestamp", "X-P2PDB-Delivery", "X-P2PDB-Webhook"):
        assert header in text
