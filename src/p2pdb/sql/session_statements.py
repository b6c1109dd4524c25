"""SQL-level prepared statements: ``PREPARE name FROM 'text' | @var``, ``EXECUTE name [USING @a, ...]``,
``{DEALLOCATE | DROP} PREPARE name``.

They belong to the session (MySQL: a connection's named statements, gone when it closes). EXECUTE binds
the user variables' values to the ``?`` placeholders, as values, never as SQL text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from p2pdb.sql.account_statements import handle_account_statement
from p2pdb.sql.lexer import Lexed, lex, split_statements
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import OkResult, Result
from p2pdb.sql.statements import HANDLERS as BASE_HANDLERS
from p2pdb.sql.statements import Handler

if TYPE_CHECKING:
    from p2pdb.sql.session import SQLSession

_I = re.IGNORECASE
_NAME = r"(`(?:[^`]|``)+`|[A-Za-z_$][\w$]*)"
_PREPARE = re.compile(rf"^\s*PREPARE\s+{_NAME}\s+FROM\s+:([pu]\d+)\s*$", _I)
_EXECUTE = re.compile(rf"^\s*EXECUTE\s+{_NAME}\s*(?:USING\s+(.+))?$", _I | re.S)
_DEALLOCATE = re.compile(rf"^\s*(?:DEALLOCATE|DROP)\s+PREPARE\s+{_NAME}\s*$", _I)
_OK = OkResult()
#: MySQL's max_prepared_stmt_count default bounds all statements of a server; here, each session's.
MAX_STATEMENTS = 16382


def _key(name: str) -> str:
    if name.startswith("`"):
        name = name[1:-1].replace("``", "`")
    return name.lower()


def _syntax(text: str) -> MySQLError:
    return MySQLError(
        ErrorCode.PARSE_ERROR,
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
        f" version for the right syntax to use near '{text.strip()[:64]}' at line 1",
    )


def _statements(session: SQLSession) -> dict[str, str]:
    return session.sql_prepared


def handle_prepare(session: SQLSession, lexed: Lexed, text: str) -> Result:
    match = _PREPARE.match(lexed.shape)
    if match is None:
        raise _syntax(text)
    slot = match.group(2)
    if slot.startswith("p"):
        source: Any = lexed.params[int(slot[1:]) - 1]
    else:
        source = session.user_vars.get(lexed.uservars[slot].lower())
    if isinstance(source, bytes):
        source = source.decode("utf-8", "surrogateescape")
    if source is None:
        source = "NULL"
    body = str(source)
    parts = split_statements(body)
    if not parts:
        raise MySQLError(ErrorCode.EMPTY_QUERY, "Query was empty")
    if len(parts) > 1:
        raise _syntax(parts[1])
    prepared = _statements(session)
    name = _key(match.group(1))
    if name not in prepared and len(prepared) >= MAX_STATEMENTS:
        raise MySQLError(
            1461,
            f"Can't create more than max_prepared_stmt_count statements (current value: {MAX_STATEMENTS})",
        )
    inner = lex(parts[0])
    if inner.kind in ("PREPARE", "EXECUTE", "DEALLOCATE"):
        raise MySQLError(
            ErrorCode.UNSUPPORTED_PS, "This command is not supported in the prepared statement protocol yet"
        )
    prepared[name] = parts[0]
    return OkResult(info="Statement prepared")


async def handle_execute(session: SQLSession, lexed: Lexed, text: str) -> Result:
    match = _EXECUTE.match(lexed.shape)
    if match is None:
        raise _syntax(text)
    name = _key(match.group(1))
    body = _statements(session).get(name)
    if body is None:
        raise MySQLError(
            ErrorCode.UNKNOWN_STMT_HANDLER, f"Unknown prepared statement handler ({name}) given to EXECUTE"
        )
    values: list[Any] = []
    if match.group(2):
        for item in match.group(2).split(","):
            slot = item.strip()
            if not re.fullmatch(r":u\d+", slot):
                raise _syntax(item)
            values.append(session.user_vars.get(lexed.uservars[slot[1:]].lower()))
    inner = lex(body)
    if len(inner.placeholders) != len(values):
        raise MySQLError(ErrorCode.WRONG_ARGUMENTS, "Incorrect arguments to EXECUTE")
    params = list(inner.params)
    for position, value in zip(inner.placeholders, values, strict=True):
        params[position] = value
    bound = Lexed(inner.shape, params, inner.raw, inner.placeholders, inner.sysvars, inner.uservars)
    return await session.run(bound, body)


def handle_deallocate(session: SQLSession, lexed: Lexed, text: str) -> Result:
    match = _DEALLOCATE.match(lexed.shape)
    if match is None:
        raise _syntax(text)
    name = _key(match.group(1))
    if _statements(session).pop(name, None) is None:
        raise MySQLError(
            ErrorCode.UNKNOWN_STMT_HANDLER,
            f"Unknown prepared statement handler ({name}) given to DEALLOCATE PREPARE",
        )
    return _OK


def handle_drop(session: SQLSession, lexed: Lexed, text: str) -> Any:
    """``DROP PREPARE name``, ``DROP USER``; any other DROP goes to the DDL handler."""
    if re.match(r"^\s*DROP\s+PREPARE\b", lexed.shape, _I):
        return handle_deallocate(session, lexed, text)
    return _accounts_first("DROP")(session, lexed, text)


def _accounts_first(kind: str) -> Handler:
    """The account statements (CREATE/ALTER/DROP USER, GRANT, REVOKE, SHOW GRANTS), else ``kind``'s handler."""

    def handler(session: SQLSession, lexed: Lexed, text: str) -> Any:
        result = handle_account_statement(session, lexed, text)
        if result is not None:
            return result
        base = BASE_HANDLERS.get(kind)
        if base is None:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                f"This version of P2PDB doesn't yet support '{text.strip()[:64]}'",
            )
        return base(session, lexed, text)

    return handler


HANDLERS: dict[str, Handler] = {
    "PREPARE": handle_prepare,
    "EXECUTE": handle_execute,
    "DEALLOCATE": handle_deallocate,
    "DROP": handle_drop,
    "CREATE": _accounts_first("CREATE"),
    "ALTER": _accounts_first("ALTER"),
    "GRANT": _accounts_first("GRANT"),
    "REVOKE": _accounts_first("REVOKE"),
    "SHOW": _accounts_first("SHOW"),
}
