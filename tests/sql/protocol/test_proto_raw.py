"""Exact protocol behaviour checked with a raw socket client: EOF modes, commands, prepared statements."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from conftest import ServerThread
from proto_backend import TYPED_ROW
from proto_rawclient import (
    BASE_CAPS,
    Err,
    Ok,
    RawClient,
    Rows,
    execute_body,
    lenenc_str,
    parse_column,
    parse_err,
    parse_ok,
    text_row,
)

from p2pdb.sql.protocol import Capability, Command, FieldType, ServerStatus
from p2pdb.sql.protocol.binary import decode_param
from p2pdb.sql.protocol.packets import PayloadReader


@pytest.fixture(params=[False, True], ids=["eof", "deprecate-eof"])
def client(request: pytest.FixtureRequest, server: ServerThread) -> Iterator[RawClient]:
    caps = BASE_CAPS | Capability.MULTI_STATEMENTS
    if request.param:
        caps |= Capability.DEPRECATE_EOF
    with RawClient(server.port) as c:
        assert isinstance(c.login(caps=caps, database="test"), Ok)
        yield c


def test_handshake_advertises_capabilities_and_plugin(server: ServerThread) -> None:
    with RawClient(server.port) as c:
        h = c.handshake
        assert h[0] == 10
        r = PayloadReader(h, 1)
        version = r.nul_bytes().decode()
        assert version.startswith("8.0")
        r.u32()  # connection id
        r.fixed(9)
        caps = r.u16()
        r.u8()
        status = r.u16()
        caps |= r.u16() << 16
        for flag in (
            Capability.PROTOCOL_41,
            Capability.SECURE_CONNECTION,
            Capability.PLUGIN_AUTH,
            Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA,
            Capability.CONNECT_WITH_DB,
            Capability.MULTI_STATEMENTS,
            Capability.MULTI_RESULTS,
            Capability.PS_MULTI_RESULTS,
            Capability.DEPRECATE_EOF,
            Capability.CONNECT_ATTRS,
            Capability.SSL,
            Capability.TRANSACTIONS,
            Capability.FOUND_ROWS,
        ):
            assert caps & flag, flag
        assert status & ServerStatus.AUTOCOMMIT
        assert h.endswith(b"caching_sha2_password\x00")


def test_query_result_in_both_eof_modes(client: RawClient) -> None:
    (rows,) = client.query("SELECT 1 AS a, NULL AS b, 'x' AS c")
    assert isinstance(rows, Rows)
    assert [c[0] for c in rows.columns] == ["a", "b", "c"]
    assert [text_row(r) for r in rows.rows] == [[b"1", None, b"x"]]
    assert rows.status & ServerStatus.AUTOCOMMIT


def test_multi_results_flags(client: RawClient) -> None:
    results = client.query("SELECT 1; CREATE TABLE q (x INTEGER); INSERT INTO q VALUES (5); SELECT x FROM q")
    assert [type(r) for r in results] == [Rows, Ok, Ok, Rows]
    assert all(r.status & ServerStatus.MORE_RESULTS_EXISTS for r in results[:-1])  # type: ignore[union-attr]
    assert not results[-1].status & ServerStatus.MORE_RESULTS_EXISTS  # type: ignore[union-attr]
    assert isinstance(results[2], Ok) and results[2].affected == 1 and results[2].last_id == 1


def test_error_packet_sqlstate(client: RawClient) -> None:
    (err,) = client.query("SELECT * FROM nowhere")
    assert err == Err(1146, "42S02", "Table 'test.nowhere' doesn't exist")


def test_unknown_command(client: RawClient) -> None:
    for cmd in (Command.SLEEP, Command.CHANGE_USER, 0x42, 0xFF):
        client.command(cmd)
        err = client.reply()
        assert isinstance(err, Err) and (err.code, err.sqlstate) == (1047, "08S01")
    assert isinstance(client.query("SELECT 1")[0], Rows)


def test_ping_statistics_and_set_option(client: RawClient) -> None:
    client.command(Command.PING)
    assert isinstance(client.reply(), Ok)
    client.command(Command.STATISTICS)
    assert client.read().startswith(b"Uptime: ")
    client.command(Command.SET_OPTION, struct.pack("<H", 1))  # multi-statements off
    reply = client.read()
    assert reply[0] == 0xFE
    (err,) = client.query("SELECT 1; SELECT 2")
    assert isinstance(err, Err) and err.code == 1064
    client.command(Command.SET_OPTION, struct.pack("<H", 0))
    client.read()
    assert len(client.query("SELECT 1; SELECT 2")) == 2
    client.command(Command.SET_OPTION, struct.pack("<H", 9))
    assert isinstance(client.reply(), Err)


def test_init_db_and_field_list(client: RawClient) -> None:
    client.command(Command.INIT_DB, b"other")
    assert isinstance(client.reply(), Ok)
    client.query("CREATE TABLE fl (alpha INTEGER, beta TEXT)")
    client.command(Command.FIELD_LIST, b"fl\x00")
    names = []
    while True:
        p = client.read()
        if p[0] == 0xFE and len(p) < 9:
            break
        assert p.endswith(b"\xfb")  # the COM_FIELD_LIST default-value field
        names.append(parse_column(p[:-1])[0])
    assert names == ["alpha", "beta"]
    client.command(Command.FIELD_LIST, b"missing\x00")
    assert isinstance(client.reply(), Err)


def _prepare(client: RawClient, sql: str) -> tuple[int, int, int]:
    client.command(Command.STMT_PREPARE, sql.encode())
    p = client.read()
    assert p[0] == 0, parse_err(p) if p[0] == 0xFF else p
    _, stmt_id, ncols, nparams, _, _warnings = struct.unpack("<BIHHBH", p)
    eof = not client.caps & Capability.DEPRECATE_EOF
    for count in (nparams, ncols):
        if count:
            for _ in range(count):
                parse_column(client.read())
            if eof:
                assert client.read()[0] == 0xFE
    return stmt_id, ncols, nparams


def test_prepared_type_reuse_and_long_data(client: RawClient) -> None:
    client.query("CREATE TABLE pr (a INTEGER, b TEXT, c BLOB)")
    stmt_id, ncols, nparams = _prepare(client, "INSERT INTO pr VALUES (?, ?, ?)")
    assert (ncols, nparams) == (0, 3)
    params: list[tuple[int, bytes | None]] = [
        (FieldType.LONGLONG, struct.pack("<q", 1)),
        (FieldType.VAR_STRING, lenenc_str("one")),
        (FieldType.BLOB, lenenc_str(b"\x00\xff")),
    ]
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params))
    assert isinstance(client.reply(), Ok)
    # Second execution: new-params-bound = 0, the types of the first execution are reused.
    params2: list[tuple[int, bytes | None]] = [
        (FieldType.LONGLONG, struct.pack("<q", 2)),
        (FieldType.VAR_STRING, None),
        (FieldType.BLOB, lenenc_str(b"two")),
    ]
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params2, bound=False))
    assert isinstance(client.reply(), Ok)
    # Third: parameter 2 (c) comes as long data in two pieces.
    client.command(Command.STMT_SEND_LONG_DATA, struct.pack("<IH", stmt_id, 2) + b"long-")
    client.command(Command.STMT_SEND_LONG_DATA, struct.pack("<IH", stmt_id, 2) + b"data")
    params3: list[tuple[int, bytes | None]] = [
        (FieldType.LONGLONG, struct.pack("<q", 3)),
        (FieldType.VAR_STRING, lenenc_str("three")),
        (FieldType.BLOB, b""),
    ]
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params3))
    assert isinstance(client.reply(), Ok)
    # Fourth, as PHP mysqli (mysqlnd) sends a BLOB bound with 'b': long data, and the parameter flagged
    # NULL in the bitmap. MySQL takes the long data.
    client.command(Command.STMT_SEND_LONG_DATA, struct.pack("<IH", stmt_id, 2) + b"mysqlnd")
    params4: list[tuple[int, bytes | None]] = [
        (FieldType.LONGLONG, struct.pack("<q", 4)),
        (FieldType.VAR_STRING, lenenc_str("four")),
        (FieldType.BLOB, None),
    ]
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params4))
    assert isinstance(client.reply(), Ok)
    (rows,) = client.query("SELECT a, b, c FROM pr ORDER BY a")
    assert isinstance(rows, Rows)
    assert [text_row(r) for r in rows.rows] == [
        [b"1", b"one", b"\x00\xff"],
        [b"2", None, b"two"],
        [b"3", b"three", b"long-data"],
        [b"4", b"four", b"mysqlnd"],
    ]
    client.command(Command.STMT_RESET, struct.pack("<I", stmt_id))
    assert isinstance(client.reply(), Ok)
    client.command(Command.STMT_CLOSE, struct.pack("<I", stmt_id))  # no reply
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params))
    err = client.reply()
    assert isinstance(err, Err) and err.code == 1243


def test_parameter_types_follow_every_execution_that_sends_them(client: RawClient) -> None:
    """Clients resend the type block with each execution; a changed block (another type, or only
    the unsigned flag) is read anew, an unchanged one and new-params-bound = 0 keep the last."""
    client.query("CREATE TABLE tv (n INTEGER, v)")
    stmt_id, _, _ = _prepare(client, "INSERT INTO tv VALUES (?, ?)")
    tiny = int(FieldType.TINY)
    executions: list[tuple[list[tuple[int, bytes | None]], bool]] = [
        ([(FieldType.LONGLONG, struct.pack("<q", 1)), (FieldType.LONGLONG, struct.pack("<q", 7))], True),
        ([(FieldType.LONGLONG, struct.pack("<q", 2)), (FieldType.LONGLONG, struct.pack("<q", 8))], True),
        ([(FieldType.LONGLONG, struct.pack("<q", 3)), (FieldType.VAR_STRING, lenenc_str("seven"))], True),
        ([(FieldType.LONGLONG, struct.pack("<q", 4)), (FieldType.VAR_STRING, lenenc_str("kept"))], False),
        ([(FieldType.LONGLONG, struct.pack("<q", 5)), (tiny | 0x100, b"\xff")], True),  # unsigned
        ([(FieldType.LONGLONG, struct.pack("<q", 6)), (tiny, b"\xff")], True),  # the same type, signed
    ]
    for params, bound in executions:
        client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params, bound))
        assert isinstance(client.reply(), Ok)
    (rows,) = client.query("SELECT n, v FROM tv ORDER BY n")
    assert isinstance(rows, Rows)
    assert [text_row(r) for r in rows.rows] == [
        [b"1", b"7"],
        [b"2", b"8"],
        [b"3", b"seven"],
        [b"4", b"kept"],
        [b"5", b"255"],
        [b"6", b"-1"],
    ]


def test_execute_without_types_is_refused(client: RawClient) -> None:
    stmt_id, _, _ = _prepare(client, "SELECT ?")
    client.command(
        Command.STMT_EXECUTE, execute_body(stmt_id, [(FieldType.LONG, b"\x01\x00\x00\x00")], False)
    )
    err = client.reply()
    assert isinstance(err, Err) and err.code == 1210
    client.command(Command.STMT_EXECUTE, struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01\x08")  # truncated
    err = client.reply()
    assert isinstance(err, Err) and err.code == 1210
    assert isinstance(client.query("SELECT 1")[0], Rows)


def test_binary_rows_for_every_type(client: RawClient) -> None:
    stmt_id, ncols, _ = _prepare(client, "CALL typed_row()")
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, []))
    (rows,) = client.results(binary=True)
    assert isinstance(rows, Rows) and len(rows.rows) == 1
    payload = rows.rows[0]
    assert payload[0] == 0
    ncols = len(rows.columns)
    bitmap = payload[1 : 1 + (ncols + 9) // 8]
    r = PayloadReader(payload, 1 + len(bitmap))
    for i, (column, expected) in enumerate(TYPED_ROW):
        name, ftype, flags = rows.columns[i]
        assert (name, ftype) == (column.name, column.type)
        is_null = bool(bitmap[(i + 2) // 8] & (1 << ((i + 2) % 8)))
        assert is_null == (expected is None), name
        if is_null:
            continue
        value = decode_param(r, ftype, bool(flags & 0x20))
        if ftype == FieldType.BLOB:
            assert value == expected, name
        elif isinstance(expected, float):
            assert value == pytest.approx(expected), name
        else:
            assert value == expected, name
    assert r.remaining() == 0


def test_out_of_order_sequence_closes(server: ServerThread) -> None:
    with RawClient(server.port) as c:
        assert isinstance(c.login(), Ok)
        c.write(b"\x03SELECT 1", seq=5)  # a command must start at sequence id 0
        c.seq = 1
        p = c.read()
        assert parse_err(p).code == 1156
        with pytest.raises(ConnectionError):
            c.read()


def test_reset_connection_closes_statements(client: RawClient) -> None:
    stmt_id, _, _ = _prepare(client, "SELECT 1")
    client.command(Command.RESET_CONNECTION)
    ok = client.reply()
    assert isinstance(ok, Ok) and ok.status & ServerStatus.AUTOCOMMIT
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, []))
    err = client.reply()
    assert isinstance(err, Err) and err.code == 1243


def test_ok_packet_fields() -> None:
    from p2pdb.sql.protocol.resultset import ok_packet

    ok = parse_ok(ok_packet(300, 70000, 3, 2, "Rows matched: 1"))
    assert ok == Ok(300, 70000, 3, 2, b"Rows matched: 1")


def test_long_data_wins_over_a_null_flag(client: RawClient) -> None:
    """PHP mysqli binds a BLOB as NULL and sends it as long data: MySQL stores the long data."""
    client.query("CREATE TABLE ld (a INTEGER, c BLOB)")
    stmt_id, _, _ = _prepare(client, "INSERT INTO ld VALUES (?, ?)")
    client.command(Command.STMT_SEND_LONG_DATA, struct.pack("<IH", stmt_id, 1) + b"\x00blob\xff")
    params: list[tuple[int, bytes | None]] = [
        (FieldType.LONGLONG, struct.pack("<q", 1)),
        (FieldType.BLOB, None),
    ]
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params))
    assert isinstance(client.reply(), Ok)
    # Long data is used once: the next execution's NULL flag means NULL again.
    params[0] = (FieldType.LONGLONG, struct.pack("<q", 2))
    client.command(Command.STMT_EXECUTE, execute_body(stmt_id, params))
    assert isinstance(client.reply(), Ok)
    (rows,) = client.query("SELECT a, c FROM ld ORDER BY a")
    assert isinstance(rows, Rows)
    assert [text_row(r) for r in rows.rows] == [[b"1", b"\x00blob\xff"], [b"2", None]]
