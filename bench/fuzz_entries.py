"""Fuzzer of the entry decoder: generated and mutated blocks, as a hostile peer would send them.

    python bench/fuzz_entries.py [--count N] [--seed S] [--bound-ms MS] [--save-dir DIR]

Starts from valid entries made with the log's own API (appends, merges with many parents, ops of
every data-model type, deep and wide values) and canonical encodings of other values, then
mutates them: bit flips, byte changes, truncations, insertions, deletions, splices of other
entries, deep nesting, huge declared lengths, value-sharing tags (28/29, and whole
shared-reference bombs), other tags, indefinite lengths, non-shortest integers and lengths,
16/32-bit floats, NaN, undefined and other simple values, duplicate and unsorted map keys, broken
CIDs, and random bytes. Every input goes to :func:`p2pdb.log.decode_entry` and to the low-level
:func:`p2pdb.log.codec.decode`. It checks that

- nothing but the log's own error types comes out (``EntryError`` subclasses; for
  ``codec.decode`` only ``MalformedEntry`` and ``NonCanonicalEncoding``);
- what ``codec.decode`` accepts is canonical: encoding the decoded value gives the same bytes;
- ``codec.decode`` gives what the byte walk alone gives (the same value, or the same error type):
  its quick way (libipld) never accepts more;
- what ``decode_entry`` accepts is one of the valid, signed seed blocks (no mutation can be
  valid and carry a good signature);
- no input takes longer than the bound (default 50 ms). An input over it, or slower than the
  slowest so far, is timed again (best of 4), so that a preemption or a garbage collection is not
  charged to the decoder. Generated inputs are at most 64 KiB; ``bench/decode_bench.py`` measures
  maximal blocks up to the entry size limit.

It prints inputs/s, the slowest input (time, size and how it was made; overall and for inputs
up to 1, 8 and 64 KiB) and the count of every outcome, and exits 1 on any failure (saving the failing inputs with ``--save-dir``).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from p2pdb.log import (
    EntryError,
    Identity,
    Log,
    MalformedEntry,
    Manifest,
    NonCanonicalEncoding,
    cid_for_block,
    codec,
    decode_entry,
)

DEFAULT_COUNT = 20_000
DEFAULT_BOUND_MS = 50.0
MAX_INPUT = 64 * 1024
SIZE_CLASSES = (1024, 8 * 1024, MAX_INPUT)

# -- seeds: valid blocks made with the log's API -------------------------------------------------


def _ops_samples(rng: random.Random) -> list[Any]:
    link = cid_for_block(b"seed")
    nested: Any = {"leaf": [1, "x", None]}
    for i in range(60):  # near the nesting limit
        nested = [nested] if i % 2 else {"k": nested}
    return [
        None,
        True,
        0,
        -1,
        23,
        24,
        255,
        256,
        65_535,
        65_536,
        2**32 - 1,
        2**32,
        2**64 - 1,
        -(2**64),
        1.5,
        -0.0,
        1e300,
        "",
        "é",
        "Čaues ßvěte! 🎉",
        "x" * 24,
        "y" * 300,
        b"",
        b"\x00\xff" * 20,
        link,
        [link, [link, {"link": link}]],
        {"table": "items", "pk": [1], "set": {"name": "apple", "qty": 3, "price": 1.5}},
        {"": 0, "a": 1, "b": 2, "aa": 3, "é": 4, "z" * 30: 5, "z" * 24: 6},
        [[], {}, [[]], {"a": {}}],
        nested,
        {"rows": [[i, f"name {i}", i * 0.5, None, i % 2 == 0, bytes([i % 256])] for i in range(200)]},
        [{"t": "items", "pk": [i], "set": {"name": f"item {i}", "qty": i}} for i in range(1500)],
        [rng.randrange(-(2**63), 2**63) for _ in range(50)],
    ]


def make_seeds(seed: int = 0) -> tuple[list[bytes], list[bytes]]:
    """Valid entry blocks (made with Log.append, some merging many heads) and canonical
    encodings of other values (valid dag-cbor, not entries)."""
    rng = random.Random(seed)
    ids = [Identity.from_seed(bytes([n]) * 32) for n in (1, 2, 3)]
    manifest = Manifest("fuzz")
    logs = [Log(identity, manifest) for identity in ids]
    blocks: list[bytes] = []
    for i, ops in enumerate(_ops_samples(rng)):
        log = logs[i % len(logs)]
        blocks.append(log.append(ops).block)
    # Concurrent heads, then merges: entries with several parents.
    for log in logs:
        log.join(blocks)
    heads = [log.append({"concurrent": log.identity.peer_id}).block for log in logs]
    blocks.extend(heads)
    logs[0].join(heads)
    merge = logs[0].append("merge")
    assert len(merge.parents) == len(logs)
    blocks.append(merge.block)
    values = [codec.encode(v) for v in _ops_samples(rng)]
    values.append(codec.encode({"a": [1, 2, {"b": b"c"}], "c": cid_for_block(b"x")}))
    return blocks, values


# -- a walker over valid canonical bytes, for structure-aware mutations --------------------------


@dataclass(frozen=True, slots=True)
class Item:
    start: int  # the initial byte
    body: int  # after the head (and after the tag head for a CID)
    end: int
    major: int
    arg: int  # the head's argument (a length, a count or an integer)
    key: bool  # a map key
    parent: int  # index of the enclosing list or map in the item list, -1 at the root


def walk(data: bytes) -> list[Item]:
    """Every data item of a valid canonical dag-cbor value, in order."""
    out: list[Item] = []

    def head(pos: int) -> tuple[int, int, int]:
        ib = data[pos]
        info = ib & 31
        if info < 24:
            return ib >> 5, info, pos + 1
        width = 1 << (info - 24)
        return ib >> 5, int.from_bytes(data[pos + 1 : pos + 1 + width]), pos + 1 + width

    def item(pos: int, key: bool, parent: int) -> int:
        major, arg, body = head(pos)
        index = len(out)
        out.append(Item(pos, body, -1, major, arg, key, parent))
        if major in (2, 3):
            end = body + arg
        elif major == 4:
            end = body
            for _ in range(arg):
                end = item(end, False, index)
        elif major == 5:
            end = body
            for _ in range(arg):
                end = item(end, True, index)
                end = item(end, False, index)
        elif major == 6:  # tag 42 and its bytes: one item
            _, length, inner = head(body)
            end = inner + length
        else:  # integers and simple values: the head is all there is (a float's bits too)
            end = body
        out[index] = Item(pos, body, end, major, arg, key, parent)
        return end

    item(0, False, -1)
    return out


def encode_head(major: int, arg: int, width: int | None = None) -> bytes:
    """A CBOR head; ``width`` (1, 2, 4, 8 bytes) forces a form, shortest or not."""
    if width is None:
        width = 0 if arg < 24 else 1 if arg < 256 else 2 if arg < 65536 else 4 if arg < 2**32 else 8
    if width == 0:
        return bytes((major << 5 | arg,))
    info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
    return bytes((major << 5 | info,)) + (arg % (1 << (8 * width))).to_bytes(width)


# -- mutators --------------------------------------------------------------------------------

INTERESTING = bytes(
    (
        *(0x00, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1F, 0x20, 0x38, 0x3B, 0x40, 0x58, 0x5B, 0x5F, 0x60),
        *(0x78, 0x7B, 0x7F, 0x80, 0x98, 0x9B, 0x9F, 0xA0, 0xB8, 0xBB, 0xBF, 0xC0, 0xC2, 0xD8, 0xD9),
        *(0xDB, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFF, 0x2A, 0x1C, 0x1D, 0x7E),
    )
)
# Bignums, dates, embedded CBOR, string references, value sharing, sets, self-description...
FORBIDDEN_TAGS = (0, 1, 2, 3, 4, 5, 21, 24, 25, 28, 29, 30, 32, 35, 37, 256, 258, 55799, 2**64 - 1)


@dataclass
class Ctx:
    rng: random.Random
    seeds: list[bytes]
    walks: dict[bytes, list[Item]] = field(default_factory=dict)

    def items(self, data: bytes) -> list[Item]:
        found = self.walks.get(data)
        if found is None:
            found = self.walks[data] = walk(data)
        return found

    def pick(self, data: bytes) -> Item:
        """An item of a seed; a value rather than a map key, most of the time."""
        items = self.items(data)
        for _ in range(4):
            it = self.rng.choice(items)
            if not it.key:
                break
        return it


def _replace(data: bytes, it: Item, new: bytes) -> bytes:
    return data[: it.start] + new + data[it.end :]


def bit_flips(ctx: Ctx, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(ctx.rng.randint(1, 8)):
        if out:
            out[ctx.rng.randrange(len(out))] ^= 1 << ctx.rng.randrange(8)
    return bytes(out)


def byte_sets(ctx: Ctx, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(ctx.rng.randint(1, 4)):
        if out:
            value = ctx.rng.choice(INTERESTING) if ctx.rng.random() < 0.6 else ctx.rng.randrange(256)
            out[ctx.rng.randrange(len(out))] = value
    return bytes(out)


def truncate(ctx: Ctx, data: bytes) -> bytes:
    return data[: ctx.rng.randrange(len(data) + 1)]


def insert(ctx: Ctx, data: bytes) -> bytes:
    at = ctx.rng.randrange(len(data) + 1)
    if ctx.rng.random() < 0.5:
        new = bytes(ctx.rng.choice(INTERESTING) for _ in range(ctx.rng.randint(1, 6)))
    else:
        new = ctx.rng.randbytes(ctx.rng.randint(1, 16))
    return data[:at] + new + data[at:]


def delete(ctx: Ctx, data: bytes) -> bytes:
    if not data:
        return data
    at = ctx.rng.randrange(len(data))
    return data[:at] + data[at + ctx.rng.randint(1, 16) :]


def splice(ctx: Ctx, data: bytes) -> bytes:
    """The start of one block and the end of another, cut at random bytes or at item bounds."""
    other = ctx.rng.choice(ctx.seeds)
    if ctx.rng.random() < 0.5:
        return data[: ctx.rng.randrange(len(data) + 1)] + other[ctx.rng.randrange(len(other) + 1) :]
    mine, theirs = ctx.pick(data), ctx.pick(other)
    return data[: mine.start] + other[theirs.start : theirs.end] + data[mine.end :]


def deep_nesting(ctx: Ctx, data: bytes) -> bytes:
    """An item wrapped in many lists or one-key maps: near the limit, or far beyond it."""
    it = ctx.pick(data)
    depth = ctx.rng.choice((ctx.rng.randint(55, 70), ctx.rng.randint(1, 5000)))
    kind = ctx.rng.randrange(3)
    inner = data[it.start : it.end]
    if kind == 0:
        new = b"\x81" * depth + inner
    elif kind == 1:
        new = b"\xa1\x61k" * depth + inner
    else:
        new = b"\x82\x00" * depth + inner  # [0, [0, [0, ...]]]: the nested one is the last element
    return _replace(data, it, new)


def huge_length(ctx: Ctx, data: bytes) -> bytes:
    """A head announcing a length or count far beyond the input (up to 2**64 - 1)."""
    it = ctx.pick(data)
    major = it.major if it.major in (2, 3, 4, 5) else ctx.rng.choice((2, 3, 4, 5))
    arg = ctx.rng.choice((2**64 - 1, 2**63, 2**32 - 1, 2**31, 65_535, len(data) + 1, 10**9))
    new_head = encode_head(major, arg)
    return data[: it.start] + new_head + data[it.body :]


def value_sharing(ctx: Ctx, data: bytes) -> bytes:
    """Tags 28 and 29 (cbor2 expands them before any check of ours): around an item, as a
    reference in place of an item, or a whole shared-reference bomb in place of an item."""
    it = ctx.pick(data)
    choice = ctx.rng.randrange(3)
    if choice == 0:
        new = b"\xd8\x1c" + data[it.start : it.end]
    elif choice == 1:
        new = b"\xd8\x1d" + encode_head(0, ctx.rng.randrange(4))
    else:
        new = sharing_bomb(ctx.rng.randint(1, 200))
    return _replace(data, it, new)


def sharing_bomb(levels: int) -> bytes:
    """``levels`` lists, each holding the previous one twice by shared reference: 2**levels
    leaves once expanded, in about 6 bytes a level."""
    node: list[Any] = [0]
    for _ in range(levels):
        node = [node, node]
    return bytes(cbor2.dumps(node, value_sharing=True))


def other_tag(ctx: Ctx, data: bytes) -> bytes:
    it = ctx.pick(data)
    tag = ctx.rng.choice(FORBIDDEN_TAGS)
    if ctx.rng.random() < 0.2:  # tag 42 around something that is not 0x00 || CID
        tag = 42
    return _replace(data, it, encode_head(6, tag) + data[it.start : it.end])


def indefinite(ctx: Ctx, data: bytes) -> bytes:
    """A definite list, map or string turned indefinite (with its break), or a stray break."""
    candidates = [it for it in ctx.items(data) if it.major in (2, 3, 4, 5)]
    if not candidates or ctx.rng.random() < 0.1:
        at = ctx.rng.randrange(len(data) + 1)
        return data[:at] + b"\xff" + data[at:]
    it = ctx.rng.choice(candidates)
    if it.major in (4, 5):
        return (
            data[: it.start]
            + bytes((it.major << 5 | 31,))
            + data[it.body : it.end]
            + b"\xff"
            + data[it.end :]
        )
    chunk = data[it.start : it.end]  # one definite chunk inside the indefinite string
    return _replace(data, it, bytes((it.major << 5 | 31,)) + chunk + b"\xff")


def non_shortest(ctx: Ctx, data: bytes) -> bytes:
    """A head (integer, length, count or tag 42) written in a longer form than needed."""
    candidates = [it for it in ctx.items(data) if it.major != 7]
    if not candidates:
        return data
    it = ctx.rng.choice(candidates)
    shortest = len(encode_head(it.major, it.arg))
    widths = [w for w in (1, 2, 4, 8) if w + 1 > shortest]
    if not widths:
        return data
    width = ctx.rng.choice(widths)
    if it.major == 6:
        return data[: it.start] + encode_head(6, 42, width) + data[it.start + 2 :]
    return data[: it.start] + encode_head(it.major, it.arg, width) + data[it.body :]


def map_keys(ctx: Ctx, data: bytes) -> bytes:
    """Duplicate a map entry, swap two entries, or replace a key by a non-text key."""
    items = ctx.items(data)
    maps = [i for i, it in enumerate(items) if it.major == 5 and it.arg > 0]
    if not maps:
        return data
    index = ctx.rng.choice(maps)
    m = items[index]
    children = [it for it in items if it.parent == index]
    pairs = [(children[i].start, children[i + 1].end) for i in range(0, len(children), 2)]
    choice = ctx.rng.randrange(3)
    if choice == 0:  # a duplicate entry: the count goes up by one
        a, b = ctx.rng.choice(pairs)
        at = ctx.rng.choice([p[0] for p in pairs] + [m.end])
        body = data[m.body : at] + data[a:b] + data[at : m.end]
        return data[: m.start] + encode_head(5, m.arg + 1) + body + data[m.end :]
    if choice == 1 and len(pairs) > 1:  # two entries swapped
        i = ctx.rng.randrange(len(pairs) - 1)
        j = ctx.rng.randrange(i + 1, len(pairs))
        parts = [data[a:b] for a, b in pairs]
        parts[i], parts[j] = parts[j], parts[i]
        return data[: m.body] + b"".join(parts) + data[m.end :]
    key = children[2 * ctx.rng.randrange(len(pairs))]
    new_key = ctx.rng.choice(
        (b"\x01", b"\x41a", b"\x80", b"\xa0", b"\xf6", b"\x62\xc3\x28", b"\x7f\x61a\xff")
    )
    return _replace(data, key, new_key)


def bad_scalar(ctx: Ctx, data: bytes) -> bytes:
    """An item replaced by a value outside dag-cbor or in a non-canonical form."""
    it = ctx.pick(data)
    new = ctx.rng.choice(
        (
            b"\xf9\x3e\x00",  # 16-bit float
            b"\xf9\x7e\x00",  # 16-bit NaN
            b"\xfa\x3f\xc0\x00\x00",  # 32-bit float
            b"\xfa\x7f\x80\x00\x00",  # 32-bit infinity
            b"\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00",  # NaN
            b"\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00",  # infinity
            b"\xfb\xff\xf0\x00\x00\x00\x00\x00\x00",  # -infinity
            b"\xf7",  # undefined
            b"\xf8\x20",  # simple value 32
            b"\xe0",  # simple value 0
            b"\xfc",  # reserved
            b"\xc2\x49\x01" + b"\x00" * 8,  # bignum
            b"\x62\xc3\x28",  # invalid UTF-8
            b"\x1c",  # reserved additional information
        )
    )
    return _replace(data, it, new)


def broken_cid(ctx: Ctx, data: bytes) -> bytes:
    links = [it for it in ctx.items(data) if it.major == 6]
    if not links:
        return byte_sets(ctx, data)
    it = ctx.rng.choice(links)
    out = bytearray(data)
    # tag head (2), bytes head (2), 0x00, version, codec, hash function, digest length, digest
    offset = ctx.rng.choice((2, 3, 4, 5, 6, 7, 8, ctx.rng.randrange(9, it.end - it.start)))
    out[it.start + offset] = ctx.rng.randrange(256)
    return bytes(out)


def random_bytes(ctx: Ctx, data: bytes) -> bytes:
    size = ctx.rng.choice((ctx.rng.randrange(8), ctx.rng.randrange(64), ctx.rng.randrange(600)))
    return ctx.rng.randbytes(size)


STRUCTURAL: list[Callable[[Ctx, bytes], bytes]] = [
    splice,
    deep_nesting,
    huge_length,
    value_sharing,
    other_tag,
    indefinite,
    non_shortest,
    map_keys,
    bad_scalar,
    broken_cid,
]
BYTEWISE: list[Callable[[Ctx, bytes], bytes]] = [bit_flips, byte_sets, truncate, insert, delete]


def generate(ctx: Ctx) -> tuple[str, bytes]:
    """One input and the name of how it was made."""
    rng = ctx.rng
    roll = rng.random()
    if roll < 0.04:
        return "random_bytes", random_bytes(ctx, b"")
    if roll < 0.06:
        return "seed", rng.choice(ctx.seeds)
    data = rng.choice(ctx.seeds)
    names = []
    if roll < 0.55:
        mutator = rng.choice(STRUCTURAL)
        data = mutator(ctx, data)
        names.append(mutator.__name__)
    if roll >= 0.40 or not names:
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            mutator = rng.choice(BYTEWISE)
            data = mutator(ctx, data)
            names.append(mutator.__name__)
    return "+".join(names), data[:MAX_INPUT]


# -- running ---------------------------------------------------------------------------------


@dataclass
class Report:
    count: int = 0
    seconds: float = 0.0
    slowest: tuple[float, int, str] = (0.0, 0, "")
    # The slowest input of each size class (inputs up to 1 KiB, 8 KiB, 64 KiB).
    slowest_by_size: dict[int, tuple[float, int, str]] = field(default_factory=dict)
    entry_outcomes: Counter[str] = field(default_factory=Counter)
    codec_outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def _timed(fn: Callable[[], object]) -> tuple[float, str, object]:
    start = time.perf_counter()
    try:
        result: object = fn()
        outcome = "accepted"
    except Exception as exc:  # judged by the caller
        result = exc
        outcome = type(exc).__name__
    return time.perf_counter() - start, outcome, result


def _against_the_walk(data: bytes, outcome: str, result: object) -> str:
    """ "" when ``codec.decode`` (quick way first) ended as the byte walk alone ends, else why not."""
    try:
        codec._validate_slowly(data, codec.MAX_DEPTH, codec.MAX_ITEMS)
        walked: object = codec.decode(data, validated=True)
    except (MalformedEntry, NonCanonicalEncoding) as exc:
        walked = exc
    if outcome == "accepted":
        if isinstance(walked, Exception):
            return f"codec.decode accepted what the byte walk refuses ({type(walked).__name__})"
        if codec.encode(walked) != data:
            return "codec.decode and the byte walk decoded different values"
        return ""
    if type(result) is not type(walked):
        return f"codec.decode raised {type(result).__name__}, the byte walk {type(walked).__name__}"
    return ""


def check(data: bytes, seed_blocks: frozenset[bytes], bound: float, how: str, report: Report) -> None:
    """Feed one input to both decoders and record what came out."""
    for name in ("decode_entry", "codec.decode"):
        fn: Callable[[], object] = (
            (lambda: decode_entry(data)) if name == "decode_entry" else (lambda: codec.decode(data))
        )
        elapsed, outcome, result = _timed(fn)
        size_class = next(limit for limit in SIZE_CLASSES if len(data) <= limit)
        if elapsed > min(bound, report.slowest_by_size.get(size_class, (0.0,))[0]):
            # A candidate for the slowest input, or over the bound: time it again, best of 4, so
            # that a preemption or a garbage collection is not taken for the decoder's cost.
            elapsed = min(elapsed, *(_timed(fn)[0] for _ in range(3)))
        if elapsed > report.slowest[0]:
            report.slowest = (elapsed, len(data), f"{how} ({name})")
        if elapsed > report.slowest_by_size.get(size_class, (0.0,))[0]:
            report.slowest_by_size[size_class] = (elapsed, len(data), f"{how} ({name})")
        allowed: tuple[type[Exception], ...] = (
            (EntryError,) if name == "decode_entry" else (MalformedEntry, NonCanonicalEncoding)
        )
        problem = ""
        if elapsed > bound:
            problem = f"{name} took {elapsed * 1e3:.1f} ms, over the bound of {bound * 1e3:.0f} ms"
        elif isinstance(result, Exception) and not isinstance(result, allowed):
            problem = f"{name} raised {outcome}: " + "".join(traceback.format_exception(result)).strip()
        elif outcome == "accepted" and name == "decode_entry" and data not in seed_blocks:
            problem = "decode_entry accepted a block that is not one of the signed seeds"
        elif outcome == "accepted" and name == "codec.decode":
            try:
                again = codec.encode(result)
            except ValueError as exc:
                again = f"encode failed: {exc}".encode()
            if again != data:
                problem = "codec.decode accepted bytes that are not the canonical encoding of their value"
        if not problem and name == "codec.decode":
            problem = _against_the_walk(data, outcome, result)
        if problem:
            report.failures.append((how, problem, data))
        (report.entry_outcomes if name == "decode_entry" else report.codec_outcomes)[outcome] += 1


def run(count: int = DEFAULT_COUNT, seed: int = 1, bound_ms: float = DEFAULT_BOUND_MS) -> Report:
    blocks, values = make_seeds()
    ctx = Ctx(random.Random(seed), blocks + values)
    for data in ctx.seeds:
        ctx.items(data)
    seed_blocks = frozenset(blocks)
    # The seeds and their walks live to the end: keep them out of the collector's way, so that a
    # full collection does not land on one input and pass for a slow decode.
    gc.collect()
    gc.freeze()
    bound = bound_ms / 1e3
    report = Report()
    start = time.perf_counter()
    for _ in range(count):
        how, data = generate(ctx)
        check(data, seed_blocks, bound, how, report)
        report.count += 1
    report.seconds = time.perf_counter() - start
    gc.unfreeze()
    return report


def print_report(report: Report, bound_ms: float) -> None:
    slow_s, slow_size, slow_how = report.slowest
    print(
        f"{report.count:,} inputs in {report.seconds:.1f} s: {report.rate:,.0f} inputs/s (each through both decoders)"
    )
    print(
        f"slowest input: {slow_s * 1e3:.3f} ms, {slow_size:,} bytes, made by {slow_how} (bound {bound_ms:g} ms)"
    )
    for limit, (seconds, size, how) in sorted(report.slowest_by_size.items()):
        print(
            f"  slowest up to {limit // 1024:>2} KiB: {seconds * 1e3:8.3f} ms, {size:,} bytes, made by {how}"
        )
    for title, outcomes in (("decode_entry", report.entry_outcomes), ("codec.decode", report.codec_outcomes)):
        print(f"{title} outcomes:")
        for outcome, n in outcomes.most_common():
            print(f"  {outcome:<24} {n:>10,}")
    print(f"failures: {len(report.failures)}")
    for how, problem, data in report.failures[:10]:
        print(f"  [{how}] {problem}\n    input ({len(data)} bytes): {data[:200].hex()}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help=f"inputs (default {DEFAULT_COUNT:,})"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1): runs are repeatable")
    parser.add_argument(
        "--bound-ms", type=float, default=DEFAULT_BOUND_MS, help="most time one input may take (default 50)"
    )
    parser.add_argument("--save-dir", type=Path, help="write each failing input there")
    args = parser.parse_args()
    report = run(args.count, args.seed, args.bound_ms)
    print_report(report, args.bound_ms)
    if args.save_dir is not None and report.failures:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        for i, (_, _, data) in enumerate(report.failures):
            (args.save_dir / f"failure-{i}.cbor").write_bytes(data)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
