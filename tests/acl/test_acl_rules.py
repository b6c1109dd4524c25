"""The ACL rules of p2pdb.acl (docs/security.md "Rules"), one by one."""

from __future__ import annotations

import pytest

from p2pdb.acl import ANYONE, AclBook, AclEvent, AclOp, InvalidAcl, decode_acl_op

OWNER, WRITER, OTHER, OUTSIDER = (bytes([n]) * 32 for n in (1, 2, 3, 4))


def ev(cid: int, author: bytes, op: AclOp, past: set[int] = set(), time: int | None = None) -> AclEvent:  # noqa: B006
    return AclEvent(
        bytes([cid]), 0, author, cid if time is None else time, op, frozenset(bytes([p]) for p in past)
    )


def init(*, open_: bool = False, owners: tuple[bytes, ...] = (OWNER,)) -> AclOp:
    return AclOp("init", owners=owners, open=open_)


def grant(
    to: bytes | str, *privileges: str, table: str | None = None, columns: tuple[str, ...] = ()
) -> AclOp:
    return AclOp("grant", to=to, privileges=tuple(sorted(privileges)), table=table, columns=columns)


def revoke(
    to: bytes | str, *privileges: str, table: str | None = None, columns: tuple[str, ...] = ()
) -> AclOp:
    return AclOp("revoke", to=to, privileges=tuple(sorted(privileges)), table=table, columns=columns)


def past(*cids: int) -> frozenset[bytes]:
    return frozenset(bytes([c]) for c in cids)


def test_no_init_means_open_to_anyone() -> None:
    acl = AclBook().current()
    assert not acl.controlled and acl.check(OUTSIDER, "DELETE", "t") is None


def test_owned_database_refuses_everyone_but_its_owners() -> None:
    book = AclBook([ev(1, OWNER, init())])
    acl = book.current()
    assert acl.check(OWNER, "DROP", "t") is None
    denied = acl.check(OUTSIDER, "INSERT", "items", ["price"])
    assert denied is not None and denied.column is None and denied.table == "items"


def test_open_database_is_a_revocable_grant_to_anyone() -> None:
    book = AclBook([ev(1, OWNER, init(open_=True))])
    assert book.current().check(OUTSIDER, "INSERT", "t") is None
    book.add(ev(2, OWNER, revoke(ANYONE, "INSERT"), {1}))
    assert book.current().check(OUTSIDER, "INSERT", "t") is not None
    assert book.current().check(OUTSIDER, "UPDATE", "t") is None


def test_column_grant_allows_one_column_and_names_the_other() -> None:
    book = AclBook(
        [ev(1, OWNER, init()), ev(2, OWNER, grant(WRITER, "UPDATE", table="items", columns=("price",)), {1})]
    )
    acl = book.current()
    assert acl.check(WRITER, "UPDATE", "items", ["price"]) is None
    denied = acl.check(WRITER, "UPDATE", "items", ["price", "name"])
    assert denied is not None and (denied.privilege, denied.table, denied.column) == (
        "UPDATE",
        "items",
        "name",
    )
    other_table = acl.check(WRITER, "UPDATE", "orders", ["price"])
    assert other_table is not None and other_table.column is None
    assert acl.check(WRITER, "DELETE", "items") is not None


def test_only_owners_change_the_acl() -> None:
    book = AclBook([ev(1, OWNER, init()), ev(2, WRITER, grant(WRITER, "INSERT"), {1})])
    assert book.current().check(WRITER, "INSERT", "t") is not None
    book.add(ev(3, OWNER, AclOp("owner", owners=(WRITER,)), {1}))
    book.add(ev(4, WRITER, grant(OTHER, "INSERT"), {1, 3}))
    assert book.current().check(OTHER, "INSERT", "t") is None


def test_revocation_is_causal_and_wins_over_a_concurrent_grant() -> None:
    events = [
        ev(1, OWNER, init(owners=(OWNER, OTHER))),
        ev(2, OWNER, grant(WRITER, "INSERT"), {1}),
        ev(3, OWNER, revoke(WRITER, "INSERT"), {1, 2}),
    ]
    book = AclBook(events)
    assert book.at(past(1, 2)).check(WRITER, "INSERT", "t") is None  # before the revocation
    assert book.at(past(1, 2, 3)).check(WRITER, "INSERT", "t") is not None  # after it
    book.add(ev(4, OTHER, grant(WRITER, "INSERT"), {1}, time=9))  # concurrent with 2 and 3
    assert book.current().check(WRITER, "INSERT", "t") is not None  # remove wins
    book.add(ev(5, OWNER, grant(WRITER, "INSERT"), {1, 2, 3, 4}))  # a grant that saw the revocation
    assert book.current().check(WRITER, "INSERT", "t") is None


