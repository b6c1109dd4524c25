"""Canonical dag-cbor encoding and strict decoding (IPLD data model).

Encoding rules of dag-cbor that this module enforces:
- map keys are text strings, sorted by encoded length first, then bytewise;
- integers use the shortest form (cbor2 always does); floats are always 64-bit and never
  NaN or infinite; strings, bytes, lists and maps have definite lengths;
- the only tag is 42 (a CID, as the bytes ``0x00 || binary CID``).

Strict decoding decodes with cbor2, converts tag 42 to :class:`CID`, rejects anything outside
the data model, then re-encodes and compares: any non-canonical input (unsorted or duplicate
keys, long integer forms, short floats, indefinite lengths) is refused.
"""

from __future__ import annotations

import math
from typing import Any

import cbor2

from p2pdb.log.cid import CID
from p2pdb.log.errors import MalformedEntry, NonCanonicalEncoding

# An IPLD data-model value: None, bool, int, float, str, bytes, CID, list, dict[str, ...].
IPLDValue = Any

_CID_TAG = 42
_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8")
    return (len(raw), raw)


def prepare(value: IPLDValue) -> Any:
    """Turn a data-model value into what cbor2 encodes canonically (sorted maps, CID tags)."""
    if isinstance(value, CID):
        return cbor2.CBORTag(_CID_TAG, b"\x00" + bytes(value))
    if isinstance(value, int):  # bool is an int too
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError("dag-cbor integers must fit in 64 bits")
        return value
    if isinstance(value, (str, bytes)) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("dag-cbor forbids NaN and infinite floats")
        return value
    if isinstance(value, (list, tuple)):
        return [prepare(item) for item in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"dag-cbor map keys must be strings, not {type(key).__name__}")
        return {key: prepare(value[key]) for key in sorted(value, key=_key_order)}
    raise ValueError(f"{type(value).__name__} is not in the IPLD data model")


def encode(value: IPLDValue) -> bytes:
    """Canonical dag-cbor bytes of a data-model value."""
    # cbor2 in its default (non-canonical) mode keeps our key order and writes floats as 64-bit,
    # which is exactly dag-cbor once `prepare` has sorted the maps.
    return cbor2.dumps(prepare(value))


def _tag_hook(tag: cbor2.CBORTag, _immutable: bool) -> Any:
    if tag.tag != _CID_TAG:
        raise MalformedEntry(f"CBOR tag {tag.tag} is not allowed in dag-cbor")
    value = tag.value
    if not isinstance(value, bytes) or not value.startswith(b"\x00"):
        raise MalformedEntry("tag 42 must hold bytes starting with the 0x00 multibase prefix")
    try:
        return CID(value[1:])
    except ValueError as exc:
        raise MalformedEntry(f"unsupported CID in tag 42: {exc}") from exc


def _check_model(value: Any, depth: int = 0) -> None:
    if depth > 64:
        raise MalformedEntry("nesting deeper than 64 levels")
    if value is None or isinstance(value, (bool, str, bytes, CID)):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise MalformedEntry("integer outside the 64-bit range of dag-cbor")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedEntry("NaN or infinite float")
        return
    if isinstance(value, list):
        for item in value:
            _check_model(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedEntry("map key is not a string")
            _check_model(item, depth + 1)
        return
    raise MalformedEntry(f"{type(value).__name__} is not in the IPLD data model")


def decode(data: bytes) -> IPLDValue:
    """Strictly decode canonical dag-cbor; raise :class:`MalformedEntry` or
    :class:`NonCanonicalEncoding`, never anything else."""
    try:
        value = cbor2.loads(data, tag_hook=_tag_hook)
    except MalformedEntry:
        raise
    except Exception as exc:  # cbor2 raises several types on bad input; all mean "malformed"
        raise MalformedEntry(f"invalid CBOR: {exc}") from exc
    _check_model(value)
    try:
        canonical = encode(value)
    except ValueError as exc:
        raise MalformedEntry(str(exc)) from exc
    if canonical != data:
        raise NonCanonicalEncoding("bytes are not canonical dag-cbor")
    return value
