"""``LOAD DATA LOCAL INFILE``: rows a client uploads, inserted as one statement.

The statement is answered in two steps. :func:`handle_load_data` reads the statement and returns a
:class:`~p2pdb.sql.protocol.results.LocalInfile` request; the protocol asks the client for the file
(a ``0xFB`` packet), reads its bytes and calls the request's ``load``, which splits them into rows as
MySQL does (``FIELDS TERMINATED BY``, ``[OPTIONALLY] ENCLOSED BY``, ``ESCAPED BY``, ``LINES STARTING
BY`` / ``TERMINATED BY``, ``IGNORE n LINES``, ``\\N`` for NULL, a column list) and inserts them through
prepared ``INSERT [IGNORE] / REPLACE`` statements in batches, all in one transaction: the rows are
checked, merged and replicated like any insert, and a failing row (strict mode) loads nothing.

``LOAD DATA INFILE`` without ``LOCAL`` would read a file of the server: refused with 1290, as MySQL does
with ``secure_file_priv`` unset. ``SET col = expr`` and ``@variables`` in the column list: 1235.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import LocalInfile, OkResult

if TYPE_CHECKING:
    from p2pdb.sql.lexer import Lexed
    from p2pdb.sql.session import SQLSession

BATCH = 500
_I = re.IGNORECASE | re.DOTALL
_STRING = r"'((?:[^'\\]|\\.|'')*)'"
_HEAD = re.compile(
    r"^\s*LOAD\s+DATA\s+(?:LOW_PRIORITY\s+|CONCURRENT\s+)?(LOCAL\s+)?INFILE\s+" + _STRING
    + r"\s*(REPLACE|IGNORE)?\s*INTO\s+TABLE\s+(?:`((?:[^`]|``)+)`|([\w$]+))"
    + r"(?:\s*\.\s*(?:`((?:[^`]|``)+)`|([\w$]+)))?\s*(.*)$",
    _I,
)  # fmt: skip
_CHARSET = re.compile(r"^(?:CHARACTER\s+SET|CHARSET)\s+\S+\s*", _I)
_SECTION = re.compile(r"^(FIELDS|COLUMNS|LINES)\s+", _I)
_OPTION = re.compile(
    r"^(TERMINATED\s+BY|OPTIONALLY\s+ENCLOSED\s+BY|ENCLOSED\s+BY|ESCAPED\s+BY|STARTING\s+BY)\s*"
    + _STRING
    + r"\s*",
    _I,
)
_IGNORE_LINES = re.compile(r"^IGNORE\s+(\d+)\s+(?:LINES|ROWS)\s*", _I)
_COLUMNS = re.compile(r"^\(([^()]*)\)\s*", _I)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


@dataclass(slots=True)
class Format:
    """How the file is written (MySQL's defaults: tab-separated, ``\\`` escapes, one row per line)."""

    fields_terminated: str = "\t"
    enclosed: str = ""
    escaped: str = "\\"
    lines_starting: str = ""
    lines_terminated: str = "\n"
    ignore_lines: int = 0


def _unquote(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            i += 1
            out.append(_ESCAPES.get(text[i], text[i]))
        elif ch == "'" and text[i + 1 : i + 2] == "'":
            out.append("'")
            i += 1
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _name(quoted: str | None, bare: str | None) -> str | None:
    if quoted is not None:
        return quoted.replace("``", "`")
    return bare


def handle_load_data(session: SQLSession, lexed: Lexed, text: str) -> LocalInfile:
    match = _HEAD.match(text.strip().rstrip(";"))
    if match is None:
        raise MySQLError(
            ErrorCode.PARSE_ERROR,
            "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
            f" version for the right syntax to use near '{text.strip()[:64]}' at line 1",
        )
    local, filename, mode = match.group(1), _unquote(match.group(2)), (match.group(3) or "").upper()
    first, second = _name(match.group(4), match.group(5)), _name(match.group(6), match.group(7))
    database, table = (first, second) if second is not None else (None, first)
    if not local:
        raise MySQLError(
            1290,
            "The MySQL server is running with the --secure-file-priv option so it cannot execute this statement",
        )
    fmt, columns = _options(match.group(8))
    db = session.backend.registry.get(database) if database else session._current_db()
    if db is None:
        raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{database}'")
    spec = db.catalog.tables.get(str(table))
    if spec is None:
        raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db.name}.{table}' doesn't exist")
    names = columns if columns is not None else [c.name for c in spec.columns]
    for name in names:
        if spec.column(name) is None:
            raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{name}' in 'field list'")
    verb = "REPLACE" if mode == "REPLACE" else "INSERT IGNORE" if mode == "IGNORE" else "INSERT"
    target = f"`{db.name.replace('`', '``')}`.`{spec.name.replace('`', '``')}`"
    column_list = ", ".join("`" + n.replace("`", "``") + "`" for n in names)
    statement = f"{verb} INTO {target} ({column_list}) VALUES "

    async def load(data: bytes) -> OkResult:
        rows = parse_rows(data.decode("utf-8", "surrogateescape"), fmt, len(names))
        return await _insert(session, statement, len(names), rows)

    return LocalInfile(filename, load)


def _options(rest: str) -> tuple[Format, list[str] | None]:
    fmt = Format()
    columns: list[str] | None = None
    rest = _CHARSET.sub("", rest.strip(), count=1)
    section = ""
    while rest:
        if match := _SECTION.match(rest):
            section = match.group(1).upper()
        elif section and (match := _OPTION.match(rest)):
            option, value = " ".join(match.group(1).upper().split()), _unquote(match.group(2))
            if section == "LINES":
                if option == "STARTING BY":
                    fmt.lines_starting = value
                elif option == "TERMINATED BY":
                    fmt.lines_terminated = value or "\n"
                else:
                    raise _syntax(rest)
            elif option == "TERMINATED BY":
                fmt.fields_terminated = value
            elif option.endswith("ENCLOSED BY"):
                fmt.enclosed = value[:1]
            elif option == "ESCAPED BY":
                fmt.escaped = value[:1]
            else:
                raise _syntax(rest)
        elif match := _IGNORE_LINES.match(rest):
            fmt.ignore_lines = int(match.group(1))
        elif match := _COLUMNS.match(rest):
            columns = [c.strip().strip("`") for c in match.group(1).split(",") if c.strip()]
            if any(c.startswith("@") for c in columns):
                raise MySQLError(
                    ErrorCode.NOT_SUPPORTED_YET,
                    "This version of P2PDB doesn't yet support user variables in LOAD DATA",
                )
        elif re.match(r"^SET\b", rest, _I):
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET, "This version of P2PDB doesn't yet support 'LOAD DATA ... SET'"
            )
        else:
            raise _syntax(rest)
        rest = rest[match.end() :].lstrip() if match else ""
    return fmt, columns


