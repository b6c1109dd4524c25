"""Errors raised by the merge rules.

Both derive from ``ValueError``: they mean "these bytes or this change are not something the rules accept",
never "the rules are broken". The store raises them to its caller before anything is written.
"""

from __future__ import annotations


class InvalidChangeError(ValueError):
    """A row change is malformed, or carries something its table's conflict rule cannot merge."""


class RuleError(ValueError):
    """A conflict rule name is unknown, already registered, or given options it does not take."""


class StateDecodeError(ValueError):
    """Stored row-state bytes do not decode to a valid :class:`~p2pdb.crdt.RowState`."""
