"""Unit and property tests of the encoding pieces: framing, reader, values, eager runner."""

from __future__ import annotations

import asyncio
import datetime
import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.sql.protocol import Column, ColumnFlag, FieldType
from p2pdb.sql.protocol.binary import binary_encoder, decode_param
from p2pdb.sql.protocol.eager import run_eagerly
from p2pdb.sql.protocol.errors import MalformedPacket, MySQLError
from p2pdb.sql.protocol.packets import (
    PacketReader,
    PacketTooLarge,
    PayloadReader,
    frame,
    lenenc_bytes,
    lenenc_int,
)
from p2pdb.sql.protocol.text import text_bytes

CHUNK = 0xFFFFFF


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_lenenc_int_round_trip(n: int) -> None:
    assert PayloadReader(lenenc_int(n)).lenenc_int() == n


@given(st.binary(max_size=70000))
@settings(max_examples=30)
def test_lenenc_bytes_round_trip(b: bytes) -> None:
    r = PayloadReader(lenenc_bytes(b) + b"tail")
    assert r.lenenc_bytes() == b and r.rest() == b"tail"


def test_payload_reader_bounds() -> None:
    r = PayloadReader(b"\x01\x02")
    with pytest.raises(MalformedPacket):
        r.u32()
    with pytest.raises(MalformedPacket):
        PayloadReader(b"\xfc\x05").lenenc_bytes()
    with pytest.raises(MalformedPacket):
        PayloadReader(b"\xff").lenenc_int()
    assert PayloadReader(b"abc").nul_bytes() == b"abc"


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=1, max_value=50))
@settings(max_examples=50)
def test_reader_reassembles_any_split(payloads: list[bytes], step: int) -> None:
    stream = b"".join(frame(p, i & 0xFF)[0] for i, p in enumerate(payloads))
    reader = PacketReader(1 << 20)
    got = []
    for i in range(0, len(stream), step):
        reader.feed(stream[i : i + step])
        while (packet := reader.next_packet()) is not None:
            got.append(packet)
    assert got == [(i & 0xFF, p) for i, p in enumerate(payloads)]


def test_reader_joins_16mib_continuations() -> None:
    payload = b"a" * CHUNK + b"bc"
    data, next_seq = frame(payload, 3)
    assert next_seq == 5 and len(data) == len(payload) + 8
    reader = PacketReader(32 << 20)
    reader.feed(data)
    assert reader.next_packet() == (3, payload)
    exact, next_seq = frame(b"z" * CHUNK, 0)  # exactly one chunk: an empty packet must follow
    assert next_seq == 2 and exact.endswith(b"\x00\x00\x00\x01")
    reader.feed(exact)
    assert reader.next_packet() == (0, b"z" * CHUNK)


def test_reader_rejects_broken_continuation_sequence() -> None:
    data = struct.pack("<I", CHUNK) + b"a" * CHUNK + struct.pack("<I", 2 | (7 << 24)) + b"xx"
    reader = PacketReader(32 << 20)
    reader.feed(data)
    with pytest.raises(MalformedPacket):
        reader.next_packet()


def test_reader_limit_raises_on_the_header() -> None:
    reader = PacketReader(100)
    reader.feed(struct.pack("<I", 101))  # only the header: no need to wait for the body
    with pytest.raises(PacketTooLarge):
        reader.next_packet()


def test_reader_skips_oversized_packet_then_reports_its_last_sequence_id() -> None:
    reader = PacketReader(100)
    reader.skip_oversized = True
    big = b"q" * (CHUNK + 10)
    data, _ = frame(big, 0)
    for i in range(0, len(data), 1 << 20):
        reader.feed(data[i : i + (1 << 20)])
        if i + (1 << 20) < len(data):
            assert reader.next_packet() is None
            assert reader.buffered() < 8  # discarded as it arrives, never buffered
    with pytest.raises(PacketTooLarge) as info:
        reader.next_packet()
    assert info.value.seq == 1 and info.value.size == len(big)
    reader.feed(frame(b"next", 0)[0])
    assert reader.next_packet() == (0, b"next")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, b"1"),
        (0.1, b"0.1"),
        (1e20, b"1e20"),
        (Decimal("1E+3"), b"1000"),
        (Decimal("-0.00012"), b"-0.00012"),
        (True, b"1"),
        (datetime.datetime(2020, 1, 2, 3, 4, 5, 6), b"2020-01-02 03:04:05.000006"),
        (datetime.datetime(1, 1, 1), b"0001-01-01 00:00:00"),
        (datetime.date(2020, 1, 2), b"2020-01-02"),
        (datetime.time(1, 2, 3), b"01:02:03"),
        (datetime.timedelta(hours=-838, minutes=-59, seconds=-59), b"-838:59:59"),
        (datetime.timedelta(days=2, microseconds=10), b"48:00:00.000010"),
        (datetime.timedelta(seconds=-1, microseconds=500000), b"-00:00:00.500000"),
        ("snow ☃", "snow ☃".encode()),
        (bytearray(b"ab"), b"ab"),
    ],
)
def test_text_representation(value: object, text: bytes) -> None:
    assert text_bytes(value) == text  # type: ignore[arg-type]