_SERVER_FILE = re.compile(r"\bINTO\s+(?:OUTFILE|DUMPFILE)\b", re.IGNORECASE)


def refuse_server_files(shape: str) -> None:
    """``SELECT ... INTO OUTFILE/DUMPFILE`` would write a file of the server: 1290, as MySQL with
    ``secure_file_priv`` unset (clients write their files themselves: ``mariadb -e ... > file``)."""
    if _SERVER_FILE.search(shape):
        raise _secure_file_priv()


def _secure_file_priv() -> MySQLError:
    return MySQLError(
        1290,
        "The MySQL server is running with the --secure-file-priv option so it cannot execute this statement",
    )


def _syntax(near: str) -> MySQLError:
    return MySQLError(
        ErrorCode.PARSE_ERROR,
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
        f" version for the right syntax to use near '{near[:64]}' at line 1",
    )


def parse_rows(text: str, fmt: Format, width: int) -> list[list[str | None]]:
    """The rows of a file in ``fmt``; each has ``width`` values (missing ones NULL, extra ones dropped,
    as MySQL does with warnings). ``\\N`` (or the word NULL, unquoted, when fields are enclosed) is NULL."""
    rows: list[list[str | None]] = []
    pos, n = 0, len(text)
    skip = fmt.ignore_lines
    term, line_end, enc, esc = fmt.fields_terminated, fmt.lines_terminated, fmt.enclosed, fmt.escaped
    while pos < n:
        if fmt.lines_starting:
            found = text.find(fmt.lines_starting, pos)
            if found < 0:
                break
            pos = found + len(fmt.lines_starting)
        fields: list[str | None] = []
        while True:
            value, pos, end_of_line = _field(text, pos, term, line_end, enc, esc)
            fields.append(value)
            if end_of_line:
                break
        if skip:
            skip -= 1
            continue
        if len(fields) == 1 and fields[0] == "" and width > 1:
            continue  # an empty line
        fields = (fields + [None] * width)[:width]
        rows.append(fields)
    return rows


