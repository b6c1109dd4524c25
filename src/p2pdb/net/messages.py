"""The typed messages peers exchange over a link, encoded as MessagePack by msgspec.

Every message is a map with a ``type`` field naming its struct (a msgspec tagged union), so a
peer can tell them apart and ignore fields it does not know yet. :func:`decode` checks every
type and every size limit below and raises :class:`ProtocolError` for anything malformed; the
link then closes. The limits bound what one message can make a peer allocate; senders batch to
stay within them (see ``docs/protocol.md``, "Links").

The handshake payload and the responder's verdict are separate structs (not :data:`Message`):
they only travel during the handshake.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from p2pdb.net.frames import ProtocolError

REPLICATION_VERSION: Final = 2  # Hello.version: the replication protocol this module speaks
MAX_DB_NAME: Final = 64  # characters, as MySQL limits database names
MAX_CID: Final = 64  # bytes of one binary CID (ours are 36)
MAX_CIDS: Final = 4096  # CIDs in one Heads, Want or IHave
MAX_BLOCK: Final = 4 * 1024 * 1024 + 1024  # bytes of one block (p2pdb.log's entry limit, plus slack)
MAX_BLOCKS: Final = 4096  # blocks in one Blocks message (its total stays under the frame limit)
MAX_PUBLISH_MORE: Final = 63  # further blocks in one Publish (a burst of at most 64 entries)
MAX_ADDRESS: Final = 256  # characters of one "host:port" address
MAX_ADDRESSES: Final = 256  # addresses in one Peers or Hello
MAX_DATABASES: Final = 4096  # database names in one Hello or Databases message
MAX_LOCATOR: Final = 128  # ancestor CIDs in one Heads locator
MAX_PEER_ID: Final = 128  # characters of a peer id
MAX_REASON: Final = 200  # characters of a handshake rejection reason
MAX_BATCH_BOUNDARY: Final = 256  # boundary entries in one Boundary message
MAX_SNAPSHOT_BLOCKS: Final = 16  # snapshot blocks (each at most 2 MiB) asked or sent in one message

DbName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DB_NAME)]
Cid = Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_CID)]
Cids = Annotated[list[Cid], msgspec.Meta(max_length=MAX_CIDS)]
Block = Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_BLOCK)]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ADDRESS)]
Addresses = Annotated[list[Address], msgspec.Meta(max_length=MAX_ADDRESSES)]
U32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
U63 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # msgspec bounds fit an int64


class _Message(msgspec.Struct, frozen=True, tag_field="type"):
    """Base of the link messages: immutable, encoded as a map tagged with ``type``."""


class Hello(_Message, frozen=True, tag="hello"):
    """First message each side sends: who it is, where it listens, which databases it replicates."""

    peer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PEER_ID)]
    listen: Addresses
    databases: Annotated[list[DbName], msgspec.Meta(max_length=MAX_DATABASES)]
    version: U32 = REPLICATION_VERSION


class Heads(_Message, frozen=True, tag="heads"):
    """The sender's current heads of database ``db`` (anti-entropy). ``locator``: some ancestors of
    the heads at growing distances (1, 2, 4, ... Lamport steps back), sent when the sender saw heads
    it lacks, so a peer that does not know the heads still finds entries both have and pushes the rest
    in bulk."""

    db: DbName
    heads: Cids
    locator: Annotated[list[Cid], msgspec.Meta(max_length=MAX_LOCATOR)] = msgspec.field(default_factory=list)


class Databases(_Message, frozen=True, tag="databases"):
    """More databases the sender replicates than its :class:`Hello` could name (sent in pages)."""

    names: Annotated[list[DbName], msgspec.Meta(max_length=MAX_DATABASES)]


class Want(_Message, frozen=True, tag="want"):
    """Ask for the blocks of these CIDs of database ``db``."""

    db: DbName
    cids: Cids


class Blocks(_Message, frozen=True, tag="blocks"):
    """Blocks (encoded log entries) of database ``db``, in answer to :class:`Want`."""

    db: DbName
    blocks: Annotated[list[Block], msgspec.Meta(max_length=MAX_BLOCKS)]


class Publish(_Message, frozen=True, tag="publish"):
    """Eager push of new entries of database ``db`` (gossip): ``block``, and in ``more`` the others
    of the same burst. A node of an earlier build, which does not know ``more``, takes the first
    entry only; announcements and anti-entropy bring it the rest."""

    db: DbName
    block: Block
    more: Annotated[list[Block], msgspec.Meta(max_length=MAX_PUBLISH_MORE)] = []

    @property
    def blocks(self) -> list[bytes]:
        return [self.block, *self.more]


class IHave(_Message, frozen=True, tag="ihave"):
    """Lazy announce: the sender has these entries of database ``db`` (gossip)."""

    db: DbName
    cids: Cids


class Peers(_Message, frozen=True, tag="peers"):
    """Peer exchange: addresses (``host:port``) where other peers of the network listen."""

    addresses: Addresses


class Ping(_Message, frozen=True, tag="ping"):
    nonce: U63


class Pong(_Message, frozen=True, tag="pong"):
    nonce: U63


class WantIds(_Message, frozen=True, tag="want_ids"):
    """Ask for an AUTO_INCREMENT id class in database ``db`` (see :mod:`p2pdb.store.autoinc`): a peer
    that holds one answers by committing a grant to the asker, which reaches it like any entry."""

    db: DbName


class WantSnapshot(_Message, frozen=True, tag="want_snapshot"):
    """Ask for the sender's snapshot of its latest final checkpoint of database ``db``."""

    db: DbName


