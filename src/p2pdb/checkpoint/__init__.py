"""Proof of version: checkpoint ops and the chain they make (docs/checkpoints.md).

Pure like :mod:`p2pdb.acl`: what the ops are, and which proposals are final, as functions of the
events a replica holds. Computing and checking state hashes is the store's part
(:mod:`p2pdb.store.checkpoints`).
"""

from p2pdb.checkpoint._chain import Chain, Countersign, Policy, Proposal, Status, resolve
from p2pdb.checkpoint._ops import (
    HASH_LENGTH,
    CheckpointOp,
    CountersignOp,
    InvalidCheckpoint,
    decode_checkpoint_op,
)

__all__ = [
    "HASH_LENGTH",
    "Chain",
    "CheckpointOp",
    "Countersign",
    "CountersignOp",
    "InvalidCheckpoint",
    "Policy",
    "Proposal",
    "Status",
    "decode_checkpoint_op",
    "resolve",
]
