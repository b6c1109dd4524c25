"""Property: a transaction answers the same in its window (p2pdb.sql.windows) as when every
statement replays the transaction's earlier writes (the way before windows), whatever its
statements, savepoints and failures, and whatever another client commits between them, on the same
rows too. Same answers, statement by statement (errors included), and the same committed table.

The other client's commits make the window yield: its writes are kept as a changeset and applied
again at the next statement, or replayed where another client changed those rows. Failing
statements, savepoints and ROLLBACK TO exercise the statement savepoints and the replays.

One difference is by design. The old way checks every earlier write of the transaction again at
each statement: when another client's commit changes what one of them matched (rows it changed,
or rows it found nothing at, such as an UPDATE of a key that another client then inserts), it
aborts the transaction with 1213 at the next statement. A window is only checked again where its
kept changes no longer apply, and at COMMIT. So from the old way's first 1213 on, the answers may
differ; the window must then end that same transaction with 1213 (at the latest at its COMMIT), so
that it commits nothing the old way would not have: answers are compared up to that point.
CI runs ``P2PDB_WINDOW_EXAMPLES`` examples (default 40).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from p2pdb.log import Identity
from p2pdb.sql.accounts import Accounts
from p2pdb.sql.backend import SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.protocol.results import OkResult, ResultSet
from p2pdb.sql.session import SQLSession
from p2pdb.store.registry import Registry

EXAMPLES = int(os.environ.get("P2PDB_WINDOW_EXAMPLES", "40"))
DEADLOCK = 1213

KEY = st.one_of(st.integers(1, 3), st.integers(200, 201))  # the other client writes 1-3, not 200+
OTHER_KEY = st.one_of(st.integers(1, 3), st.just(100))
SAVEPOINT = st.sampled_from(["a", "b"])

_write = st.one_of(
    st.builds("INSERT INTO t VALUES ({}, {})".format, KEY, st.integers(0, 9)),
    st.builds("UPDATE t SET v = v + 1 WHERE id = {}".format, KEY),
)
ours = st.one_of(
    st.just("BEGIN"),
    st.just("COMMIT"),
    st.just("ROLLBACK"),
    _write,
    _write,
    _write,
    st.builds("INSERT INTO t VALUES ({0}, 0), ({0} + 1, 0)".format, KEY),  # fails halfway on a duplicate
    st.builds("UPDATE t SET v = v * 2 WHERE id >= 200 AND v < {}".format, st.integers(0, 9)),
    st.builds("DELETE FROM t WHERE id = {}".format, KEY),
    st.just("SELECT id, v FROM t WHERE id < 100 OR id >= 200 ORDER BY id"),
    st.builds("SAVEPOINT {}".format, SAVEPOINT),
    st.builds("ROLLBACK TO SAVEPOINT {}".format, SAVEPOINT),
    st.builds("RELEASE SAVEPOINT {}".format, SAVEPOINT),
)
others = st.one_of(
    st.builds("INSERT INTO t VALUES ({}, 1)".format, OTHER_KEY),
    st.builds("UPDATE t SET v = v + 1 WHERE id = {}".format, OTHER_KEY),
    st.builds("DELETE FROM t WHERE id = {}".format, OTHER_KEY),
)
_setup = [("ours", f"INSERT INTO t VALUES ({k}, 0)", "") for k in (1, 2, 200)] + [("ours", "BEGIN", "")]
script = st.lists(
    st.tuples(st.sampled_from(["ours", "ours", "other"]), ours, others), min_size=5, max_size=40
).map(
    lambda steps: _setup + steps  # committed rows to change, and a transaction open from the start
)


def _answer(result: Any) -> Any:
    if isinstance(result, ResultSet):
        return ("rows", [tuple(row) for row in result.rows])
    if isinstance(result, OkResult):
        return ("ok", result.affected_rows)
    return ("other", type(result).__name__)


async def _run(steps: list[tuple[str, str, str]], path: Path) -> tuple[list[Any], list[tuple[Any, ...]]]:
    backend = SQLBackend(Registry(Identity.generate(), path, new_database_access="open"), Accounts(None))
    sessions = [
        await backend.open_session(ConnectInfo(i, "root", None, "127.0.0.1", False, False, 45))
        for i in (1, 2)
    ]
    await sessions[0].execute("CREATE DATABASE app", multi=False)
    for session in sessions:
        await session.execute("USE app", multi=False)
    await sessions[0].execute("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)", multi=False)
    answers: list[Any] = []
    for who, mine, theirs in steps:
        session, statement = (sessions[0], mine) if who == "ours" else (sessions[1], theirs)
        try:
            (result,) = await session.execute(statement, multi=False)
            answers.append((statement, _answer(result)))
        except MySQLError as exc:
            answers.append((statement, ("error", exc.code)))
    await sessions[0].execute("ROLLBACK", multi=False)
    db = backend.registry.get("app")
    assert db is not None
    table = db.conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    for session in sessions:
        session.close()
    return answers, table


# The other client changes a row the transaction changed: its kept changeset no longer applies.
_CHANGED_UNDER_IT = [
    ("ours", "INSERT INTO t VALUES (3, 0)", ""),
    ("ours", "BEGIN", ""),
    ("ours", "UPDATE t SET v = v + 1 WHERE id = 3", ""),
    ("other", "", "UPDATE t SET v = v + 1 WHERE id = 3"),
    ("ours", "SELECT id, v FROM t WHERE id < 100 OR id >= 200 ORDER BY id", ""),
    ("ours", "COMMIT", ""),
]


# ... inserted the key the transaction inserted; deleted or changed a row the transaction deleted.
_INSERTED_UNDER_IT = [
    ("ours", "BEGIN", ""),
    ("ours", "INSERT INTO t VALUES (5, 0)", ""),
    ("other", "", "INSERT INTO t VALUES (5, 1)"),
    ("ours", "SELECT id, v FROM t WHERE id < 100 OR id >= 200 ORDER BY id", ""),
    ("ours", "COMMIT", ""),
]
_DELETED_UNDER_IT = [
    ("ours", "INSERT INTO t VALUES (1, 0)", ""),
    ("ours", "INSERT INTO t VALUES (2, 0)", ""),
    ("ours", "BEGIN", ""),
    ("ours", "DELETE FROM t WHERE id = 1", ""),
    ("ours", "DELETE FROM t WHERE id = 2", ""),
    ("other", "", "UPDATE t SET v = v + 1 WHERE id = 1"),
    ("other", "", "DELETE FROM t WHERE id = 2"),
    ("ours", "INSERT INTO t VALUES (3, 0)", ""),
    ("ours", "COMMIT", ""),
]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script)
@example(_CHANGED_UNDER_IT)
@example(_INSERTED_UNDER_IT)
@example(_DELETED_UNDER_IT)
def test_a_window_answers_like_replaying_every_statement(steps: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        windowed = asyncio.run(_run(steps, Path(tmp) / "windowed"))
        with mock.patch.object(SQLSession, "_window", lambda *_: None):
            replayed = asyncio.run(_run(steps, Path(tmp) / "replayed"))
    aborted = next((i for i, (_, answer) in enumerate(replayed[0]) if answer == ("error", DEADLOCK)), None)
    if aborted is None:
        assert windowed == replayed
        return
    assert windowed[0][:aborted] == replayed[0][:aborted]
    # The window ends the same transaction with 1213 too: by the end of it (COMMIT, ROLLBACK, BEGIN).
    ours = [i for i, (who, _, _) in enumerate(steps) if who == "ours" and i >= aborted]
    end = next((i for i in ours if steps[i][1] in ("COMMIT", "ROLLBACK", "BEGIN")), None)
    if end is None or steps[end][1] == "ROLLBACK":
        return  # the transaction is rolled back: nothing of it is committed either way
    assert ("error", DEADLOCK) in [windowed[0][i][1] for i in ours if i <= end]
