"""Row and column merge rules: pure logic, no SQL, no I/O (DESIGN.md §4, docs/crdt.md).

The store captures local SQL changes as :class:`RowChange` values, signs them into log entries, and merges
every entry's changes (local or remote) with :func:`merge`, which says what to do to the SQL row and
returns the new :class:`RowState` to persist (:func:`encode_state`). Row existence follows causal length;
columns follow the table's :class:`ConflictRule` (last-writer-wins by default, or counters).
"""

from ._causal import cl_for_update, is_alive, next_cl_for_delete, next_cl_for_insert
from ._change import RowChange, RowKey, coalesce, combine
from ._codec import FORMAT_VERSION, decode_state, encode_state
from ._counter import CounterRule
from ._errors import InvalidChangeError, RuleError, StateDecodeError
from ._lww import LWWRule, join_cells
from ._merge import Action, MergeOutcome, first_insert, merge
from ._registry import (
    DEFAULT_RULE,
    ENTRY_POINT_GROUP,
    MissingRule,
    RuleFactory,
    UnknownRule,
    get_rule,
    is_known,
    load_plugins,
    register_rule,
    rule_from_spec,
    rule_or_missing,
)
from ._rule import ConflictRule
from ._state import EMPTY_STATE, Cell, Contribution, RowState
from ._values import Number, SqlValue

__all__ = [
    "DEFAULT_RULE",
    "EMPTY_STATE",
    "ENTRY_POINT_GROUP",
    "FORMAT_VERSION",
    "Action",
    "Cell",
    "ConflictRule",
    "Contribution",
    "CounterRule",
    "InvalidChangeError",
    "LWWRule",
    "MergeOutcome",
    "MissingRule",
    "Number",
    "RowChange",
    "RowKey",
    "RowState",
    "RuleError",
    "RuleFactory",
    "SqlValue",
    "StateDecodeError",
    "UnknownRule",
    "cl_for_update",
    "coalesce",
    "combine",
    "decode_state",
    "encode_state",
    "first_insert",
    "get_rule",
    "is_alive",
    "is_known",
    "join_cells",
    "load_plugins",
    "merge",
    "next_cl_for_delete",
    "next_cl_for_insert",
    "register_rule",
    "rule_from_spec",
    "rule_or_missing",
]