def test_concurrent_inits_lowest_clock_decides_the_owners() -> None:
    book = AclBook([ev(1, OWNER, init(), time=5), ev(2, OTHER, init(owners=(OTHER,)), time=3)])
    acl = book.current()
    assert acl.owners == {OTHER}
    assert book.at(past(1)).owners == {OWNER}  # what the first creator's own writes were judged by
    book.add(ev(3, OWNER, grant(WRITER, "INSERT"), {1}))  # the loser's grant, made before it knew
    assert book.current().check(WRITER, "INSERT", "t") is None
    book.add(ev(4, OWNER, grant(OUTSIDER, "INSERT"), {1, 2, 3}))  # after: no longer an owner
    assert book.current().check(OUTSIDER, "INSERT", "t") is not None


def test_an_init_after_an_init_is_void() -> None:
    book = AclBook([ev(1, OWNER, init()), ev(2, OUTSIDER, init(owners=(OUTSIDER,)), {1}, time=0)])
    assert book.current().owners == {OWNER}


@pytest.mark.parametrize(
    "item",
    [
        {"acl": "nope"},
        {"acl": "init", "owners": [], "open": False},
        {"acl": "init", "owners": [OWNER], "open": 1},
        {"acl": "init", "owners": [WRITER, OWNER], "open": False},
        {"acl": "grant", "to": b"x", "p": ["INSERT"]},
        {"acl": "grant", "to": WRITER, "p": []},
        {"acl": "grant", "to": WRITER, "p": ["FLY"]},
        {"acl": "grant", "to": WRITER, "p": ["UPDATE", "INSERT"]},
        {"acl": "grant", "to": WRITER, "p": ["DELETE"], "t": "t", "c": ["a"]},
        {"acl": "grant", "to": WRITER, "p": ["UPDATE"], "c": ["a"]},
        {"acl": "grant", "to": WRITER, "p": ["UPDATE"], "t": "T"},
        {"acl": "grant", "to": WRITER, "p": ["UPDATE"], "x": 1},
        {"acl": "owner", "to": "*"},
    ],
)
def test_malformed_acl_ops_are_refused(item: dict[str, object]) -> None:
    with pytest.raises(InvalidAcl):
        decode_acl_op(item)


def test_acl_ops_round_trip() -> None:
    for op in (
        init(open_=True),
        grant(WRITER, "INSERT", "UPDATE", table="items", columns=("a", "b")),
        revoke(ANYONE, "DELETE"),
        AclOp("owner", owners=(OTHER,)),
    ):
        assert decode_acl_op(op.to_ipld()) == op


def test_the_newest_key_in_the_past_is_the_write_key_and_rewraps_add_readers() -> None:
    wrapped = b"\0" * 80

    def key(n: int, *readers: bytes) -> AclOp:
        return AclOp("key", key_id=bytes([n]) * 16, wraps=tuple((r, wrapped) for r in sorted(readers)))

    book = AclBook([ev(1, OWNER, init()), ev(2, OWNER, key(7, OWNER, WRITER), {1})])
    assert book.current().key_id == bytes([7]) * 16 and book.current().readers == {OWNER, WRITER}
    book.add(ev(3, OWNER, key(7, OTHER), {1, 2}))  # the same key to one more reader
    assert book.current().key_id == bytes([7]) * 16 and book.current().readers == {OWNER, WRITER, OTHER}
    book.add(ev(4, OWNER, key(8, OWNER, OTHER), {1, 2, 3}))  # a rotation without WRITER
    assert book.current().key_id == bytes([8]) * 16 and book.current().readers == {OWNER, OTHER}
    assert book.at(past(1, 2)).key_id == bytes([7]) * 16  # what a write concurrent with it uses
    book.add(ev(5, WRITER, key(9, WRITER), {1, 2}))  # not an owner: void
    assert book.current().key_id == bytes([8]) * 16
    with pytest.raises(InvalidAcl):
        decode_acl_op({"acl": "key", "id": b"x" * 16, "w": [[OWNER, b"short"]]})
