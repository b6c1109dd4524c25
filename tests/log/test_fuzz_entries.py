"""The entry-decoder fuzzer (bench/fuzz_entries.py) at a small count, as CI runs it.

The full run, for the record: ``python bench/fuzz_entries.py --count 1000000``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from p2pdb.log import codec, decode_entry

FUZZER = Path(__file__).resolve().parents[2] / "bench" / "fuzz_entries.py"


def load_fuzzer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_entries", FUZZER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fuzz() -> ModuleType:
    return load_fuzzer()


def test_seeds_are_valid_entries_and_values(fuzz: ModuleType) -> None:
    blocks, values = fuzz.make_seeds()
    assert len(blocks) > 30 and len(values) > 30
    assert all(decode_entry(block).block == block for block in blocks)
    assert any(len(decode_entry(block).parents) >= 3 for block in blocks)  # a merge
    for data in blocks + values:
        assert codec.encode(codec.decode(data)) == data
        assert fuzz.walk(data)[0].end == len(data)


def test_every_mutator_changes_its_input(fuzz: ModuleType) -> None:
    import random

    blocks, values = fuzz.make_seeds()
    ctx = fuzz.Ctx(random.Random(7), blocks + values)
    for mutator in [*fuzz.STRUCTURAL, *fuzz.BYTEWISE]:
        outputs = [mutator(ctx, ctx.rng.choice(ctx.seeds)) for _ in range(50)]
        assert any(out not in ctx.seeds for out in outputs), mutator.__name__


def test_fuzzer_finds_nothing_at_a_small_count(fuzz: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    report = fuzz.run(count=8_000, seed=20_240_610)
    fuzz.print_report(report, fuzz.DEFAULT_BOUND_MS)
    output = capsys.readouterr().out
    assert report.failures == [], output
    assert report.count == 8_000
    assert report.slowest[0] < fuzz.DEFAULT_BOUND_MS / 1e3
    # Every kind of refusal was reached, and the valid seeds still decode.
    assert {"MalformedEntry", "NonCanonicalEncoding", "InvalidSignature", "accepted"} <= set(
        report.entry_outcomes
    )
    assert set(report.codec_outcomes) == {"MalformedEntry", "NonCanonicalEncoding", "accepted"}
    assert "inputs/s" in output and "slowest input" in output