def _field(text: str, pos: int, term: str, line_end: str, enc: str, esc: str) -> tuple[str | None, int, bool]:
    """One field from ``pos``: (value, position after its terminator, whether the line ended).

    The common field (not enclosed, no escape character) is found with two searches in C; any
    other goes through :func:`_field_walk`, which answers the same for every field."""
    if (
        line_end
        and not (enc and text.startswith(enc, pos))
        and not (esc and (esc in term or esc in line_end))
    ):
        n = len(text)
        stop = text.find(term, pos) if term else -1
        # a line end that starts before the terminator ends the field (the terminator wins a tie)
        end = text.find(line_end, pos, n if stop < 0 else stop + len(line_end) - 1)
        if end < 0:
            end = n if stop < 0 else stop
        if not esc or text.find(esc, pos, end) < 0:
            value = _plain(text[pos:end], enc)
            if end == n:
                return value, n, True
            if end == stop:
                return value, end + len(term), False
            return value, end + len(line_end), True
    return _field_walk(text, pos, term, line_end, enc, esc)


def _field_walk(
    text: str, pos: int, term: str, line_end: str, enc: str, esc: str
) -> tuple[str | None, int, bool]:
    """:func:`_field`, one character at a time (enclosed fields, escapes)."""
    n = len(text)
    out: list[str] = []
    quoted = bool(enc) and text.startswith(enc, pos)
    if quoted:
        pos += 1
    start = pos
    while pos < n:
        ch = text[pos]
        if esc and ch == esc and pos + 1 < n:
            nxt = text[pos + 1]
            if nxt == "N" and not out and pos == start and not quoted:
                after = pos + 2
                if after >= n or text.startswith(term, after) or text.startswith(line_end, after):
                    end_line = after >= n or (not text.startswith(term, after))
                    skip = 0 if after >= n else len(line_end) if end_line else len(term)
                    return None, after + skip, end_line
            out.append(_ESCAPES.get(nxt, nxt))
            pos += 2
            continue
        if quoted:
            if ch == enc:
                if text.startswith(enc, pos + 1):  # a doubled quote
                    out.append(enc)
                    pos += 2
                    continue
                after = pos + 1
                if after >= n:
                    return "".join(out), after, True
                if text.startswith(term, after):
                    return "".join(out), after + len(term), False
                if text.startswith(line_end, after):
                    return "".join(out), after + len(line_end), True
            out.append(ch)
            pos += 1
            continue
        if term and text.startswith(term, pos):
            return _plain("".join(out), enc), pos + len(term), False
        if text.startswith(line_end, pos):
            return _plain("".join(out), enc), pos + len(line_end), True
        out.append(ch)
        pos += 1
    return _plain("".join(out), enc), pos, True


def _plain(value: str, enc: str) -> str | None:
    return None if enc and value == "NULL" else value


async def _insert(session: SQLSession, statement: str, width: int, rows: list[list[str | None]]) -> OkResult:
    from p2pdb.sql.session import PreparedStatement

    own = session.txn is None
    if own:
        await session.execute("BEGIN", multi=False)
    affected = 0
    prepared: dict[int, PreparedStatement] = {}
    try:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            runner = prepared.get(len(batch))
            if runner is None:
                row = "(" + ", ".join(["?"] * width) + ")"
                runner = prepared[len(batch)] = PreparedStatement(
                    session, statement + ", ".join([row] * len(batch))
                )
            params: list[Any] = [value for fields in batch for value in fields]
            for result in await runner.execute(params):
                if isinstance(result, OkResult):
                    affected += result.affected_rows
        if own:
            await session.execute("COMMIT", multi=False)
    except BaseException:
        if own:
            await session.execute("ROLLBACK", multi=False)
        raise
    skipped = len(rows) - affected if "IGNORE" in statement[:14] else 0
    return OkResult(
        affected, 0, 0, f"Records: {len(rows)}  Deleted: 0  Skipped: {max(skipped, 0)}  Warnings: 0"
    )
