"""CREATE/ALTER/DROP USER, GRANT, REVOKE and SHOW GRANTS over the node's accounts (:mod:`.accounts`),
and the privilege checks statements go through.

The statement text is read with a small tokenizer (names, quoted strings, backquoted names, symbols):
account names are ``'user'@'host'``, ``user@host`` or ``user`` (host ``%``). Errors are MySQL's: 1396
for an operation on a missing or existing account, 1410 for GRANT to a missing account, 1221 for a
privilege at a level it does not apply to, 1044/1142 for a statement the account may not run, 1227
for account management without CREATE USER (or GRANT OPTION for GRANT/REVOKE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from p2pdb.sql.accounts import ALL, DATABASE_PRIVILEGES, PRIVILEGES, TABLE_PRIVILEGES, UserAccount
from p2pdb.sql.lexer import QUALIFIER, Lexed
from p2pdb.sql.protocol.auth import PLUGINS, Credential
from p2pdb.sql.protocol.constants import FieldType
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column, OkResult, Result, ResultSet

if TYPE_CHECKING:
    from p2pdb.sql.session import SQLSession

_OK = OkResult()
_TOKEN = re.compile(
    r"\s*(?:'((?:[^'\\]|\\.|'')*)'|\"((?:[^\"\\]|\\.|\"\")*)\"|`((?:[^`]|``)*)`|([A-Za-z0-9_$%.*]+)|(\S))",
    re.S,
)
_ESCAPE = re.compile(r"\\(.)|''|\"\"", re.S)


@dataclass(slots=True)
class Tok:
    kind: str  # "str", "ident" (backquoted), "word", "sym"
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _unescape(body: str) -> str:
    def repl(match: re.Match[str]) -> str:
        char = match.group(1)
        if char is None:
            return match.group(0)[0]
        return {"n": "\n", "t": "\t", "0": "\0", "r": "\r"}.get(char, char)

    return _ESCAPE.sub(repl, body)


def tokenize(text: str) -> list[Tok]:
    tokens: list[Tok] = []
    for match in _TOKEN.finditer(text.strip().rstrip(";")):
        single, double, back, word, sym = match.groups()
        if single is not None or double is not None:
            tokens.append(Tok("str", _unescape(single if single is not None else double)))
        elif back is not None:
            tokens.append(Tok("ident", back.replace("``", "`")))
        elif word is not None:
            tokens.append(Tok("word", word))
        elif sym is not None:
            tokens.append(Tok("sym", sym))
    return tokens


class Reader:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> Tok | None:
        index = self.i + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def accept(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.upper in words:
            self.i += 1
            return tok.upper
        return None

    def accept_sym(self, sym: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "sym" and tok.text == sym:
            self.i += 1
            return True
        return False

    def expect(self, *words: str) -> str:
        found = self.accept(*words)
        if found is None:
            raise self.error()
        return found

    def value(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind == "sym":
            raise self.error()
        self.i += 1
        return tok.text

    def string(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "str":
            raise self.error()
        self.i += 1
        return tok.text

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def end(self) -> None:
        if not self.done():
            raise self.error()

    def error(self) -> MySQLError:
        rest = " ".join(t.text for t in self.tokens[self.i : self.i + 4])
        return MySQLError(
            ErrorCode.PARSE_ERROR,
            "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
            f" version for the right syntax to use near '{rest[:64]}' at line 1",
        )

    def account(self, session: SQLSession) -> tuple[str, str]:
        """``'user'@'host'``, ``user@host``, ``user`` or ``CURRENT_USER[()]``."""
        tok = self.peek()
        if tok is not None and tok.upper in ("CURRENT_USER", "USER"):
            self.i += 1
            if self.accept_sym("(") and not self.accept_sym(")"):
                raise self.error()
            own = session_account(session)
            return (own.user, own.host) if own is not None else (session.user, "%")
        user = self.value()
        host = self.value() if self.accept_sym("@") else "%"
        return user, host

    def accounts(self, session: SQLSession) -> list[tuple[str, str]]:
        found = [self.account(session)]
        while self.accept_sym(","):
            found.append(self.account(session))
        return found


def _name(user: str, host: str) -> str:
    return f"'{user}'@'{host}'"


def _failed(operation: str, names: list[str]) -> MySQLError:
    return MySQLError(1396, f"Operation {operation} failed for {','.join(names)}", "HY000")


def session_account(session: SQLSession) -> UserAccount | None:
    return session.backend.accounts.match(session.user, session.info.peer_host)


def _require(session: SQLSession, privilege: str) -> None:
    account = session_account(session)
    if account is None or not account.allows(privilege):
        raise MySQLError(
            1227, f"Access denied; you need (at least one of) the {privilege} privilege(s) for this operation"
        )


def _credential(reader: Reader) -> Credential | None:
    """``IDENTIFIED [WITH plugin] [BY 'password']``, if present."""
    if not reader.accept("IDENTIFIED"):
        return None
    plugin = "caching_sha2_password"
    if reader.accept("WITH"):
        plugin = reader.value().lower()
        if plugin not in PLUGINS:
            raise MySQLError(1524, f"Plugin '{plugin}' is not loaded", "HY000")
    password = ""
    if reader.accept("BY"):
        password = reader.string()
    return Credential.from_password(password, plugin)


# -- CREATE / ALTER / DROP USER ---------------------------------------------------------------------


def create_user(session: SQLSession, text: str) -> Result:
    _require(session, "CREATE USER")
    reader = Reader(text)
    reader.expect("CREATE")
    reader.expect("USER")
    if_not_exists = bool(reader.accept("IF"))
    if if_not_exists:
        reader.expect("NOT")
        reader.expect("EXISTS")
    accounts = session.backend.accounts
    specs: list[tuple[str, str, Credential]] = []
    while True:
        user, host = reader.account(session)
        credential = _credential(reader) or Credential.from_password("")
        specs.append((user, host, credential))
        if not reader.accept_sym(","):
            break
    _skip_options(reader)
    existing = [_name(u, h) for u, h, _ in specs if accounts.find(u, h) is not None]
    if existing and not if_not_exists:
        raise _failed("CREATE USER", existing)
    for user, host, credential in specs:
        if accounts.find(user, host) is None:
            accounts.accounts.append(UserAccount(user, host, credential))
    accounts.save()
    for name in existing:
        session.note(3163, f"Authorization ID {name} already exists.")
    return OkResult(warnings=len(session.warnings)) if existing else _OK


def _skip_options(reader: Reader) -> None:
    """Account options this node does not keep (REQUIRE, WITH limits, PASSWORD EXPIRE, ACCOUNT ...)."""
    while not reader.done():
        tok = reader.peek()
        assert tok is not None
        if tok.upper not in ("REQUIRE", "WITH", "PASSWORD", "ACCOUNT", "COMMENT", "ATTRIBUTE", "NONE", "SSL",
                             "X509", "LOCK", "UNLOCK", "EXPIRE", "DEFAULT", "NEVER", "INTERVAL", "DAY", "HISTORY",
                             "REUSE", "MAX_QUERIES_PER_HOUR", "MAX_UPDATES_PER_HOUR", "MAX_CONNECTIONS_PER_HOUR",
                             "MAX_USER_CONNECTIONS", "AND", "CURRENT", "OPTIONAL", "REQUIRED") and tok.kind not in (
            "str",
        ) and not tok.text.isdigit():  # fmt: skip
            raise reader.error()
        reader.i += 1


def alter_user(session: SQLSession, text: str) -> Result:
    reader = Reader(text)
    reader.expect("ALTER")
    reader.expect("USER")
    if_exists = bool(reader.accept("IF"))
    if if_exists:
        reader.expect("EXISTS")
    accounts = session.backend.accounts
    own = session_account(session)
    changes: list[tuple[str, str, Credential | None]] = []
    while True:
        user, host = reader.account(session)
        changes.append((user, host, _credential(reader)))
        if not reader.accept_sym(","):
            break
    _skip_options(reader)
    if not all(own is not None and (own.user, own.host) == (u, h) for u, h, _ in changes):
        _require(session, "CREATE USER")  # anyone may change their own password
    missing = [_name(u, h) for u, h, _ in changes if accounts.find(u, h) is None]
    if missing and not if_exists:
        raise _failed("ALTER USER", missing)
    for user, host, credential in changes:
        account = accounts.find(user, host)
        if account is not None and credential is not None:
            account.credential = credential
    accounts.save()
    return _OK


def drop_user(session: SQLSession, text: str) -> Result:
    _require(session, "CREATE USER")
    reader = Reader(text)
    reader.expect("DROP")
    reader.expect("USER")
    if_exists = bool(reader.accept("IF"))
    if if_exists:
        reader.expect("EXISTS")
    names = reader.accounts(session)
    reader.end()
    accounts = session.backend.accounts
    missing = [_name(u, h) for u, h in names if accounts.find(u, h) is None]
    if missing and not if_exists:
        raise _failed("DROP USER", missing)
    for user, host in names:
        account = accounts.find(user, host)
        if account is not None:
            accounts.accounts.remove(account)
    accounts.save()
    for name in missing:
        session.note(3162, f"Authorization ID {name} does not exist.")
    return OkResult(warnings=len(session.warnings)) if missing else _OK


# -- GRANT / REVOKE -------------------------------------------------------------------------------


def _privileges(reader: Reader) -> tuple[set[str], bool]:
    """The privilege list before ON; (privileges, GRANT OPTION named)."""
    found: set[str] = set()
    grant_option = False
    while True:
        words: list[str] = []
        while True:
            tok = reader.peek()
            if tok is None or tok.kind != "word" or tok.upper in ("ON", "FROM", "TO"):
                break
            words.append(tok.upper)
            reader.i += 1
            if reader.accept_sym("("):  # column lists: privileges on columns are taken for the table
                while not reader.accept_sym(")"):
                    if reader.done():
                        raise reader.error()
                    reader.i += 1
                break
            nxt = reader.peek()
            if nxt is not None and nxt.kind == "sym":
                break
        name = " ".join(words)
        if name in ("ALL", ALL):
            found.add(ALL)
        elif name == "GRANT OPTION":
            grant_option = True
        elif name in PRIVILEGES or name == "USAGE":
            if name != "USAGE":
                found.add(name)
        else:
            raise reader.error()
        if not reader.accept_sym(","):
            return found, grant_option


def _level(reader: Reader, session: SQLSession) -> tuple[str | None, str | None]:
    """``*.*``, ``db.*``, ``*``, ``db.t`` or ``t`` -> (db or None for global, table or None)."""
    reader.accept("TABLE")
    first = reader.value()
    parts = first.split(".", 1) if "." in first else [first]
    if len(parts) == 1 and reader.accept_sym("."):
        parts.append(reader.value())
    if parts == ["*", "*"]:
        return None, None
    if len(parts) == 1:
        if session.database is None:
            raise MySQLError(ErrorCode.NO_DB_ERROR, "No database selected")
        return session.database, None if parts[0] == "*" else parts[0]
    db, table = parts
    return db, None if table == "*" else table


def _check_level(privileges: set[str], db: str | None, table: str | None) -> None:
    allowed = set(PRIVILEGES) if db is None else DATABASE_PRIVILEGES if table is None else TABLE_PRIVILEGES
    wrong = sorted(p for p in privileges if p != ALL and p not in allowed)
    if wrong:
        raise MySQLError(1221, "Incorrect usage of DB GRANT and GLOBAL PRIVILEGES", "HY000")


def grant(session: SQLSession, text: str) -> Result:
    reader = Reader(text)
    reader.expect("GRANT")
    privileges, option_named = _privileges(reader)
    reader.expect("ON")
    db, table = _level(reader, session)
    reader.expect("TO")
    names = reader.accounts(session)
    with_grant = False
    if reader.accept("WITH"):
        reader.expect("GRANT")
        reader.expect("OPTION")
        with_grant = True
    reader.end()
    _check_level(privileges, db, table)
    _may_grant(session, privileges, db, table)
    accounts = session.backend.accounts
    missing = [_name(u, h) for u, h in names if accounts.find(u, h) is None]
    if missing:
        raise MySQLError(1410, "You are not allowed to create a user with GRANT", "42000")
    for user, host in names:
        account = accounts.find(user, host)
        assert account is not None
        entry = account.grant_for(db, table, create=True)
        assert entry is not None
        entry.privileges |= privileges
        entry.grant_option = entry.grant_option or with_grant or option_named
    accounts.save()
    return _OK


def revoke(session: SQLSession, text: str) -> Result:
    reader = Reader(text)
    reader.expect("REVOKE")
    if_exists = bool(reader.accept("IF"))
    if if_exists:
        reader.expect("EXISTS")
    privileges, option_named = _privileges(reader)
    everything = False
    if reader.accept("ON"):
        db, table = _level(reader, session)
    else:  # REVOKE ALL [PRIVILEGES], GRANT OPTION FROM user
        everything = True
        db, table = None, None
    reader.expect("FROM")
    names = reader.accounts(session)
    reader.accept("IGNORE")
    reader.accept("UNKNOWN")
    reader.accept("USER")
    reader.end()
    _may_grant(session, privileges, db, table)
    accounts = session.backend.accounts
    missing = [_name(u, h) for u, h in names if accounts.find(u, h) is None]
    if missing:
        raise _failed("REVOKE", missing) if not if_exists else MySQLError(1396, "no such account")
    for user, host in names:
        account = accounts.find(user, host)
        assert account is not None
        targets = list(account.grants) if everything else [g for g in [account.grant_for(db, table)] if g]
        if not targets and not everything:
            raise MySQLError(
                1141, f"There is no such grant defined for user '{user}' on host '{host}'", "42000"
            )
        for entry in targets:
            if ALL in privileges:
                entry.privileges.clear()
            elif ALL in entry.privileges and privileges:
                entry.privileges = set(entry.level() - privileges)
            else:
                entry.privileges -= privileges
            if option_named or everything:
                entry.grant_option = False
        account.grants = [g for g in account.grants if g.privileges or g.grant_option]
    accounts.save()
    return _OK


def _may_grant(session: SQLSession, privileges: set[str], db: str | None, table: str | None) -> None:
    account = session_account(session)
    if account is None:
        raise MySQLError(1227, "Access denied; you need (at least one of) the GRANT OPTION privilege(s)")
    if account.allows("CREATE USER"):
        return
    holds = [g for g in account.grants if g.grant_option and (g.db is None or g.db == db)]
    if not holds or not all(account.allows(p, db, table) for p in privileges if p != ALL):
        raise MySQLError(
            1044,
            f"Access denied for user '{account.user}'@'{account.host}' to database '{db or '*'}'",
            "42000",
        )


# -- SHOW GRANTS ----------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def grant_lines(account: UserAccount) -> list[str]:
    """SHOW GRANTS lines in MySQL 8's form."""
    who = f"{_quote(account.user)}@{_quote(account.host)}"
    lines: list[str] = []
    ordered = sorted(account.grants, key=lambda g: (g.db is not None, g.db or "", g.table or ""))
    if not any(g.db is None for g in ordered):
        lines.append(f"GRANT USAGE ON *.* TO {who}")
    for entry in ordered:
        if entry.privileges:
            privileges = (
                ALL if ALL in entry.privileges else ", ".join(p for p in PRIVILEGES if p in entry.privileges)
            )
        else:
            privileges = "USAGE"
        level = (
            "*.*" if entry.db is None else f"{_quote(entry.db)}.{_quote(entry.table) if entry.table else '*'}"
        )
        option = " WITH GRANT OPTION" if entry.grant_option else ""
        lines.append(f"GRANT {privileges} ON {level} TO {who}{option}")
    return lines


