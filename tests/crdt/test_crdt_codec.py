"""encode_state / decode_state: exact round trips, canonical bytes, compactness, strict decoding."""

from __future__ import annotations

import cbor2
import pytest

from p2pdb.crdt import (
    Cell,
    Contribution,
    RowState,
    StateDecodeError,
    decode_state,
    encode_state,
)
from p2pdb.log.clock import Clock

A, B = b"\xaa" * 32, b"\xbb" * 32


def exact(state: RowState) -> object:
    """Everything in ``state`` with value types and signs of zero, independent of dict order."""

    def typed(v: object) -> str:
        return f"{type(v).__name__}:{v!r}"

    cells = sorted((c, typed(cell.value), cell.version) for c, cell in state.cells.items())
    contribs = sorted(
        (a, c.time, sorted((k, typed(v)) for k, v in c.sums.items())) for a, c in state.contribs.items()
    )
    return (state.cl, cells, contribs)


def full_state() -> RowState:
    return RowState(
        5,
        {
            "i": Cell(-(2**70), Clock(3, B)),
            "f": Cell(1.0, Clock(3, A)),
            "z": Cell(-0.0, Clock(4, A)),
            "s": Cell("é", Clock(1, B)),
            "b": Cell(b"\x00\xff", Clock(2, A)),
            "n": Cell(None, Clock(2**40, B)),
        },
        {B: Contribution(7, {"hits": 3, "score": 0.5}), A: Contribution(2, {"hits": -1})},
    )


@pytest.mark.parametrize(
    "state",
    [RowState(), RowState(2), RowState(1, {"a": Cell(1, Clock(1, A))}), full_state()],
)
def test_round_trip_is_exact(state: RowState) -> None:
    data = encode_state(state)
    back = decode_state(data)
    assert back == state
    # Types survive too (1 vs 1.0, -0.0): equal states re-encode to the same bytes.
    assert encode_state(back) == data
    assert {k: type(c.value) for k, c in back.cells.items()} == {
        k: type(c.value) for k, c in state.cells.items()
    }


def test_nan_round_trips() -> None:
    state = RowState(1, {"x": Cell(float("nan"), Clock(1, A))})
    value = decode_state(encode_state(state)).cells["x"].value
    assert isinstance(value, float) and value != value


def test_bytes_do_not_depend_on_insertion_order() -> None:
    s = full_state()
    shuffled = RowState(s.cl, dict(reversed(list(s.cells.items()))), dict(reversed(list(s.contribs.items()))))
    assert encode_state(shuffled) == encode_state(s)


def test_compact() -> None:
    assert len(encode_state(RowState(2))) == 3
    cols = ("id", "qty", "price")
    row = RowState(1, {c: Cell(7, Clock(1000, A)) for c in cols})
    # One 32-byte author key for the whole row; then per cell its name and about 6 bytes.
    assert len(encode_state(row)) <= 4 + 34 + 1 + sum(1 + len(c) for c in cols) + 3 * 6
    two_authors = RowState(1, {**row.cells, "x": Cell(7, Clock(1000, B))})
    assert len(encode_state(two_authors)) - len(encode_state(row)) <= 34 + 2 + 6


@pytest.mark.parametrize(
    "item",
    [
        [2, 1],  # unknown format version
        [1],
        [1, -1],
        [1, True],
        [1, 1, [A], {"a": [1, 1, 0]}, [], []],
        [1, 2, [A], {"a": [1, 1, 0]}],  # a deleted row with cells
        [1, 1, [B, A], {"a": [1, 1, 0]}],  # authors not sorted
        [1, 1, [A, A], {"a": [1, 1, 0]}],
        [1, 1, ["x"], {"a": [1, 1, 0]}],
        [1, 1, [A], {"a": [1, 1, 1]}],  # author index out of range
        [1, 1, [A], {"a": [True, 1, 0]}],
        [1, 1, [A], {"a": [[1], 1, 0]}],
        [1, 1, [A], {"a": [1, -1, 0]}],
        [1, 1, [A], {"a": [1, 1]}],
        [1, 1, [A], {1: [1, 1, 0]}],
        [1, 1, [A], [["a", 1, 1, 0]]],
        [1, 1, [A], {}, [[0, 1, {"n": "1"}]]],
        [1, 1, [A], {}, [[0, 1, {"n": 1}], [0, 2, {"n": 1}]]],
        [1, 1, [A], {}, [[0, 1, [1]]]],
    ],
)
def test_malformed_states_are_refused(item: object) -> None:
    with pytest.raises(StateDecodeError):
        decode_state(cbor2.dumps(item))


@pytest.mark.parametrize("data", [b"", b"\xff", encode_state(RowState(1)) + b"\x00", b"\x5f"])
def test_bad_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(StateDecodeError):
        decode_state(data)
