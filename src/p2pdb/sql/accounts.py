"""MySQL login accounts of this node: users, passwords, host patterns and privileges.

These are the accounts MySQL clients log in with on *this* node (``CREATE USER``, ``GRANT``, ``SHOW
GRANTS``). They are local: kept in ``<data-dir>/users.json`` (mode 0600), never replicated, and distinct
from the replicated peer access rules (who may write a database, ``access`` in the configuration).

An account is ``'user'@'host'``; ``host`` is a MySQL pattern (``%`` and ``_`` wildcards, ``localhost``
for loopback addresses). A login picks the most specific matching host, as MySQL sorts its user table.
``root`` exists from the start (``root``@``%``, empty password accepted only from loopback addresses,
all privileges) until a password is set. Privileges are granted globally (``*.*``), on a database
(``db.*``) or on a table (``db.t``).

File format (version 2)::

    {"version": 2, "accounts": [{"user": "ada", "host": "%", "credential": "<Credential.encode()>",
      "grants": [{"db": "shop", "table": null, "privileges": ["SELECT"], "grant_option": false}]}]}

Version 1 files (``{"user": "<credential>"}``, written by ``p2pdb init --password``) are read as
accounts ``user@%`` with all privileges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pdb.sql.protocol.auth import Credential
from p2pdb.sql.protocol.backend import Account, is_loopback

#: Static privileges GRANT takes (MySQL 8 names); ALL [PRIVILEGES] stands for every one of them.
PRIVILEGES: tuple[str, ...] = (
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "RELOAD", "SHUTDOWN", "PROCESS", "FILE",
    "REFERENCES", "INDEX", "ALTER", "SHOW DATABASES", "SUPER", "CREATE TEMPORARY TABLES", "LOCK TABLES",
    "EXECUTE", "REPLICATION SLAVE", "REPLICATION CLIENT", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE",
    "ALTER ROUTINE", "CREATE USER", "EVENT", "TRIGGER", "CREATE TABLESPACE", "CREATE ROLE", "DROP ROLE",
)  # fmt: skip
#: Privileges that make sense on a database or a table (the others are global only: error 1221).
TABLE_PRIVILEGES = frozenset(
    ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER", "CREATE VIEW",
     "SHOW VIEW", "TRIGGER")
)  # fmt: skip
DATABASE_PRIVILEGES = TABLE_PRIVILEGES | {
    "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE ROUTINE", "ALTER ROUTINE", "EVENT",
}  # fmt: skip
ALL = "ALL PRIVILEGES"
_GLOBAL_PRIVILEGES = frozenset(PRIVILEGES)


@dataclass(slots=True)
class Grant:
    """Privileges on ``*.*`` (db None), ``db.*`` (table None) or ``db.table``."""

    db: str | None
    table: str | None
    privileges: set[str] = field(default_factory=set)
    grant_option: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "table": self.table,
            "privileges": sorted(self.privileges),
            "grant_option": self.grant_option,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Grant:
        return cls(value["db"], value["table"], set(value["privileges"]), bool(value["grant_option"]))

    def level(self) -> frozenset[str]:
        """Every privilege this grant's level admits (ALL expands to them)."""
        if self.db is None:
            return _GLOBAL_PRIVILEGES
        return DATABASE_PRIVILEGES if self.table is None else TABLE_PRIVILEGES

    def has(self, privilege: str) -> bool:
        return privilege in self.privileges or (ALL in self.privileges and privilege in self.level())


@dataclass(slots=True)
class UserAccount:
    user: str
    host: str
    credential: Credential
    grants: list[Grant] = field(default_factory=list)

    @property
    def grantee(self) -> str:
        return f"'{_escape(self.user)}'@'{_escape(self.host)}'"

    def grant_for(self, db: str | None, table: str | None, *, create: bool = False) -> Grant | None:
        for grant in self.grants:
            if grant.db == db and grant.table == table:
                return grant
        if not create:
            return None
        grant = Grant(db, table)
        self.grants.append(grant)
        return grant

    def allows(self, privilege: str, db: str | None = None, table: str | None = None) -> bool:
        """Whether a global grant, a grant on ``db`` or one on ``db.table`` gives ``privilege``."""
        return any(grant.has(privilege) and _covers(grant, db, table) for grant in self.grants)

    def any_on(self, db: str) -> bool:
        """Some privilege on ``db`` or one of its tables (what USE needs)."""
        return any(
            (g.db is None and g.privileges) or (g.db is not None and g.db.casefold() == db.casefold())
            for g in self.grants
            if g.privileges
        )


def _covers(grant: Grant, db: str | None, table: str | None) -> bool:
    if grant.db is None:
        return True
    if db is None or grant.db.casefold() != db.casefold():
        return False
    return grant.table is None or (table is not None and grant.table.casefold() == table.casefold())


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def host_matches(pattern: str, peer_host: str) -> bool:
    """MySQL host matching: ``%``/``_`` wildcards, ``localhost`` for loopback addresses."""
    if pattern == "%":
        return True
    if pattern.lower() == "localhost":
        return is_loopback(peer_host)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, peer_host, re.IGNORECASE) is not None


