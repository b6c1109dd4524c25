"""Tests of ``p2pdb.store``: the engine conformance suite, schema replication and merge."""