def show_grants(session: SQLSession, text: str) -> Result:
    reader = Reader(text)
    reader.expect("SHOW")
    reader.expect("GRANTS")
    accounts = session.backend.accounts
    if reader.accept("FOR"):
        user, host = reader.account(session)
        reader.end()
        account = accounts.find(user, host)
        own = session_account(session)
        if own is None or (own is not account and not own.allows("SELECT", "mysql")):
            raise MySQLError(1044, f"Access denied for user '{session.user}' to database 'mysql'", "42000")
        if account is None:
            raise MySQLError(
                1141, f"There is no such grant defined for user '{user}' on host '{host}'", "42000"
            )
    else:
        reader.end()
        account = session_account(session)
        if account is None:
            raise MySQLError(1141, f"There is no such grant defined for user '{session.user}'", "42000")
    column = Column(f"Grants for {account.user}@{account.host}", FieldType.VAR_STRING, length=1024)
    return ResultSet([column], [[line] for line in grant_lines(account)])


# -- privilege checks -----------------------------------------------------------------------------

#: The privilege a statement kind needs on the database (and table) it uses.
NEEDED: dict[str, str] = {
    "SELECT": "SELECT", "WITH": "SELECT", "TABLE": "SELECT", "INSERT": "INSERT", "REPLACE": "INSERT",
    "UPDATE": "UPDATE", "DELETE": "DELETE", "CREATE": "CREATE", "DROP": "DROP", "ALTER": "ALTER",
    "TRUNCATE": "DROP", "RENAME": "ALTER",
}  # fmt: skip


