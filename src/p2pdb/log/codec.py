"""Canonical dag-cbor encoding and strict decoding (IPLD data model).

Encoding rules of dag-cbor that this module enforces:
- map keys are text strings, sorted by encoded length first, then bytewise;
- integers use the shortest form (cbor2 always does); floats are always 64-bit and never
  NaN or infinite; strings, bytes, lists and maps have definite lengths;
- the only tag is 42 (a CID, as the bytes ``0x00 || binary CID``).

Decoding never hands untrusted bytes to a general CBOR decoder. :func:`validate` first walks the
bytes with a small hand-written parser that builds nothing and accepts exactly the canonical
dag-cbor encoding of one value within the limits (:data:`MAX_DEPTH` nested lists and maps,
:data:`MAX_ITEMS` items); its cost is linear in the length of the input, whatever the input.
Only bytes that passed it reach cbor2, which then just builds the Python objects: no tag but 42,
no shared references, no indefinite lengths and no trailing bytes can reach it. The rules, limits
and error types are listed in ``docs/log.md`` ("Strict decoding").

That walk is Python, a few microseconds per data item. So every value first takes a quicker way
that can only *accept* (:func:`_decode_fast`): libipld, a strict
dag-cbor codec in Rust, decodes them and encodes the result again, and bytes that come back
exactly are canonical dag-cbor; cbor2 then builds the objects within :data:`MAX_DEPTH`. Whatever
that way does not accept, for any reason, goes through the walk, which alone decides what is
refused and with which error. What the quick way accepts relies on libipld writing canonical
dag-cbor (sorted keys, shortest heads, 64-bit floats), as the dag-cbor specification requires;
``tests/log/test_codec_fast.py`` checks it against the walk on sloppy and damaged encodings.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, NoReturn

import cbor2

from p2pdb.log.cid import CID
from p2pdb.log.errors import MalformedEntry, NonCanonicalEncoding

libipld: ModuleType | None
try:  # a dependency; without it (a platform with no wheel, say) decoding takes the walk alone
    import libipld
except ImportError:  # pragma: no cover - exercised by tests that hide it
    libipld = None

# An IPLD data-model value: None, bool, int, float, str, bytes, CID, list, dict[str, ...].
IPLDValue = Any

MAX_DEPTH = 64
"""Lists and maps may nest at most this deep (a CID, a string or a number is not a level)."""
MAX_ITEMS = 1 << 20
"""At most this many data items in one encoded value (every key, value, element and CID counts
once). It bounds the memory that decoding a block may take, whatever its size."""

_CID_TAG = 42
_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1
# The smallest argument that each long head form (additional information 24, 25, 26, 27) may
# carry: anything smaller has a shorter form, and dag-cbor demands the shortest.
_SHORTEST = (24, 256, 65536, 2**32)


#: The dag-cbor order of the keys of maps met, by their keys in insertion order: the ops of an entry
#: are maps with the same keys, row after row (only string keys are ever stored; emptied when full).
_ORDERS: dict[tuple[str, ...], tuple[str, ...]] = {}
_ORDERS_MAX = 4096


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8")
    return (len(raw), raw)


_PLAIN = frozenset((str, bytes, type(None), bool))


def _map_order(value: dict[Any, Any]) -> tuple[str, ...]:
    keys = tuple(value)
    order = _ORDERS.get(keys)
    if order is None:
        for key in keys:
            if not isinstance(key, str):
                raise ValueError(f"dag-cbor map keys must be strings, not {type(key).__name__}")
        order = tuple(sorted(keys, key=_key_order))
        if len(_ORDERS) >= _ORDERS_MAX:
            _ORDERS.clear()
        _ORDERS[keys] = order
    return order


def prepare(value: IPLDValue, _depth: int = 0) -> Any:
    """Turn a data-model value into what cbor2 encodes canonically (sorted maps, CID tags)."""
    kind = type(value)
    if kind in _PLAIN:  # the common cases first, by exact type (subclasses take the long way)
        return value
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError("dag-cbor integers must fit in 64 bits")
        return value
    if kind is dict and _depth < MAX_DEPTH:
        # Flat values are taken as they are here: a call per value cost more than the check.
        out: dict[str, Any] = {}
        for key in _map_order(value):
            item = value[key]
            kind = type(item)
            if kind in _PLAIN or (kind is int and _INT_MIN <= item <= _INT_MAX):
                out[key] = item
            else:
                out[key] = prepare(item, _depth + 1)
        return out
    if kind is list and _depth < MAX_DEPTH:
        for item in value:
            kind = type(item)
            if not (kind in _PLAIN or (kind is int and _INT_MIN <= item <= _INT_MAX)):
                return [prepare(item, _depth + 1) for item in value]
        return value
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
    if isinstance(value, (list, tuple, dict)) and _depth >= MAX_DEPTH:
        raise ValueError(f"lists and maps nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        return [prepare(item, _depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: prepare(value[key], _depth + 1) for key in _map_order(value)}
    raise ValueError(f"{type(value).__name__} is not in the IPLD data model")


def encode(value: IPLDValue) -> bytes:
    """Canonical dag-cbor bytes of a data-model value.

    Raises :class:`ValueError` for a value outside the data model or over the decoding limits
    (:data:`MAX_DEPTH`, :data:`MAX_ITEMS`): nothing is written that :func:`decode` would refuse.
    """
    # cbor2 in its default (non-canonical) mode keeps our key order and writes floats as 64-bit,
    # which is exactly dag-cbor once `prepare` has sorted the maps.
    return _within_limits(cbor2.dumps(prepare(value)))


def _within_limits(data: bytes) -> bytes:
    """``data``, checked to hold no more data items than :func:`decode` takes."""
    if len(data) > MAX_ITEMS:  # every item takes at least one byte: only long values can have too many
        try:
            validate(data)
        except (MalformedEntry, NonCanonicalEncoding) as exc:
            raise TooManyItems(str(exc), len(data)) from exc
    return data


def encode_list(items: list[bytes]) -> bytes:
    """Canonical dag-cbor bytes of a list whose items are given already encoded (each by
    :func:`encode`): equal to ``encode(values)`` for those values, without encoding them again.
    Raises :class:`TooManyItems` as :func:`encode` does."""
    count = len(items)
    if count < 24:
        head = bytes((0x80 | count,))
    elif count < 256:
        head = bytes((0x98, count))
    elif count < 65536:
        head = b"\x99" + count.to_bytes(2, "big")
    elif count < 2**32:
        head = b"\x9a" + count.to_bytes(4, "big")
    else:
        head = b"\x9b" + count.to_bytes(8, "big")
    return _within_limits(head + b"".join(items))


class TooManyItems(ValueError):
    """:func:`encode` of a value that decoding would refuse for its size (``size`` bytes encoded)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def as_bytes(data: bytes) -> bytes:
    """``data`` as :class:`bytes` (a copy of a bytearray or memoryview); :class:`MalformedEntry`
    for anything that is not a bytes-like object (``bytes(n)`` of an int is never attempted)."""
    if type(data) is bytes:
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise MalformedEntry(f"expected bytes, got {type(data).__name__}") from None


