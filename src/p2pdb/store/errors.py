"""Errors of the storage engine."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of storage errors."""


class UnsupportedChange(StoreError):
    """A local transaction did something that cannot be replicated (e.g. DROP TABLE without the
    explicit option, renaming a table, dropping a column, a table without a PRIMARY KEY)."""


class InvalidOps(StoreError):
    """A log entry's ops are malformed or do not fit the schema (unknown table or column, wrong
    type, oversized value). The entry is recorded as rejected and changes nothing."""


class NoIdRange(StoreError):
    """This node holds no AUTO_INCREMENT id class in the database yet (it must get one from a peer)."""


class IdRangeExhausted(StoreError):
    """The next AUTO_INCREMENT value would not fit the column's type."""
