"""Errors of the schema package."""

from __future__ import annotations


class SchemaError(ValueError):
    """A schema definition or schema change that is malformed or does not fit the schema it applies to."""