def _specificity(host: str) -> tuple[int, int]:
    """Sort key: exact hosts before patterns, longer literal prefixes first, ``%`` last."""
    wild = host.find("%") if "%" in host else host.find("_") if "_" in host else -1
    return (0 if wild < 0 else 1, -(len(host) if wild < 0 else wild))


class Accounts:
    """The node's MySQL accounts, persisted in ``path`` (None: in memory only, for tests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.accounts: list[UserAccount] = []
        self._matches: dict[tuple[str, str], UserAccount | None] = {}
        self._global: dict[tuple[str, str, str], bool] = {}
        #: Called after each save() (reader processes read the accounts again).
        self.listeners: list[Callable[[], None]] = []
        if path is not None and path.exists():
            self._load(json.loads(path.read_text()))
        if not any(a.user == "root" for a in self.accounts):
            self.accounts.append(_root(Credential.from_password("")))

    # -- persistence --------------------------------------------------------------------------

    def _load(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("version") == 2:
            for entry in data["accounts"]:
                grants = [Grant.from_json(g) for g in entry.get("grants", [])]
                credential = Credential.decode(entry["credential"])
                self.accounts.append(UserAccount(entry["user"], entry["host"], credential, grants))
            return
        for user, text in dict(data).items():  # version 1: {user: credential}, all privileges
            account = _root(Credential.decode(text))
            account.user = user
            self.accounts.append(account)

    def save(self) -> None:
        """Persist the accounts; every change to them ends here (it also forgets :meth:`match`'s
        answers and :meth:`allows_globally`'s)."""
        self._matches.clear()
        self._global.clear()
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries = [
            {
                "user": a.user,
                "host": a.host,
                "credential": a.credential.encode(),
                "grants": [g.to_json() for g in a.grants],
            }
            for a in self.accounts
        ]
        data = json.dumps({"version": 2, "accounts": entries}, indent=2)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.chmod(0o600)
        tmp.replace(self.path)
        for listener in self.listeners:
            listener()

    # -- what login and the session ask -------------------------------------------------------

    @property
    def users(self) -> dict[str, Credential]:
        """Credential by user name (the first account of each name)."""
        found: dict[str, Credential] = {}
        for account in self.accounts:
            found.setdefault(account.user, account.credential)
        return found

    def has_password(self, user: str = "root") -> bool:
        return any(a.user == user and not a.credential.empty for a in self.accounts)

    def set_password(self, user: str, password: str, host: str | None = None) -> None:
        """Set the password of ``user`` (every host, or one); creates ``user``@``%`` if missing."""
        credential = Credential.from_password(password)
        matched = [a for a in self.accounts if a.user == user and (host is None or a.host == host)]
        if not matched:
            account = _root(credential) if user == "root" else UserAccount(user, host or "%", credential)
            account.user = user
            self.accounts.append(account)
        for account in matched:
            account.credential = credential
        self.save()

    def find(self, user: str, host: str) -> UserAccount | None:
        for account in self.accounts:
            if account.user == user and account.host.lower() == host.lower():
                return account
        return None

    def match(self, user: str, peer_host: str) -> UserAccount | None:
        """The account a login of ``user`` from ``peer_host`` uses (most specific host first).
        Every statement asks (its privileges): answers are kept until the accounts change."""
        key = (user, peer_host)
        if key in self._matches:
            return self._matches[key]
        candidates = [a for a in self.accounts if a.user == user and host_matches(a.host, peer_host)]
        candidates.sort(key=lambda a: _specificity(a.host))
        found = candidates[0] if candidates else None
        if len(self._matches) >= 1024:
            self._matches.clear()
        self._matches[key] = found
        return found

    def allows_globally(self, user: str, peer_host: str, privilege: str) -> bool:
        """Whether the account of :meth:`match` holds ``privilege`` on ``*.*``. Every statement asks:
        answers are kept, like :meth:`match`'s, until the accounts change."""
        key = (user, peer_host, privilege)
        known = self._global.get(key)
        if known is None:
            account = self.match(user, peer_host)
            known = account is not None and account.allows(privilege)
            if len(self._global) >= 4096:
                self._global.clear()
            self._global[key] = known
        return known

    def lookup(self, user: str, peer_host: str) -> Account | None:
        account = self.match(user, peer_host)
        if account is None:
            return None
        credential = account.credential
        return Account(credential, host_allowed=True if not credential.empty else is_loopback(peer_host))

    # -- catalog ------------------------------------------------------------------------------

    def privilege_rows(self) -> list[tuple[str, str | None, str | None, str, bool]]:
        """(grantee, db, table, privilege, grantable) for information_schema's *_PRIVILEGES tables."""
        rows: list[tuple[str, str | None, str | None, str, bool]] = []
        for account in self.accounts:
            for grant in account.grants:
                names = sorted(grant.level()) if ALL in grant.privileges else sorted(grant.privileges)
                rows.extend((account.grantee, grant.db, grant.table, p, grant.grant_option) for p in names)
            if not any(g.db is None and g.privileges for g in account.grants):
                rows.append((account.grantee, None, None, "USAGE", False))
        return rows

    def user_rows(self) -> list[tuple[str, str, str]]:
        return [(a.user, a.host, a.credential.plugin) for a in self.accounts]


def _root(credential: Credential) -> UserAccount:
    return UserAccount("root", "%", credential, [Grant(None, None, {ALL}, True)])
