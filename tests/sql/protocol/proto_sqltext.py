"""Test scaffolding: the little MySQL-to-SQLite text handling the test backend needs."""

from __future__ import annotations

import sqlite3

from p2pdb.sql.protocol import ErrorCode, MySQLError

_ESCAPES = {"0": b"\x00", "n": b"\n", "r": b"\r", "t": b"\t", "Z": b"\x1a", "b": b"\b"}


def mysql_literals_to_sqlite(sql: str) -> str:
    """Rewrite MySQL string literals (backslash escapes, ``_binary'..'``) as SQLite literals."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch not in "'\"":
            out.append(ch)
            i += 1
            continue
        binary = "".join(out).endswith("_binary")
        if binary:
            del out[-7:]
        raw = bytearray()
        i += 1
        while i < n:
            c = sql[i]
            if c == "\\" and i + 1 < n:
                nxt = sql[i + 1]
                raw += _ESCAPES.get(nxt, nxt.encode("utf-8", "surrogateescape"))
                i += 2
            elif c == ch and i + 1 < n and sql[i + 1] == ch:
                raw += c.encode()
                i += 2
            elif c == ch:
                i += 1
                break
            else:
                raw += c.encode("utf-8", "surrogateescape")
                i += 1
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            binary = True
        if binary or "\x00" in text:
            out.append(f"X'{bytes(raw).hex()}'")
        else:
            out.append("'" + text.replace("'", "''") + "'")
    return "".join(out)


def split_statements(sql: str) -> list[str]:
    out, start = [], 0
    for i, ch in enumerate(sql):
        if ch == ";" and sqlite3.complete_statement(sql[start : i + 1]):
            out.append(sql[start:i])
            start = i + 1
    out.append(sql[start:])
    return [s for s in (x.strip() for x in out) if s]


def translate_error(exc: sqlite3.Error, database: str | None) -> MySQLError:
    msg = str(exc)
    if msg.startswith("no such table: "):
        table = msg.removeprefix("no such table: ")
        return MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{database}.{table}' doesn't exist")
    if msg.startswith("no such column: "):
        return MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{msg[16:]}' in 'field list'")
    if "syntax error" in msg or "incomplete input" in msg or "unrecognized token" in msg:
        return MySQLError(ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax: {msg}")
    if msg.startswith("UNIQUE constraint failed"):
        return MySQLError(ErrorCode.DUP_ENTRY, f"Duplicate entry for key: {msg}")
    if msg.startswith("NOT NULL constraint failed"):
        return MySQLError(ErrorCode.BAD_NULL_ERROR, f"Column cannot be null: {msg}")
    if "already exists" in msg:
        return MySQLError(ErrorCode.TABLE_EXISTS_ERROR, msg)
    return MySQLError(ErrorCode.UNKNOWN_ERROR, msg)
