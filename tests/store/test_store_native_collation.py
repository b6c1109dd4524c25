"""The C collations (``p2pdb/store/_collate.c``) order text exactly as the Python rules do: an
index built by one is searched by the other after a reinstall, so any difference would be a
corrupt index, not a style."""

from __future__ import annotations

import os
import subprocess
import sys

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.store import collation

pytestmark = pytest.mark.skipif(
    not collation.native() and not os.environ.get("CI"),
    reason="p2pdb was built without its C module (no C compiler or sqlite3ext.h)",
)

# Characters around every case the C side decides or hands over: ASCII letters of both cases,
# spaces and characters just below and above one, DEL, NUL, and non-ASCII characters that fold to
# ASCII ('K' Kelvin sign, long s), to several characters ('ß', 'ﬁ', 'İ'), or not at all.
_ALPHABET = "aAzZbB  \t\x00\x1f!~\x7f0ßsSéÉ\u212a\u017f\ufb01\u0130\u00a0😀"
_PIECE = st.text(alphabet=st.sampled_from(_ALPHABET), max_size=6)
_ANY = st.text(max_size=6)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI only: other machines may lack a C compiler")
def test_the_c_module_is_used_in_ci() -> None:
    # CI installs libsqlite3-dev (scripts/test): there the C side must be what SQLite calls.
    assert collation.native()


@settings(max_examples=2000)
@given(_PIECE | _ANY, _PIECE | _ANY, _PIECE | _ANY, st.sampled_from(sorted(collation.RULES)))
def test_c_and_python_rules_agree_on_every_pair(prefix: str, a: str, b: str, kind: int) -> None:
    rule = collation.RULES[kind]
    for x, y in ((a, b), (prefix + a, prefix + b), (a, prefix + b), (prefix + a, prefix)):
        assert collation._native.compare(kind, x, y) == _sign(rule(x, y)), (kind, x, y)
        assert collation._native.compare(kind, y, x) == _sign(rule(y, x)), (kind, y, x)


def test_case_folding_keeps_what_the_c_side_assumes() -> None:
    # The C side decides on ASCII before the first non-ASCII character; that holds because no
    # character folds to nothing or to a space, and ASCII folds as lower() does.
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        folded = char.casefold()
        assert folded, hex(code)
        if char != " ":
            assert " " not in folded, hex(code)
        if code < 0x80:
            assert folded == char.lower()


def _connection(*, python: bool) -> apsw.Connection:
    conn = collation.register(apsw.Connection(":memory:"), python=python)
    conn.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT COLLATE P2PDB_CI, w TEXT COLLATE utf8mb4_bin)"
    )
    conn.execute("CREATE INDEX t_v ON t (v)")
    return conn


_QUERIES = (
    "SELECT v FROM t ORDER BY v, id",
    "SELECT DISTINCT v FROM t ORDER BY v",
    "SELECT lower(v), count(*) FROM t GROUP BY v ORDER BY v",
    "SELECT w FROM t ORDER BY w, id",
    "SELECT v FROM t ORDER BY v COLLATE utf8mb4_0900_ai_ci, id",
    "SELECT w FROM t ORDER BY w COLLATE utf8mb4_0900_bin, id",
)


@settings(max_examples=300)
@given(st.lists(_PIECE | _ANY, max_size=30), _PIECE)
def test_sql_answers_the_same_with_c_or_python_collations(values: list[str], probe: str) -> None:
    answers = []
    for python in (False, True):
        conn = _connection(python=python)
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, v, v) for i, v in enumerate(values)])
        rows = [list(conn.execute(sql)) for sql in _QUERIES]
        rows.append(list(conn.execute("SELECT id FROM t WHERE v = ? ORDER BY id", (probe,))))
        rows.append(list(conn.execute("SELECT id FROM t WHERE v > ? ORDER BY id", (probe,))))
        assert list(conn.execute("PRAGMA integrity_check")) == [("ok",)]
        conn.close()
        answers.append(rows)
    assert answers[0] == answers[1]


def test_the_python_rules_can_be_forced() -> None:
    code = "from p2pdb.store import collation; print(collation.native())"
    env = {**os.environ, "P2PDB_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_build_of_other_rules_is_not_used() -> None:
    # An editable checkout whose C file changed since its build: the Python functions serve.
    def install(module: object) -> None:
        raise AssertionError("a stale build must not be installed")

    name, entry = "p2pdb.store._collate", "sqlite3_p2pdbcollate_init"
    assert (
        collation.load_extension_module(name, entry, install, version=collation._native.version + 1) is None
    )
    assert collation.load_extension_module(name, entry, install, version=1) is collation._native
