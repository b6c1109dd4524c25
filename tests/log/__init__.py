"""Tests of ``p2pdb.log`` (a package, so its module names cannot clash with other test folders)."""
