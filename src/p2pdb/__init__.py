"""P2PDB: a decentralized, peer-to-peer SQL database.

Applications speak MySQL to their local peer; every committed transaction becomes a signed,
content-addressed entry of a Merkle-CRDT log that peers exchange and merge deterministically.
"""

__version__ = "0.1.0"
