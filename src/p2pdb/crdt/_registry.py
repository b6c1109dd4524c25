"""Conflict rules by name: the schema names a table's rule as ``{"rule": "counter", "columns": [...]}``.

Rules beyond the built-in ones come from installed packages: each entry point of the group
``p2pdb.rules`` names a rule and points at its factory, a :class:`ConflictRule` subclass or a
callable taking the rule's options (docs/crdt.md, "Pluggable rules"). They are loaded the first
time a rule is looked up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from p2pdb.log.clock import Clock

from ._change import RowChange
from ._counter import CounterRule
from ._errors import RuleError
from ._lww import LWWRule
from ._rule import ConflictRule
from ._state import RowState
from ._values import Number, SqlValue

#: Builds a rule from the options stored next to its name in the schema.
RuleFactory = Callable[..., ConflictRule]

#: The rule of a table whose schema names none.
DEFAULT_RULE: ConflictRule = LWWRule()

_BUILT_IN: dict[str, RuleFactory] = {LWWRule.name: LWWRule, CounterRule.name: CounterRule}
_FACTORIES: dict[str, RuleFactory] = dict(_BUILT_IN)
#: The entry-point group of pluggable rules.
ENTRY_POINT_GROUP = "p2pdb.rules"
_plugins_loaded = False
_lock = threading.Lock()

log = logging.getLogger(__name__)


class UnknownRule(RuleError):
    """No rule of this name is registered or installed here (``rule``: its name)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def load_plugins() -> None:
    """Register the rules of the ``p2pdb.rules`` entry points (once; a broken plugin is logged and
    left out: its tables then wait, loudly, as if it were not installed)."""
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    for point in sorted(points, key=lambda p: p.name):
        if point.name in _BUILT_IN:
            log.error(
                "conflict rule plugin %s (%s) is ignored: %r is built in", point.value, point.dist, point.name
            )
            continue
        try:
            factory = point.load()
        except Exception:
            log.exception("conflict rule plugin %r (%s) failed to load", point.name, point.value)
            continue
        if not callable(factory):
            log.error("conflict rule plugin %r (%s) is not callable", point.name, point.value)
            continue
        if point.name not in _FACTORIES:
            register_rule(point.name, factory)


def is_known(name: str) -> bool:
    """True if ``get_rule(name)`` finds a rule (built in, registered or installed)."""
    if name not in _FACTORIES:
        load_plugins()
    return name in _FACTORIES


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
        load_plugins()
        factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownRule(
            name,
            f"unknown conflict rule {name!r} (known: {sorted(_FACTORIES)}; a rule from a package is"
            f" found through the {ENTRY_POINT_GROUP!r} entry points)",
        )
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


class MissingRule(ConflictRule):
    """Stands for a rule that is not installed here: every use raises :class:`UnknownRule` (the
    store holds back the entries of its tables; local writes to them are refused)."""

    __slots__ = ("options",)
    name = "missing"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def _fail(self) -> UnknownRule:
        rule = str(self.options.get("rule"))
        return UnknownRule(
            rule,
            f"conflict rule {rule!r} is not installed on this node (install the package that provides it;"
            f" entry point group {ENTRY_POINT_GROUP!r})",
        )

    def check(self, change: RowChange) -> None:
        raise self._fail()

    def apply(self, state: RowState, change: RowChange, clock: Clock) -> RowState:
        raise self._fail()

    def visible(self, state: RowState) -> dict[str, SqlValue]:
        raise self._fail()

    def split_update(
        self, old: Mapping[str, SqlValue], new: Mapping[str, SqlValue]
    ) -> tuple[dict[str, SqlValue], dict[str, Number]]:
        raise self._fail()

    def spec(self) -> dict[str, Any]:
        return dict(self.options)


def rule_or_missing(spec: Mapping[str, Any] | None) -> ConflictRule:
    """:func:`rule_from_spec`, or a :class:`MissingRule` for a rule not installed here."""
    try:
        return rule_from_spec(spec)
    except UnknownRule:
        return MissingRule(spec or {})
