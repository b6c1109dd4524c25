"""Benchmark of strict decoding: valid entries (the replication hot path) and the costliest
hostile inputs, next to raw cbor2 on the same bytes.

    python bench/decode_bench.py [--entries N] [--repeat R] [--valid-only]

Valid entries: ``decode_entry`` with and without the signature check, ``codec.decode`` and
``codec.validate`` on typical one-row entries, and on a large entry (2,000 rows, ~80 KB).
Hostile inputs (skipped with ``--valid-only``): a 368-byte value-sharing bomb, deep nesting, a
huge declared length, and blocks at the item limit made of the items that cost most per byte;
for each, the time to accept or refuse it and the cost per byte. Each figure is the best of R
runs (default 3), with the garbage collector off while timing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import platform
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import cbor2

from p2pdb.log import EntryError, Identity, Log, Manifest, codec, decode_entry
from p2pdb.log.clock import Clock
from p2pdb.log.entry import _K_SIG, _split_encoding

ALICE = Identity.from_seed(b"\x01" * 32)


def ops_for(i: int) -> dict[str, Any]:
    """The same typical small transaction as bench/log_bench.py: one row written."""
    return {"table": "items", "pk": [i], "set": {"name": f"item {i}", "qty": i % 97, "price": 1.5 + i}}


def best(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Seconds per call, best of ``repeat`` runs of ``number`` calls (with the garbage collector
    off while timing, as timeit does: a collection would be charged to whichever call it hits)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(number):
                with contextlib.suppress(EntryError):
                    fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times) / number


def outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except EntryError as exc:
        return f"{type(exc).__name__}"
    return "accepted"


def signed_block_with_ops(ops_bytes: bytes) -> bytes:
    head, tail = _split_encoding("bench", Clock(1, ALICE.public_key), (), ops_bytes)
    sig = ALICE.sign(b"\xa6" + head + tail)
    return b"\xa7" + head + _K_SIG + cbor2.dumps(sig) + tail


def sharing_bomb(levels: int) -> bytes:
    node: list[Any] = [0]
    for _ in range(levels):
        node = [node, node]
    return bytes(cbor2.dumps(node, value_sharing=True))


def valid(n: int, repeat: int) -> None:
    log = Log(ALICE, Manifest("bench"))
    blocks = [log.append(ops_for(i)).block for i in range(n)]
    big = log.append([ops_for(i) for i in range(2000)]).block
    has_validate = hasattr(codec, "validate")
    print(f"\nvalid entries ({len(blocks[-1])}-byte typical entry; large entry {len(big):,} bytes)")
    for label, data in (("typical", blocks), ("large", [big] * max(1, n // 200))):
        count = len(data)

        def each(fn: Callable[[bytes], object], data: list[bytes] = data) -> Callable[[], None]:
            def run() -> None:
                for block in data:
                    fn(block)

            return run

        rows: list[tuple[str, Callable[[], None]]] = [
            ("raw cbor2.loads", each(cbor2.loads)),
            ("decode_entry (with signature check)", each(decode_entry)),
            (
                "decode_entry (verify_signature=False)",
                each(lambda b: decode_entry(b, verify_signature=False)),
            ),
            ("codec.decode", each(codec.decode)),
        ]
        if has_validate:
            rows.append(("codec.validate (the strict parser alone)", each(codec.validate)))
        for name, fn in rows:
            per = best(fn, 1, repeat) / count
            print(
                f"  {label:<8} {name:<44} {1 / per:>10,.0f} /s  {per * 1e6:>9.2f} µs  {per / len(data[0]) * 1e9:>6.1f} ns/byte"
            )


def hostile(repeat: int) -> None:
    n = codec.MAX_ITEMS - 1
    cases: list[tuple[str, bytes]] = []
    bomb = sharing_bomb(26)
    cases.append(("value-sharing bomb in an entry (2**26 leaves)", signed_block_with_ops(bomb)))
    cases.append(("lists nested 1,000,000 deep", b"\x81" * 1_000_000 + b"\x00"))
    cases.append(("list announcing 2**64 - 1 items", b"\x9b" + b"\xff" * 8 + b"\x00" * 100))
    cases.append(("bytes announcing 2**64 - 1 bytes", b"\x5b" + b"\xff" * 8 + b"\x00" * 100))
    cases.append(("list of 4M items (over the item limit)", b"\x9a\x00\x40\x00\x00" + b"\x00" * (4 << 20)))
    cases.append((f"list of {n:,} zeros (at the item limit)", b"\x9a" + n.to_bytes(4) + b"\x00" * n))
    cases.append((f"list of {n:,} empty lists", b"\x9a" + n.to_bytes(4) + b"\x80" * n))
    cases.append((f"list of {n // 2:,} [0]", codec.encode([[0]] * (n // 2))))
    cases.append((f"list of {n:,} one-letter strings", codec.encode(["a"] * n)))
    cases.append(("map of 200,000 keys", codec.encode({f"key {i:07}": i for i in range(200_000)})))
    cases.append(("one 4 MiB byte string", codec.encode(b"x" * (4 << 20))))
    print("\nhostile and extreme inputs (codec.decode; decode_entry adds the CID hash of the bytes)")
    for label, data in cases:
        fn = (
            (lambda d=data: decode_entry(d)) if data.startswith(b"\xa7") else (lambda d=data: codec.decode(d))
        )
        per = best(fn, 1, repeat)
        print(
            f"  {label:<48} {len(data):>10,} B  {per * 1e3:>9.3f} ms  {per / len(data) * 1e9:>7.1f} ns/byte"
            f"  {outcome(fn)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000, help="typical entries (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement, best kept (default 3)")
    parser.add_argument("--valid-only", action="store_true", help="only valid entries")
    args = parser.parse_args()
    print(
        f"strict decoding benchmark: Python {platform.python_version()}, cbor2 {version('cbor2')},"
        f" best of {args.repeat}"
    )
    valid(args.entries, args.repeat)
    if not args.valid_only:
        hostile(args.repeat)


if __name__ == "__main__":
    main()
