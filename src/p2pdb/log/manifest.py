"""Database manifests (DESIGN.md §3b): who owns a database and who may write to it.

A database is named as in MySQL and shared by name within a network: its address is derived from
the network id and the name only, so ``CREATE DATABASE shop`` on two peers, even concurrently,
names the same database. The address is a CIDv1 (raw codec, sha2-256) of
``b"p2pdb/db/v1\\0" + network_id + b"\\0" + name``, shown in base32.

``writers`` lists public keys allowed to write, or holds the single value ``"*"`` (anyone).
Owners may always write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from p2pdb.log import codec
from p2pdb.log.cid import cid_for_raw
from p2pdb.log.errors import MalformedEntry
from p2pdb.log.identity import PUBLIC_KEY_LENGTH

ANYONE = "*"
DEFAULT_NETWORK_ID = "p2pdb-open"


def database_address(network_id: str, name: str) -> str:
    """The address of database ``name`` in network ``network_id``."""
    if not name:
        raise ValueError("a database needs a name")
    material = b"p2pdb/db/v1\x00" + network_id.encode("utf-8") + b"\x00" + name.encode("utf-8")
    return str(cid_for_raw(material))


@dataclass(frozen=True, slots=True)
class Manifest:
    """Name, network, owners and writers of one database."""

    name: str
    network_id: str = DEFAULT_NETWORK_ID
    owners: tuple[bytes, ...] = ()
    writers: tuple[bytes, ...] | str = ANYONE
    address: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        keys = self.owners + (() if isinstance(self.writers, str) else self.writers)
        if isinstance(self.writers, str) and self.writers != ANYONE:
            raise ValueError("writers is a tuple of public keys or '*'")
        if any(not isinstance(k, bytes) or len(k) != PUBLIC_KEY_LENGTH for k in keys):
            raise ValueError("owner and writer keys are 32-byte Ed25519 public keys")
        object.__setattr__(self, "address", database_address(self.network_id, self.name))

    def can_write(self, author: bytes) -> bool:
        """May ``author`` append entries to this database's log?"""
        return self.writers == ANYONE or author in self.owners or author in self.writers

    def to_ipld(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "network": self.network_id,
            "owners": sorted(self.owners),
            "writers": self.writers if isinstance(self.writers, str) else sorted(self.writers),
        }

    def encode(self) -> bytes:
        return codec.encode(self.to_ipld())

    @classmethod
    def from_ipld(cls, value: Any) -> Manifest:
        if not isinstance(value, dict) or set(value) != {"name", "network", "owners", "writers"}:
            raise MalformedEntry("a manifest is a map of name, network, owners and writers")
        writers = value["writers"]
        if not (
            isinstance(value["name"], str)
            and isinstance(value["network"], str)
            and isinstance(value["owners"], list)
            and isinstance(writers, (list, str))
        ):
            raise MalformedEntry("manifest: name and network are strings, owners a list, writers a list or *")
        try:
            return cls(
                name=value["name"],
                network_id=value["network"],
                owners=tuple(value["owners"]),
                writers=writers if isinstance(writers, str) else tuple(writers),
            )
        except (TypeError, ValueError) as exc:
            raise MalformedEntry(f"invalid manifest: {exc}") from exc

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        return cls.from_ipld(codec.decode(data))