def check(session: SQLSession, kind: str, databases: set[str], table: str | None = None) -> None:
    """Raise 1142 (or 1044) unless the session's account may run a ``kind`` statement on ``databases``
    (database-level, or, for an unknown table, a grant on some table of the database)."""
    privilege = NEEDED.get(kind)
    if privilege is None or not databases:
        return
    account = session_account(session)
    if account is not None and account.allows(privilege):
        return  # global grant: the common case (root)
    for db in databases:
        if db.lower() in ("information_schema", "performance_schema"):
            continue
        if account is not None and account.allows(privilege, db, table):
            continue
        if (
            account is not None
            and table is None
            and any(
                g.db is not None
                and g.db.casefold() == db.casefold()
                and g.table is not None
                and g.has(privilege)
                for g in account.grants
            )
        ):
            continue
        who = f"'{session.user}'@'{session.info.peer_host}'"
        if table is not None:
            raise MySQLError(1142, f"{privilege} command denied to user {who} for table '{table}'", "42000")
        raise MySQLError(1044, f"Access denied for user {who} to database '{db}'", "42000")


def check_use(session: SQLSession, db: str) -> None:
    """USE / a login's database: some privilege on it (1044 otherwise)."""
    if db.lower() in ("information_schema", "performance_schema"):
        return
    account = session_account(session)
    if account is None or not account.any_on(db):
        raise MySQLError(
            1044,
            f"Access denied for user '{session.user}'@'{session.info.peer_host}' to database '{db}'",
            "42000",
        )


