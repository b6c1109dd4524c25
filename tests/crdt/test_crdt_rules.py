"""The rule registry, rule specs, and adding a new rule (the recipe of docs/crdt.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from p2pdb.crdt import (
    DEFAULT_RULE,
    Cell,
    ConflictRule,
    CounterRule,
    LWWRule,
    RowChange,
    RowState,
    RuleError,
    SqlValue,
    get_rule,
    merge,
    register_rule,
    rule_from_spec,
)
from p2pdb.log.clock import Clock


def test_builtin_rules_by_name_and_spec_round_trip() -> None:
    assert get_rule() == LWWRule() == DEFAULT_RULE
    counter = get_rule("counter", columns=["b", "a"])
    assert counter == CounterRule({"a", "b"})
    assert counter.spec() == {"rule": "counter", "columns": ["a", "b"]}
    assert rule_from_spec(counter.spec()) == counter
    assert rule_from_spec(LWWRule().spec()) == LWWRule()
    assert rule_from_spec(None) is DEFAULT_RULE
    assert hash(counter) == hash(CounterRule(["a", "b"]))


def test_unknown_rule_and_bad_options() -> None:
    with pytest.raises(RuleError, match="unknown"):
        get_rule("nope")
    with pytest.raises(RuleError, match="bad options"):
        get_rule("lww", columns=["x"])
    with pytest.raises(RuleError, match="bad options"):
        rule_from_spec({"rule": "counter"})
    with pytest.raises(RuleError, match="already registered"):
        register_rule("lww", LWWRule)


@dataclass(frozen=True, slots=True)
class FirstWriterWinsRule(ConflictRule):
    """The example rule of docs/crdt.md: each column keeps its *oldest* write in the row's life."""

    name: ClassVar[str] = "test-fww"

    def apply(self, state: RowState, change: RowChange, clock: Clock) -> RowState:
        cells: dict[str, Cell] | None = None
        for col, value in change.values.items():
            cell = state.cells.get(col)
            # Tie-break: the lower version (Lamport time, then author key bytes) wins; an equal version is
            # the same write again and changes nothing.
            if cell is None or clock < cell.version:
                cells = dict(state.cells) if cells is None else cells
                cells[col] = Cell(value, clock)
        return state if cells is None else RowState(state.cl, cells, state.contribs)

    def visible(self, state: RowState) -> dict[str, SqlValue]:
        return {col: cell.value for col, cell in state.cells.items()}


def test_registering_a_new_rule() -> None:
    register_rule(FirstWriterWinsRule.name, FirstWriterWinsRule, replace=True)
    rule = rule_from_spec({"rule": "test-fww"})
    assert isinstance(rule, FirstWriterWinsRule)
    a, b = b"\x01" * 32, b"\x02" * 32
    first, late = (
        (RowChange("t", (1,), 1, {"v": 5}), Clock(2, a)),
        (RowChange("t", (1,), 1, {"v": 3}), Clock(9, b)),
    )
    s = merge(None, *first, rule).state
    out = merge(s, *late, rule)
    assert (out.action, out.state_changed) == ("none", False)
    s2 = merge(None, *late, rule).state
    out = merge(s2, *first, rule)
    assert (out.action, out.changed, out.state) == ("update", {"v": 5}, s)
    # Row lives still come from merge(): a delete wins over both, whatever the rule.
    assert merge(s, RowChange("t", (1,), 2), Clock(1, b), rule).action == "delete"


@pytest.mark.parametrize("bad", ["", 3])
def test_rule_names_must_be_strings(bad: Any) -> None:
    with pytest.raises(RuleError):
        register_rule(bad, LWWRule)
