"""Conflict rules by name: the schema names a table's rule as ``{"rule": "counter", "columns": [...]}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._counter import CounterRule
from ._errors import RuleError
from ._lww import LWWRule
from ._rule import ConflictRule

#: Builds a rule from the options stored next to its name in the schema.
RuleFactory = Callable[..., ConflictRule]

#: The rule of a table whose schema names none.
DEFAULT_RULE: ConflictRule = LWWRule()

_FACTORIES: dict[str, RuleFactory] = {LWWRule.name: LWWRule, CounterRule.name: CounterRule}


def register_rule(name: str, factory: RuleFactory, *, replace: bool = False) -> None:
    """Make ``get_rule(name, **options)`` call ``factory(**options)``.

    Every replica must register the same rules under the same names before it merges, or replicas diverge.
    Registering a taken name raises :class:`RuleError` unless ``replace`` is set.
    """
    if type(name) is not str or not name:
        raise RuleError(f"rule name must be a non-empty str, not {name!r}")
    if name in _FACTORIES and not replace:
        raise RuleError(f"rule {name!r} is already registered")
    _FACTORIES[name] = factory


def get_rule(name: str = LWWRule.name, **options: Any) -> ConflictRule:
    """The rule registered as ``name``, built with ``options``.

    Unknown names and options the rule does not take raise :class:`RuleError`.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise RuleError(f"unknown conflict rule {name!r} (known: {sorted(_FACTORIES)})")
    try:
        return factory(**options)
    except TypeError as exc:
        raise RuleError(f"bad options for rule {name!r}: {exc}") from exc


def rule_from_spec(spec: Mapping[str, Any] | None) -> ConflictRule:
    """The rule described by a schema entry ``{"rule": name, **options}``; None means the default rule."""
    if spec is None:
        return DEFAULT_RULE
    options = dict(spec)
    name = options.pop("rule", LWWRule.name)
    return get_rule(name, **options)
