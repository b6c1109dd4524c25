"""The verifier process (p2pdb.log.verifier): it passes exactly the blocks the log would accept on
its own checks, the log trusts nothing else, and a worker that dies only costs speed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

from p2pdb.log import CID, Log, Manifest, MemoryBlockStore, cid_for_block
from p2pdb.log.errors import CIDMismatch, InvalidSignature
from p2pdb.log.verifier import MIN_BLOCKS, Verifier, check_blocks

from .helpers import ALICE, BOB, craft_block, unsigned_fields

SHOP = Manifest("shop")


def history(count: int) -> list[bytes]:
    log = Log(ALICE, SHOP, MemoryBlockStore())
    return [log.append({"n": i}).block for i in range(count)]


def forged() -> bytes:
    """An entry whose signature is ALICE's over other bytes (claimed by ALICE, so access allows it)."""
    fields = unsigned_fields(ALICE, SHOP.address, time=1, ops={"forged": True})
    return craft_block(fields, ALICE, sig=ALICE.sign(b"something else"))


def test_the_worker_passes_exactly_what_verifies() -> None:
    good = history(5)
    bad_sig = forged()
    corrupt = good[2][:-1] + bytes([good[2][-1] ^ 1])
    passed = check_blocks([*good, bad_sig, corrupt, b"\xff\x00"], 1 << 20)
    assert passed == [bytes(cid_for_block(b)) for b in good]


def test_the_log_checks_what_the_verifier_did_not_pass() -> None:
    good = history(3)
    bad = forged()
    checked = {CID(c) for c in check_blocks([*good, bad], 1 << 20)}
    plain, trusting = Log(BOB, SHOP, MemoryBlockStore()), Log(BOB, SHOP, MemoryBlockStore())
    expected = plain.join([*good, bad])
    got = trusting.join([*good, bad], checked)
    assert [type(e) for e in got.rejected] == [type(e) for e in expected.rejected] == [InvalidSignature]
    assert trusting.heads == plain.heads and len(trusting) == len(plain) == 3


def test_a_checked_cid_announced_for_other_bytes_is_not_trusted() -> None:
    """Only bytes the log hashed itself are matched against the checked set: a block announced
    under a checked CID but carrying other bytes is verified in full (and refused)."""
    good = history(2)
    bad = forged()
    checked = {cid_for_block(good[0])}
    log = Log(BOB, SHOP, MemoryBlockStore())
    result = log.join([(cid_for_block(good[0]), bad)], checked)
    assert [type(e) for e in result.rejected] == [CIDMismatch] and len(log) == 0


def test_batches_go_through_the_worker_in_order() -> None:
    async def main() -> None:
        verifier = Verifier()
        try:
            good = history(3 * MIN_BLOCKS)
            bad = forged()
            pieces = [good[:MIN_BLOCKS], [*good[MIN_BLOCKS : 2 * MIN_BLOCKS], bad], good[2 * MIN_BLOCKS :]]
            futures = [verifier.submit(p, 1 << 20) for p in pieces]
            assert verifier.submit(good[:3], 1 << 20) is None  # small batches stay in the node
            results = [await f for f in futures if f is not None]
            assert results == [{cid_for_block(b) for b in p if b != bad} for p in pieces]
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_a_dead_worker_costs_only_speed() -> None:
    async def main() -> None:
        verifier = Verifier()
        good = history(MIN_BLOCKS)
        first = verifier.submit(good, 1 << 20)
        assert first is not None and await first == {cid_for_block(b) for b in good}
        assert verifier._proc is not None
        verifier._proc.kill()
        await verifier._proc.wait()
        second = verifier.submit(good, 1 << 20)  # sent before or after it noticed: nothing checked
        assert second is None or await second == set()
        assert verifier.submit(good, 1 << 20) is None  # and it is not tried again
        await verifier.aclose()

    asyncio.run(main())


def test_an_idle_worker_exits_and_the_next_batch_starts_another() -> None:
    async def main() -> None:
        verifier = Verifier()
        verifier.idle_seconds = 0.2
        good = history(MIN_BLOCKS)
        try:
            first = verifier.submit(good, 1 << 20)
            assert first is not None and await first == {cid_for_block(b) for b in good}
            worker = verifier._proc
            assert worker is not None
            async with asyncio.timeout(10):
                while worker.returncode is None:  # it exits by itself (its stdin closed)
                    await asyncio.sleep(0.05)
            assert verifier.retired == 1 and verifier._proc is None
            second = verifier.submit(good, 1 << 20)  # not broken: a new worker takes it
            assert second is not None and await second == {cid_for_block(b) for b in good}
            assert verifier._proc is not None and verifier._proc is not worker
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_a_program_without_a_main_guard_can_use_it() -> None:
    """The worker is ``python -m p2pdb.log.verifier``, not a multiprocessing child: it never runs
    the parent's main module again (a multiprocessing spawn did, and failed, for a plain script)."""
    script = textwrap.dedent(
        """
        import asyncio
        from p2pdb.log import Log, Manifest, MemoryBlockStore, Identity
        from p2pdb.log.verifier import Verifier
        log = Log(Identity.generate(), Manifest("shop"), MemoryBlockStore())
        blocks = [log.append({"n": i}).block for i in range(40)]
        async def main():
            verifier = Verifier()
            print(len(await verifier.submit(blocks, 1 << 20)))
            await verifier.aclose()
        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "40"