class SnapshotOffer(_Message, frozen=True, tag="snapshot"):
    """Answer to :class:`WantSnapshot`: the snapshot's root CID (empty: none) and the signed entries
    that make its checkpoint final (the checkpoint and its countersignatures), to check before
    fetching anything."""

    db: DbName
    root: Annotated[bytes, msgspec.Meta(max_length=MAX_CID)]
    proof: Annotated[list[Block], msgspec.Meta(max_length=MAX_CIDS)]


class WantSnapshotBlocks(_Message, frozen=True, tag="want_snapshot_blocks"):
    """Ask for blocks (root, chunks) of a snapshot of database ``db``."""

    db: DbName
    cids: Annotated[list[Cid], msgspec.Meta(max_length=MAX_SNAPSHOT_BLOCKS)]


class SnapshotBlocks(_Message, frozen=True, tag="snapshot_blocks"):
    """Snapshot blocks in answer to :class:`WantSnapshotBlocks` (the receiver checks each CID)."""

    db: DbName
    blocks: Annotated[list[Block], msgspec.Meta(max_length=MAX_SNAPSHOT_BLOCKS)]


class WantBoundary(_Message, frozen=True, tag="want_boundary"):
    """A light node asks for entries it lacks (``cids``) of database ``db``: those in the causal past
    of ``horizon`` (its heads and its checkpoint's) are already in its state and come back as
    :class:`Boundary`; the others come as ordinary :class:`Blocks`."""

    db: DbName
    cids: Cids
    horizon: Annotated[list[Cid], msgspec.Meta(max_length=MAX_LOCATOR)]


class Boundary(_Message, frozen=True, tag="boundary"):
    """Entries below a light node's floor, each with the control entries of its causal past and
    the entries of the asker's horizon in its causal past (``below``; empty from older peers)."""

    db: DbName
    blocks: Annotated[list[Block], msgspec.Meta(max_length=MAX_BATCH_BOUNDARY)]
    controls: Annotated[list[Cids], msgspec.Meta(max_length=MAX_BATCH_BOUNDARY)]
    below: Annotated[list[Cids], msgspec.Meta(max_length=MAX_BATCH_BOUNDARY)] = []


Message = (
    Hello | Heads | Want | Blocks | Publish | IHave | Peers | Ping | Pong | WantIds | Databases
    | WantSnapshot | SnapshotOffer | WantSnapshotBlocks | SnapshotBlocks | WantBoundary | Boundary
)  # fmt: skip

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    """MessagePack bytes of ``message`` (limits are checked by the receiver, not here)."""
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """The message in ``data``; :class:`ProtocolError` if it is malformed or over a limit."""
    try:
        message: Message = _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise ProtocolError(f"malformed message: {exc}") from None
    return message


# -- handshake ------------------------------------------------------------------------------------


class HandshakePayload(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """Carried encrypted in Noise messages 2 (responder) and 3 (initiator).

    ``identity_sig`` is the Ed25519 signature, by ``identity_key``, of
    ``b"noise-libp2p-static-key:" + <the sender's Noise static public key>`` (as in libp2p-noise).
    """

    version: U32
    network_id: Annotated[str, msgspec.Meta(max_length=256)]
    identity_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    identity_sig: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


class HandshakeVerdict(msgspec.Struct, frozen=True):
    """The responder's first transport message: did it accept the initiator, and if not, why."""

    accepted: bool
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON)] = ""


def encode_handshake(value: HandshakePayload | HandshakeVerdict) -> bytes:
    return _encoder.encode(value)


_payload_decoder = msgspec.msgpack.Decoder(HandshakePayload)
_verdict_decoder = msgspec.msgpack.Decoder(HandshakeVerdict)


def decode_payload(data: bytes) -> HandshakePayload:
    """Raises ``msgspec.DecodeError`` (the handshake turns it into a ``HandshakeError``)."""
    return _payload_decoder.decode(data)


def decode_verdict(data: bytes) -> HandshakeVerdict:
    """Raises ``msgspec.DecodeError`` (the handshake turns it into a ``HandshakeError``)."""
    return _verdict_decoder.decode(data)
