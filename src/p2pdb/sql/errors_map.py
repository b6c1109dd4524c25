"""SQLite and store errors as the MySQL errors a client expects (code, SQLSTATE, message)."""

from __future__ import annotations

import logging
import re

import apsw
import sqlglot

from p2pdb.log import AccessDenied
from p2pdb.log.errors import TransactionTooLarge
from p2pdb.log.identity import peer_id
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.store.access import AclChangeDenied, WriteDenied
from p2pdb.store.errors import IdRangeExhausted, InvalidOps, NoIdRange, UnsupportedChange
from p2pdb.store.sealed import NotAReader

_NO_TABLE = re.compile(r"no such table: (?:main\.)?(\S+)")
_NO_COLUMN = re.compile(r"no such column: (\S+)|has no column named (\S+)")
_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.\"`, ]+)")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: \S*?\.?(\w+)$")
_AMBIGUOUS = re.compile(r"ambiguous column name: (?:\w+\.)?(\S+)")
_EXISTS = re.compile(r"table \"?(\S+?)\"? already exists")
_INDEX_EXISTS = re.compile(r"index (\S+) already exists")
_RAISED = re.compile(r"p2pdb-error:(\d{4}):(.*)$", re.S)
_NO_FUNCTION = re.compile(r"no such function: (\S+)")
_ARG_COUNT = re.compile(r"wrong number of arguments to function (\w+)\(\)")
_DUP_COLUMN = re.compile(r"duplicate column name: (\S+)")
_NO_INDEX = re.compile(r"no such index: (\S+)")
_VALUE_COUNT = re.compile(r"has \d+ columns but \d+ values were supplied|\d+ values for \d+ columns")
_UNION_COUNT = re.compile(r"do not have the same number of result columns")
_NEAR = re.compile(r'(?:near|unrecognized token:) "(.*)"', re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

log = logging.getLogger(__name__)


def syntax_error(near: str, line: int = 1) -> MySQLError:
    """MySQL's error 1064, near the text where parsing stopped."""
    near = _ANSI.sub("", near).strip()[:80]
    return MySQLError(
        ErrorCode.PARSE_ERROR,
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
        f" version for the right syntax to use near '{near}' at line {line}",
    )


_TOO_LONG = re.compile(r"value too long for [^.\s]+\.(\S+) \(")


def _denied(exc: WriteDenied, database: str | None) -> MySQLError:
    """1142 (table) or 1143 (column), naming this node's peer id where MySQL names the user."""
    d = exc.denied
    who = f"peer '{peer_id(exc.author)}'"
    command = d.privilege if d.privilege != "CREATE VIEW" else "CREATE VIEW"
    if d.column is not None:
        return MySQLError(
            1143, f"{command} command denied to {who} for column '{d.column}' in table '{d.table}'", "42000"
        )
    if d.table is not None:
        return MySQLError(1142, f"{command} command denied to {who} for table '{d.table}'", "42000")
    return MySQLError(1044, f"Access denied for {who} to database '{database or ''}' ({command})", "42000")


def to_mysql(exc: BaseException, database: str | None) -> MySQLError:
    """The MySQL error for an exception raised while running a statement."""
    if isinstance(exc, MySQLError):
        return exc
    message = str(exc).removeprefix("SQLError: ").removeprefix("ConstraintError: ")
    if isinstance(exc, AccessDenied):
        return MySQLError(
            ErrorCode.DBACCESS_DENIED_ERROR, f"Access denied: {exc} (see 'access' in the configuration)"
        )
    if isinstance(exc, WriteDenied):
        return _denied(exc, database)
    if isinstance(exc, NotAReader):
        return MySQLError(
            1044,
            f"Access denied to database '{database or ''}': {exc} (ask an owner: GRANT SELECT ON db.*)",
            "42000",
        )
    if isinstance(exc, AclChangeDenied):
        return MySQLError(1227, f"Access denied; {str(exc).removeprefix('access denied: ')}", "42000")
    if isinstance(exc, TransactionTooLarge):  # MySQL's nearest: a transaction beyond the binlog cache
        return MySQLError(
            1197,
            f"Multi-statement transaction required more than {exc.limit} bytes of storage: its changes"
            f" take {exc.size} bytes, more than one log entry holds; commit it in smaller transactions",
            "HY000",
        )
    if isinstance(exc, IdRangeExhausted):
        return MySQLError(167, f"Out of range value for column: {exc}", "22003")
    if isinstance(exc, NoIdRange):
        return MySQLError(1467, f"Failed to read auto-increment value from storage engine: {exc}")
    if isinstance(exc, UnsupportedChange):
        return MySQLError(ErrorCode.NOT_SUPPORTED_YET, str(exc))
    if isinstance(exc, InvalidOps):
        if "too long" in message:
            found = _TOO_LONG.search(message)
            name = found.group(1) if found else "?"
            return MySQLError(ErrorCode.DATA_TOO_LONG, f"Data too long for column '{name}' at row 1", "22001")
        if "refused" in message:
            return MySQLError(ErrorCode.TRUNCATED_WRONG_VALUE_FOR_FIELD, f"Incorrect value: {message}")
        return MySQLError(ErrorCode.UNKNOWN_ERROR, message)
    if isinstance(exc, apsw.ConstraintError):
        if match := _RAISED.search(message):  # a CHECK or FOREIGN KEY trigger (p2pdb.sql.constraints)
            code = int(match.group(1))
            return MySQLError(code, match.group(2), "HY000" if code == 3819 else "23000")
        if match := _UNIQUE.search(message):
            key = match.group(1).split(",")[0].strip()
            return MySQLError(ErrorCode.DUP_ENTRY, f"Duplicate entry for key '{key}'")
        if match := _NOT_NULL.search(message):
            return MySQLError(ErrorCode.BAD_NULL_ERROR, f"Column '{match.group(1)}' cannot be null")
        return MySQLError(ErrorCode.UNKNOWN_ERROR, message)
    if isinstance(exc, apsw.SQLError):
        if match := _NO_TABLE.search(message):
            table = match.group(1)
            qualified = table if "." in table else f"{database or ''}.{table}"
            return MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{qualified}' doesn't exist")
        if match := _NO_COLUMN.search(message):
            column = match.group(1) or match.group(2)
            return MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{column}' in 'field list'")
        if match := _AMBIGUOUS.search(message):
            return MySQLError(1052, f"Column '{match.group(1)}' in field list is ambiguous", "23000")
        if match := _EXISTS.search(message):
            return MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{match.group(1)}' already exists")
        if match := _INDEX_EXISTS.search(message):
            return MySQLError(1061, f"Duplicate key name '{match.group(1)}'")
        if _VALUE_COUNT.search(message):
            return MySQLError(
                ErrorCode.WRONG_VALUE_COUNT_ON_ROW, "Column count doesn't match value count at row 1"
            )
        if "sub-select returns" in message:  # (SELECT 1, 2) where one value goes
            return MySQLError(1241, "Operand should contain 1 column(s)", "21000")
        if _UNION_COUNT.search(message):
            return MySQLError(1222, "The used SELECT statements have a different number of columns")
        if match := _NO_INDEX.search(message):
            name = match.group(1).split(".")[-1]
            return MySQLError(1091, f"Can't DROP '{name}'; check that column/key exists")
        if match := _DUP_COLUMN.search(message):
            return MySQLError(1060, f"Duplicate column name '{match.group(1)}'")
        if match := _ARG_COUNT.search(message):
            return MySQLError(
                1582, f"Incorrect parameter count in the call to native function '{match.group(1)}'"
            )
        if match := _NO_FUNCTION.search(message):
            return MySQLError(1305, f"FUNCTION {database or ''}.{match.group(1)} does not exist")
        if "syntax error" in message or "incomplete input" in message or "unrecognized token" in message:
            near = _NEAR.search(message)
            return syntax_error(near.group(1) if near else "")
        return MySQLError(ErrorCode.UNKNOWN_ERROR, message)
    if isinstance(exc, apsw.BusyError | apsw.LockedError):
        return MySQLError(
            ErrorCode.LOCK_WAIT_TIMEOUT, "Lock wait timeout exceeded; try restarting transaction"
        )
    if isinstance(exc, apsw.FullError):
        return MySQLError(1021, "Disk full; the transaction was rolled back and nothing was lost")
    if isinstance(exc, apsw.Error):
        return MySQLError(ErrorCode.UNKNOWN_ERROR, message)
    if isinstance(exc, sqlglot.errors.ParseError | sqlglot.errors.TokenError):
        details = exc.errors[0] if isinstance(exc, sqlglot.errors.ParseError) and exc.errors else {}
        where = f"{details.get('highlight', '')}{details.get('end_context', '')}" if details else ""
        return syntax_error(where, int(details.get("line", 1) or 1) if details else 1)
    if isinstance(exc, RecursionError):  # an expression nested thousands deep: not a bug, no traceback
        return MySQLError(1436, "Thread stack overrun: the statement nests too deeply to be translated")
    if isinstance(exc, OverflowError | ValueError | TypeError):
        return MySQLError(ErrorCode.WRONG_ARGUMENTS, f"Incorrect arguments: {exc}")
    # A bug of ours: the client gets a MySQL error, the node's log gets the traceback.
    log.warning("statement failed unexpectedly", exc_info=exc)
    return MySQLError(
        ErrorCode.UNKNOWN_ERROR, "Unknown error while running the statement (see the node's log)"
    )