_INT_RANGES = {
    FieldType.TINY: 8,
    FieldType.SHORT: 16,
    FieldType.INT24: 32,
    FieldType.LONG: 32,
    FieldType.LONGLONG: 64,
}

_TIME = st.timedeltas(
    min_value=-datetime.timedelta(hours=838, minutes=59, seconds=59),
    max_value=datetime.timedelta(hours=838, minutes=59, seconds=59),
)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[Column, object]:
    kind = draw(
        st.sampled_from(["int", "uint", "double", "float", "datetime", "date", "time", "str", "blob", "dec"])
    )
    if kind in ("int", "uint"):
        ftype = draw(st.sampled_from(sorted(_INT_RANGES)))
        bits = _INT_RANGES[ftype]
        if kind == "uint":
            col = Column("c", ftype, flags=ColumnFlag.UNSIGNED)
            return col, draw(st.integers(0, 2**bits - 1))
        return Column("c", ftype), draw(st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    if kind == "double":
        return Column("c", FieldType.DOUBLE), draw(st.floats(allow_nan=False))
    if kind == "float":
        return Column("c", FieldType.FLOAT), draw(st.floats(width=32, allow_nan=False))
    if kind == "datetime":
        return Column("c", FieldType.DATETIME), draw(st.datetimes())
    if kind == "date":
        return Column("c", FieldType.DATE), draw(st.dates())
    if kind == "time":
        return Column("c", FieldType.TIME), draw(_TIME)
    if kind == "str":
        return Column("c", FieldType.VAR_STRING), draw(st.text())
    if kind == "blob":
        return Column("c", FieldType.BLOB, charset=63), draw(st.binary())
    return Column("c", FieldType.NEWDECIMAL), draw(st.decimals(allow_nan=False, allow_infinity=False))


@given(typed_values())
@settings(max_examples=300)
def test_binary_value_round_trip(case: tuple[Column, object]) -> None:
    column, value = case
    encoded = binary_encoder(column)(value)  # type: ignore[arg-type]
    r = PayloadReader(encoded)
    decoded = decode_param(r, column.type, column.unsigned)
    assert r.remaining() == 0
    if column.type == FieldType.NEWDECIMAL:
        assert decoded == value
    else:
        assert decoded == value, (column, value, decoded)


def test_binary_encoders_reject_bad_values() -> None:
    with pytest.raises(MySQLError) as info:
        binary_encoder(Column("t", FieldType.TINY))(300)
    assert info.value.code == 1690
    with pytest.raises(MySQLError):
        binary_encoder(Column("n", FieldType.LONG))("abc")
    with pytest.raises(MySQLError):
        binary_encoder(Column("d", FieldType.DATE))("not a date")
    assert binary_encoder(Column("n", FieldType.LONG))("12") == struct.pack("<i", 12)
    assert binary_encoder(Column("n", FieldType.LONG))(3.0) == struct.pack("<i", 3)


def test_column_defaults() -> None:
    n = Column("n", FieldType.LONGLONG)
    assert n.charset == 63 and n.flags & ColumnFlag.NUM and n.length == 20
    s = Column("s")
    assert s.charset == 45 and not s.flags & ColumnFlag.BINARY
    b = Column("b", FieldType.BLOB, charset=63)
    assert b.flags & ColumnFlag.BLOB and b.flags & ColumnFlag.BINARY
    assert Column("x", FieldType.DOUBLE).decimals == 31
    assert hash(Column("a")) == hash(Column("a")) and Column("a") == Column("a") != Column("b")


async def test_run_eagerly_inline_and_suspending() -> None:
    loop = asyncio.get_running_loop()
    trace: list[str] = []

    async def inline() -> None:
        trace.append("inline")

    assert run_eagerly(inline(), loop) is None
    assert trace == ["inline"]

    fut: asyncio.Future[int] = loop.create_future()

    async def suspends() -> None:
        trace.append("before")
        trace.append(f"got {await fut}")
        await asyncio.sleep(0)
        trace.append("after")

    task = run_eagerly(suspends(), loop)
    assert task is not None and trace[-1] == "before"
    fut.set_result(5)
    await asyncio.wait_for(task, 5)
    assert trace[-2:] == ["got 5", "after"]

    gate: asyncio.Future[None] = loop.create_future()

    async def cancelled() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            trace.append("cancelled")
            raise

    task = run_eagerly(cancelled(), loop)
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert trace[-1] == "cancelled"
