"""The account a session's statements are checked against follows every change to the accounts
(``Accounts.match`` keeps its answers until the accounts change)."""

from __future__ import annotations

import pytest

from p2pdb.log import Identity
from p2pdb.sql.accounts import Accounts
from p2pdb.sql.backend import SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.session import SQLSession
from p2pdb.store.registry import Registry


async def _session(backend: SQLBackend, connection_id: int, user: str) -> SQLSession:
    info = ConnectInfo(connection_id, user, None, "127.0.0.1", False, False, 45)
    return await backend.open_session(info)


async def _denied(session: SQLSession, statement: str) -> bool:
    try:
        await session.execute(statement, multi=False)
    except MySQLError as exc:
        assert exc.code in (1044, 1142, 1227), exc
        return True
    return False


async def _node(*setup: str) -> tuple[SQLBackend, SQLSession]:
    """A backend with database ``app`` and table ``app.t``, after ``setup`` ran as root; root's session."""
    backend = SQLBackend(Registry(Identity.generate(), None, new_database_access="open"), Accounts(None))
    root = await _session(backend, 1, "root")
    for statement in ("CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY)", *setup):
        await root.execute(statement, multi=False)
    return backend, root


async def test_privileges_follow_grants_and_revokes_of_a_running_session() -> None:
    backend, root = await _node("CREATE USER 'u'@'%' IDENTIFIED BY 'pw'")
    user = await _session(backend, 2, "u")
    assert await _denied(user, "SELECT * FROM app.t")  # answered once: u@% has no privilege
    await root.execute("GRANT SELECT ON app.* TO 'u'@'%'", multi=False)
    assert not await _denied(user, "SELECT * FROM app.t")
    # A more specific account of the same user now matches this host: it holds nothing.
    await root.execute("CREATE USER 'u'@'127.0.0.1' IDENTIFIED BY 'pw'", multi=False)
    assert backend.accounts.match("u", "127.0.0.1") is backend.accounts.find("u", "127.0.0.1")
    assert await _denied(user, "SELECT * FROM app.t")
    await root.execute("DROP USER 'u'@'127.0.0.1'", multi=False)
    assert not await _denied(user, "SELECT * FROM app.t")
    await root.execute("REVOKE SELECT ON app.* FROM 'u'@'%'", multi=False)
    assert await _denied(user, "SELECT * FROM app.t")
    await root.execute("DROP USER 'u'@'%'", multi=False)
    assert backend.accounts.match("u", "127.0.0.1") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.7"])
def test_match_picks_the_most_specific_host_after_changes(host: str) -> None:
    accounts = Accounts(None)
    accounts.set_password("w", "one", "%")
    assert accounts.match("w", host) is accounts.find("w", "%")
    accounts.set_password("w", "two", host)  # creates w@host: more specific than w@%
    assert accounts.match("w", host) is accounts.find("w", host)


async def test_global_privileges_follow_grants_and_revokes_of_a_running_session() -> None:
    """Global privileges (``*.*``) are answered from memory per statement: every change ends that.
    Each privilege is first asked while granted, so a kept answer would let the statement after the
    revocation through."""
    backend, root = await _node(
        "CREATE USER 'g'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT, INSERT ON *.* TO 'g'@'%'"
    )
    user = await _session(backend, 2, "g")
    assert not await _denied(user, "SELECT * FROM app.t")
    assert not await _denied(user, "INSERT INTO app.t VALUES (1)")
    assert await _denied(user, "DELETE FROM app.t")
    await root.execute("REVOKE SELECT ON *.* FROM 'g'@'%'", multi=False)
    assert await _denied(user, "SELECT * FROM app.t")
    assert not await _denied(user, "INSERT INTO app.t VALUES (2)")
    await root.execute("GRANT DELETE ON *.* TO 'g'@'%'", multi=False)
    assert not await _denied(user, "DELETE FROM app.t WHERE id = 2")
    await root.execute("GRANT SELECT ON *.* TO 'g'@'%'", multi=False)
    assert not await _denied(user, "SELECT * FROM app.t")
    # A more specific account of the same user now matches this host: it holds nothing.
    await root.execute("CREATE USER 'g'@'127.0.0.1' IDENTIFIED BY 'pw'", multi=False)
    assert await _denied(user, "SELECT * FROM app.t")
    await root.execute("DROP USER 'g'@'127.0.0.1'", multi=False)
    assert not await _denied(user, "INSERT INTO app.t VALUES (3)")
    await root.execute("DROP USER 'g'@'%'", multi=False)
    assert await _denied(user, "INSERT INTO app.t VALUES (4)")