def handle_account_statement(session: SQLSession, lexed: Lexed, text: str) -> Result | None:
    """The account statements; None when ``text`` is not one (the caller's handler takes it)."""
    match = re.match(r"^\s*(CREATE|ALTER|DROP)\s+USER\b", lexed.shape, re.I)
    if match is not None:
        return {"CREATE": create_user, "ALTER": alter_user, "DROP": drop_user}[match.group(1).upper()](
            session, text
        )
    if lexed.kind in ("GRANT", "REVOKE", "SHOW"):
        from p2pdb.sql import peer_grants

        if peer_grants.is_peer_statement(text):
            return peer_grants.handle_peer_statement(session, text)
    if lexed.kind == "GRANT":
        if re.match(r"^\s*GRANT\s+PROXY\b", lexed.shape, re.I):
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET, "This version of P2PDB doesn't yet support 'GRANT PROXY'"
            )
        return grant(session, text)
    if lexed.kind == "REVOKE":
        return revoke(session, text)
    if re.match(r"^\s*SHOW\s+GRANTS\b", lexed.shape, re.I):
        return show_grants(session, text)
    return None


_ACCOUNT_STATEMENT = re.compile(r"^\s*(?:CREATE|ALTER|DROP)\s+USER\b", re.I)


def authorize(session: SQLSession, lexed: Lexed, kind: str) -> None:
    """Before a statement runs: may the session's account run it on the databases it names?"""
    if kind not in NEEDED or (kind != "SELECT" and _ACCOUNT_STATEMENT.match(lexed.shape)):
        return  # account statements check their own privileges
    if session.backend.accounts.allows_globally(session.user, session.info.peer_host, NEEDED[kind]):
        return
    databases = {session.database} if session.database else set()
    if "." in lexed.shape:
        names = set(session.backend.registry.names())
        for match in QUALIFIER.finditer(lexed.shape):
            name = match.group(1) or match.group(2)
            if name in names:
                databases.add(name)
    if kind in ("CREATE", "DROP"):
        found = re.match(
            r"^\s*(?:CREATE|DROP)\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?`?([^`\s;]+)",
            lexed.shape,
            re.I,
        )
        if found is not None:
            databases = {found.group(1)}
    check(session, kind, databases)
