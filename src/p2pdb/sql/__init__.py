"""``p2pdb.sql``: the MySQL-facing layer — wire protocol (``protocol/``), statement translation,
sessions and transactions, DDL and the catalog — over the node's databases."""
