"""``p2pdb.net``: encrypted, authenticated links between peers, and the messages they carry.

See DESIGN.md §5 and ``docs/protocol.md``. ``net`` moves bytes between peers and never decides
what data means.
"""

from p2pdb.net.frames import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FrameDecoder,
    FrameEncoder,
    HandshakeError,
    LinkClosed,
    LinkError,
    ProtocolError,
)
from p2pdb.net.link import DEFAULT_SEND_BUFFER, DEFAULT_TIMEOUT, Link, connect, serve
from p2pdb.net.messages import (
    Blocks,
    Heads,
    Hello,
    IHave,
    Message,
    Peers,
    Ping,
    Pong,
    Publish,
    Want,
    decode,
    encode,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_SEND_BUFFER",
    "DEFAULT_TIMEOUT",
    "Blocks",
    "FrameDecoder",
    "FrameEncoder",
    "HandshakeError",
    "Heads",
    "Hello",
    "IHave",
    "Link",
    "LinkClosed",
    "LinkError",
    "Message",
    "Peers",
    "Ping",
    "Pong",
    "ProtocolError",
    "Publish",
    "Want",
    "connect",
    "decode",
    "encode",
    "serve",
]