def validate(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Check that ``data`` is exactly one value in canonical dag-cbor, within the limits.

    Builds nothing; runs in time linear in ``len(data)`` with memory bounded by ``max_depth``.
    Raises :class:`NonCanonicalEncoding` for well-formed CBOR that is not in canonical form (a long
    integer or length form, a 16- or 32-bit float, an indefinite length, map keys out of order or
    repeated, trailing bytes) and :class:`MalformedEntry` for everything else it refuses
    (truncated or invalid CBOR, a tag other than 42, a bad CID, undefined or other simple values,
    NaN or infinity, a map key that is not text, invalid UTF-8, nesting or item count over the
    limits). It raises nothing else.
    """
    data = as_bytes(data)
    if _decode_fast(data, max_depth, max_items) is not _UNSURE:
        return
    _validate_slowly(data, max_depth, max_items)


def _validate_slowly(data: bytes, max_depth: int, max_items: int) -> None:
    """The byte walk alone: what it refuses is refused, with its error."""
    try:
        _scan(data, max_depth, max_items)
    except IndexError:  # a read past the end: _scan indexes without bounds checks of its own
        raise MalformedEntry("truncated CBOR: the input ends inside a data item") from None


class _Unsure:
    """What :func:`_decode_fast` returns when it does not accept the bytes (the walk decides)."""


_UNSURE = _Unsure()


def _decode_fast(data: bytes, max_depth: int, max_items: int) -> IPLDValue | _Unsure:
    """The value of ``data`` if the quick way proves it canonical dag-cbor within the limits, else
    :data:`_UNSURE` (which says nothing: maybe invalid, maybe only outside what this way accepts).

    - At most ``max_items`` bytes: every data item takes at least one byte, so the item limit holds.
    - libipld decodes it (it refuses tags other than 42, indefinite lengths, map keys that are not
      text or out of order, invalid UTF-8, NaN and infinity, trailing bytes) and encodes the value
      again: only the canonical form comes back byte for byte (shortest heads, 64-bit floats).
      libipld's own data model is not used: it reads a CID as plain bytes.
    - cbor2 then builds the value as :func:`decode` always did (tag 42 to :class:`CID`, checked by
      :class:`CID`) within ``max_depth - 1`` levels: cbor2 does not count an empty list or map as
      a level (the walk does) and counts a tag as one, so values at the deepest levels are left
      to the walk, which accepts them.
    """
    if libipld is None or len(data) > max_items:
        return _UNSURE
    try:
        canonical = libipld.encode_dag_cbor(libipld.decode_dag_cbor(data)) == data
    except Exception:
        return _UNSURE
    except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException (a BaseException)
        if type(exc).__name__ != "PanicException":
            raise
        return _UNSURE
    if not canonical:
        return _UNSURE
    try:
        return cbor2.loads(
            data,
            tag_hook=_tag_hook,
            max_depth=max_depth - 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except Exception:
        return _UNSURE


def _scan(data: bytes, max_depth: int, max_items: int) -> None:
    """The parser of :func:`validate`: one loop over the data items, with an explicit stack.

    ``left`` counts the items still expected by the innermost open container (a map expects two
    per entry, so an even count means a key comes next) and ``last_key`` is, for a map, the
    encoded form of its previous key (``b""`` before the first), for a list ``None``; ``stack``
    saves both for the enclosing containers. Keys are compared as encoded bytes: with
    shortest-form heads, bytewise order of the encodings is exactly dag-cbor's order (length
    first, then bytewise), and a key not greater than the previous one is out of order or a
    duplicate. Reads past the end raise :class:`IndexError`, which the caller turns into
    :class:`MalformedEntry`.
    """
    n = len(data)
    shortest = _SHORTEST
    pos = 0
    items = 1  # the root, then every item that a list or map announces
    left = 1  # the root: one value
    last_key: bytes | None = None
    stack: list[tuple[int, bytes | None]] = []
    while True:
        start = pos
        ib = data[pos]  # IndexError at the end of the input
        pos += 1
        if last_key is not None and not left & 1:
            # A map key: a definite-length text string, greater than the previous key.
            if 0x60 <= ib <= 0x77:
                end = pos + ib - 0x60
            elif 0x78 <= ib <= 0x7B:
                width = 1 << (ib - 0x78)
                if pos + width > n:
                    raise MalformedEntry(f"truncated CBOR head at byte {start}")
                length = int.from_bytes(data[pos : pos + width])
                if length < shortest[ib - 0x78]:
                    raise NonCanonicalEncoding(f"map key length not in its shortest form at byte {start}")
                pos += width
                end = pos + length
            elif ib == 0x7F:
                raise NonCanonicalEncoding(f"indefinite-length map key at byte {start}")
            else:
                raise MalformedEntry(f"map key at byte {start} is not a text string")
            if end > n:
                raise MalformedEntry(f"map key at byte {start} runs past the end of the input")
            key = data[start:end]
            if key <= last_key:
                if key == last_key:
                    raise NonCanonicalEncoding(f"duplicate map key at byte {start}")
                raise NonCanonicalEncoding(f"map keys out of dag-cbor order at byte {start}")
            if not key.isascii():
                try:
                    data[pos:end].decode("utf-8")
                except UnicodeDecodeError:
                    raise MalformedEntry(f"map key at byte {start} is not valid UTF-8") from None
            last_key = key
            left -= 1  # never 0 here: the key's value follows
            pos = end
            continue
        if ib < 0x40:  # major types 0 and 1: unsigned and negative integers
            if ib & 31 >= 24:
                info = ib & 31
                if info > 27:
                    _bad_head(data, start)
                width = 1 << (info - 24)
                if pos + width > n:
                    raise MalformedEntry(f"truncated integer at byte {start}")
                if int.from_bytes(data[pos : pos + width]) < shortest[info - 24]:
                    raise NonCanonicalEncoding(f"integer not in its shortest form at byte {start}")
                pos += width
        elif ib < 0x80:  # major types 2 and 3: byte and text strings
            info = ib & 31
            if info < 24:
                end = pos + info
            elif info <= 27:
                width = 1 << (info - 24)
                if pos + width > n:
                    raise MalformedEntry(f"truncated string length at byte {start}")
                length = int.from_bytes(data[pos : pos + width])
                if length < shortest[info - 24]:
                    raise NonCanonicalEncoding(f"string length not in its shortest form at byte {start}")
                pos += width
                end = pos + length
            else:
                _bad_head(data, start)
            if end > n:
                raise MalformedEntry(f"string at byte {start} runs past the end of the input")
            if ib >= 0x60:
                try:
                    data[pos:end].decode("utf-8")
                except UnicodeDecodeError:
                    raise MalformedEntry(f"text string at byte {start} is not valid UTF-8") from None
            pos = end
        elif ib < 0xC0:  # major types 4 and 5: lists and maps
            info = ib & 31
            if info < 24:
                count = info
            elif info <= 27:
                width = 1 << (info - 24)
                if pos + width > n:
                    raise MalformedEntry(f"truncated length at byte {start}")
                count = int.from_bytes(data[pos : pos + width])
                if count < shortest[info - 24]:
                    raise NonCanonicalEncoding(f"length not in its shortest form at byte {start}")
                pos += width
            else:
                _bad_head(data, start)
            if len(stack) >= max_depth:
                raise MalformedEntry(f"lists and maps nested deeper than {max_depth} levels at byte {start}")
            if count:
                if ib >= 0xA0:  # a map: two items per entry
                    count *= 2
                    key_before: bytes | None = b""
                else:
                    key_before = None
                # Every item takes at least one byte: a count larger than what is left is a lie,
                # refused before anything trusts it. Every announced item will be parsed, so the
                # item count is known, and checked, as soon as a container opens.
                if count > n - pos:
                    raise MalformedEntry(f"length at byte {start} announces more items than bytes left")
                items += count
                if items > max_items:
                    raise MalformedEntry(f"more than {max_items} data items (at byte {start})")
                stack.append((left, last_key))
                left = count
                last_key = key_before
                continue
        elif ib == 0xD8 and data[pos] == _CID_TAG:  # tag 42: a CID, as bytes 0x00 || binary CID
            # The content: a byte string with a one-byte length (a CID is 36 bytes), then 0x00.
            if data[pos + 1] != 0x58 or data[pos + 3] != 0x00:
                raise MalformedEntry(f"tag 42 at byte {start} must hold bytes starting with 0x00")
            end = pos + 3 + data[pos + 2]
            if end > n:
                raise MalformedEntry(f"CID at byte {start} runs past the end of the input")
            try:
                CID(data[pos + 4 : end])
            except ValueError as exc:
                raise MalformedEntry(f"unsupported CID in tag 42 at byte {start}: {exc}") from None
            pos = end
        elif ib == 0xFB:  # a 64-bit float, finite
            if pos + 8 > n:
                raise MalformedEntry(f"truncated float at byte {start}")
            if data[pos] & 0x7F == 0x7F and data[pos + 1] >= 0xF0:  # exponent all ones
                raise MalformedEntry(f"NaN or infinite float at byte {start}")
            pos += 8
        elif ib < 0xF4 or ib > 0xF6:  # anything else but false, true and null
            _bad_head(data, start)
        # One complete item: close the containers it completes.
        left -= 1
        while not left:
            if not stack:
                if pos != n:
                    raise NonCanonicalEncoding(f"{n - pos} trailing bytes after the value")
                return
            left, last_key = stack.pop()
            left -= 1


def _bad_head(data: bytes, at: int) -> NoReturn:
    """Raise the error for an initial byte that dag-cbor never allows (outside map keys)."""
    ib = data[at]
    major, info = ib >> 5, ib & 31
    if info == 31 and 2 <= major <= 5:
        raise NonCanonicalEncoding(f"indefinite length at byte {at}")
    if info > 27:
        raise MalformedEntry(f"reserved or invalid CBOR initial byte 0x{ib:02x} at byte {at}")
    if major == 6:
        if 25 <= info <= 27:
            width = 1 << (info - 24)
            if int.from_bytes(data[at + 1 : at + 1 + width]) == _CID_TAG:
                raise NonCanonicalEncoding(f"tag 42 not in its shortest form at byte {at}")
        raise MalformedEntry(f"CBOR tag at byte {at} is not allowed in dag-cbor (only 42 is)")
    if ib in (0xF9, 0xFA):  # 16- and 32-bit floats: dag-cbor writes every float in 64 bits
        width = 2 if ib == 0xF9 else 4
        if len(data) < at + 1 + width:
            raise MalformedEntry(f"truncated float at byte {at}")
        bits = int.from_bytes(data[at + 1 : at + 1 + width])
        exponent = 0x7C00 if ib == 0xF9 else 0x7F800000
        if bits & exponent == exponent:
            raise MalformedEntry(f"NaN or infinite float at byte {at}")
        raise NonCanonicalEncoding(f"{8 * width}-bit float at byte {at}: dag-cbor floats are 64-bit")
    if ib == 0xF7:
        raise MalformedEntry(f"undefined at byte {at} is not in the IPLD data model")
    raise MalformedEntry(f"simple value 0x{ib:02x} at byte {at} is not in the IPLD data model")


def _tag_hook(tag: cbor2.CBORTag, _immutable: bool) -> Any:
    # Only ever called on validated bytes, where every tag is 42 around 0x00 || a valid CID.
    if tag.tag != _CID_TAG or not isinstance(tag.value, bytes) or not tag.value.startswith(b"\x00"):
        raise MalformedEntry(f"CBOR tag {tag.tag} is not allowed in dag-cbor")
    return CID(tag.value[1:])


def decode(
    data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS, validated: bool = False
) -> IPLDValue:
    """Strictly decode canonical dag-cbor; raise :class:`MalformedEntry` or
    :class:`NonCanonicalEncoding`, never anything else.

    :func:`validate` checks every byte first; only then does cbor2 build the objects (tag 42
    becomes a :class:`CID`). Decoding then re-encoding gives back ``data`` exactly.
    ``validated``: the caller knows these bytes passed :func:`validate` already (a block this node
    stored after checking it, or one a verifier process checked): the byte walk is skipped.
    """
    data = as_bytes(data)
    if not validated:
        value = _decode_fast(data, max_depth, max_items)
        if value is not _UNSURE:
            return value
        _validate_slowly(data, max_depth, max_items)
    try:
        # The options repeat what validate() already guaranteed, as a second line of defence.
        # cbor2 counts a tag as a level of nesting: allow one more for a CID at the deepest level.
        return cbor2.loads(
            data,
            tag_hook=_tag_hook,
            max_depth=max_depth + 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except MalformedEntry:
        raise
    except Exception as exc:  # not expected on validated bytes; never let anything else out
        raise MalformedEntry(f"invalid CBOR: {exc}") from exc
