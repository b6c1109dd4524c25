"""Counterexamples the convergence property found, kept as fixed examples (each failed before its fix).

Every example runs the steps of ``StoreConvergence`` by hand and then its teardown, which delivers
everything everywhere and checks that all replicas (and a replica rebuilt from the log) agree on
tables, rows, merge states, conflict records, UNIQUE settlement, rejections and the change feed.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.property.test_store_convergence import FEATURES, StoreConvergence

Step = tuple[str, dict[str, Any]]

EXAMPLES: dict[str, list[Step]] = {
    # A concurrent insert of one key with the same UNIQUE value makes the row's claim newer without a
    # visible change: the settlement must run again.
    "claim changes without a visible change": [
        ("add_column", {"definition": "c INTEGER", "r": 0}),
        ("add_column", {"definition": "c INTEGER", "r": 1}),
        ("auto_insert", {"r": 1, "s": None}),
        ("create_index", {"index": "i_s", "r": 1}),
        ("create_index", {"index": "u_s", "r": 2}),
        ("replace", {"key": 0, "n": 1, "r": 0}),
        ("replace", {"key": 0, "n": 1, "r": 1}),
        ("replace", {"key": 1, "n": 0, "r": 0}),
    ],
    # A write concurrent with one drop and seen by another drop is not lost.
    "a drop that saw the write": [
        ("create_keyless", {"r": 1, "variant": "KL"}),
        ("deliver_all", {"dst": 0, "src": 1}),
        ("drop", {"r": 1, "table": "kl"}),
        ("write_keyless", {"a": 0, "b": None, "delete": False, "r": 0}),
        ("drop", {"r": 0, "table": "kl"}),
    ],
    # A value stored under a losing column type: a later local write of the row keeps its record.
    "local write keeps value records": [
        ("add_column", {"definition": "c INTEGER", "r": 0}),
        ("insert", {"key": 0, "n": 0, "r": 0, "s": None}),
        ("add_column", {"definition": "c TEXT", "r": 1}),
        ("update", {"c": 0, "key": 0, "r": 0, "s": None}),
        ("deliver_all", {"dst": 1, "src": 0}),
        ("increment", {"k": 1, "low": 0, "r": 1}),
    ],
    # A forged increment of a row nobody inserted: the row shows its key in its key column.
    "key columns come from the key": [
        ("create_t", {"r": 1, "variant": "counter"}),
        ("forge", {"bad": "type", "dst": 0, "src": 1}),
        ("forge", {"bad": "delta", "dst": 0, "src": 0}),
    ],
    # A second concurrent CREATE of an existing table is an alter_table in the feed, not a new table.
    "feed of a merged create": [
        ("replace", {"key": 0, "n": 0, "r": 0}),
    ],
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_found_counterexample(name: str) -> None:
    machine = StoreConvergence()
    machine.start(count=3, creators={0, 1, 2}, features=set(FEATURES), unique=False)
    for method, arguments in EXAMPLES[name]:
        getattr(machine, method)(**arguments)
        machine.feed_tells_the_tables()
    machine.teardown()


#: Light-replica counterexamples of one long run (``P2PDB_PROPERTY_FEATURES=acl,checkpoint``, 2500
#: examples x 100 steps): replica 2 proposes a checkpoint on top of replica 1's first one, and
#: replica 1 prunes below the first checkpoint, then below replica 0's rival one. The light replica
#: no longer knew that the first proposal lies in the late one's past (the entries between were
#: forgotten), stored ``covers_prev`` false, and its checkpoint chain (its merge state) differed.
LIGHT_EXAMPLES: dict[str, list[Step]] = {
    # the pruned proposal was forgotten: proposals now stay in the floor, linked to their nearest
    # floor ancestors
    "a proposal forgotten by a prune": [
        ("propose", {"r": 1}),
        ("deliver_all", {"dst": 2, "src": 1}),
        ("insert", {"key": 4, "n": -2, "r": 2, "s": None}),
        ("deliver_all", {"dst": 0, "src": 2}),
        ("propose", {"r": 0}),
        ("deliver_all", {"dst": 1, "src": 0}),
        ("countersign", {"r": 2, "which": 1}),
        ("countersign", {"r": 1, "which": 0}),
        ("propose", {"r": 2}),
        ("prune", {"r": 1}),
        ("prune", {"r": 1}),
    ],
}


# The entry between them came back as a boundary entry, without its floor ancestors: a boundary entry
# now links to its parents in the floor and to the floor entries the archive names. The same steps,
# with replica 0 countersigning replica 1's checkpoint before it proposes its own.
_FIRST = LIGHT_EXAMPLES["a proposal forgotten by a prune"]
LIGHT_EXAMPLES["a boundary entry above a kept proposal"] = [
    *_FIRST[:4],
    ("countersign", {"r": 0, "which": 0}),
    *_FIRST[4:],
]


@pytest.mark.parametrize("name", sorted(LIGHT_EXAMPLES))
def test_a_light_replica_judges_a_late_proposal_on_a_pruned_one_as_an_archive_does(name: str) -> None:
    machine = StoreConvergence()
    machine.start(count=3, creators={1}, features=set(), unique=False)
    machine.features = {"acl", "checkpoint"}  # rules allowed, but no owned genesis in these examples
    for method, arguments in LIGHT_EXAMPLES[name]:
        getattr(machine, method)(**arguments)
        machine.feed_tells_the_tables()
    assert machine.replicas[1].log.floor  # the example does prune
    machine.teardown()
