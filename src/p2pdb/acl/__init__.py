"""Access control carried by a database's own log (docs/security.md).

Who may write a database (owners, writers, grants per table and per column) is not configuration
that every node must keep identical by hand: it is a set of signed *ACL events* in the database's
log, and the rights of every entry are those of the ACL of the entry's causal past. This package is
pure: it turns events (with their causal pasts) into an :class:`Acl` and answers ``may this author
make this change``; :mod:`p2pdb.store` feeds it from the log.
"""

from p2pdb.acl._events import (
    ACL_KINDS,
    ANYONE,
    PRIVILEGES,
    AclEvent,
    AclOp,
    InvalidAcl,
    decode_acl_op,
)
from p2pdb.acl._resolve import DDL_PRIVILEGE, Acl, AclBook, Denied, Grant, resolve

__all__ = [
    "ACL_KINDS",
    "ANYONE",
    "DDL_PRIVILEGE",
    "PRIVILEGES",
    "Acl",
    "AclBook",
    "AclEvent",
    "AclOp",
    "Denied",
    "Grant",
    "InvalidAcl",
    "decode_acl_op",
    "resolve",
]
