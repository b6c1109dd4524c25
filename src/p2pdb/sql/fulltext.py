"""``MATCH (cols) AGAINST (query [IN NATURAL LANGUAGE MODE | IN BOOLEAN MODE])`` without FULLTEXT
indexes: a Python function over each row's text (``p2pdb_match``), so searches that applications
send work, at the cost of a scan (a FULLTEXT index is kept as a plain index; docs/mysql-compatibility.md).

Relevance is a count, not InnoDB's BM25-like weight: natural language mode adds how often each query
word of three or more characters occurs in the row's columns; boolean mode requires ``+word``,
excludes ``-word``, matches ``word*`` as a prefix and ``"a phrase"`` as consecutive words, and counts
the other terms. A row matches (``WHERE MATCH ... AGAINST ...``) when its relevance is above 0, and
``ORDER BY MATCH ... DESC`` puts the rows with more matches first, as in MySQL. Not done: stopwords,
the 50% threshold of natural language mode, ``WITH QUERY EXPANSION`` (searched as natural language),
the ``>``/``<``/``~`` weight operators (their words count like plain ones).
"""

from __future__ import annotations

import re
from typing import Any

import apsw

_WORD = re.compile(r"\w+")
_TERM = re.compile(r'([+\-~<>]*)("([^"]*)"|[\w*]+)')
_MIN_WORD = 3  # InnoDB's innodb_ft_min_token_size
_AGAINST = re.compile(
    r"\bMATCH\s*\(([^()]+)\)\s*AGAINST\s*\(\s*([^()]+?)\s*"
    r"(IN\s+NATURAL\s+LANGUAGE\s+MODE(?:\s+WITH\s+QUERY\s+EXPANSION)?|IN\s+BOOLEAN\s+MODE|WITH\s+QUERY\s+EXPANSION)?\s*\)",
    re.IGNORECASE,
)


def rewrite(shape: str) -> str:
    """``MATCH (a, b) AGAINST (q MODE)`` → ``p2pdb_match(q, 'natural'|'boolean', a, b)``."""

    def call(match: re.Match[str]) -> str:
        mode = "boolean" if (match.group(3) or "").upper().endswith("BOOLEAN MODE") else "natural"
        return f"p2pdb_match({match.group(2)}, '{mode}', {match.group(1)})"

    return _AGAINST.sub(call, shape)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def relevance(query: Any, mode: Any, *columns: Any) -> float:
    """How well one row's columns match ``query`` (0.0: not at all)."""
    if query is None:
        return 0.0
    text = " ".join(
        c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in columns if c is not None
    )
    words = _words(text)
    wanted = query.decode("utf-8", "replace") if isinstance(query, bytes) else str(query)
    if mode != "boolean":
        terms = {w for w in _words(wanted) if len(w) >= _MIN_WORD}
        return float(sum(1 for w in words if w in terms))
    present = set(words)
    joined = " " + " ".join(words) + " "
    score = 0.0
    for operators, term, phrase in _TERM.findall(wanted):
        if phrase:
            inner = _words(phrase)
            found = bool(inner) and f" {' '.join(inner)} " in joined
        elif term.endswith("*"):
            stem = term[:-1].casefold()
            found = bool(stem) and any(w.startswith(stem) for w in present)
        else:
            found = term.casefold() in present
        if "-" in operators:
            if found:
                return 0.0
            continue
        if "+" in operators and not found:
            return 0.0
        score += 1.0 if found else 0.0
    return score


def register(conn: apsw.Connection) -> None:
    conn.create_scalar_function("p2pdb_match", relevance, -1, deterministic=True)  # type: ignore[arg-type]
