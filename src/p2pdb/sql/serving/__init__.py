"""Several processes serving the MySQL port (config ``mysql_processes``; docs/performance.md).

The main process owns every database's writer, the log and replication. With ``mysql_processes``
above 1 it starts that many minus one *reader processes*. Each listens on the same MySQL port
(``SO_REUSEPORT``: the kernel deals new connections among the processes), opens the databases'
SQLite files with ``PRAGMA query_only`` and serves autocommit SELECTs, session SETs, USE and SHOW
of catalogs itself, and a transaction until its first write (BEGIN, its SELECTs, and its COMMIT
or ROLLBACK if it wrote nothing). At the first command it does not serve (a write, a global SET,
node-wide state; see :meth:`p2pdb.sql.session.SQLSession.runs_here`) it hands the connection to
the main process, which serves it until it reads only again (a BEGIN's transaction ended, or a run
of reads: :meth:`p2pdb.sql.session.SQLSession.may_leave`) and then gives it back the same way:

- a plain connection moves whole: its socket goes over a Unix socket pair (``SCM_RIGHTS``) with
  the session (user, database, variables, warnings), the prepared statements and the bytes not yet
  run (:mod:`.channel`); the main process takes it over (:func:`p2pdb.sql.protocol.login.take_over`);
- a TLS connection cannot leave its TLS session: the reader keeps it and relays its plaintext to
  the main process over a new socket pair, which the main process takes over the same way (and
  never gives back: it holds only the relay).

Coherence (:mod:`.generation`): the main process counts, in a shared memory word, every committed
change of a catalog, of the accounts, of global variables and of the set of databases, before the
client that made it gets its answer. A reader compares the word before each command and, when it
moved, reads those again from the files. So a statement that follows another one's answer sees its
effects, whichever processes serve the two. ``SHOW PROCESSLIST`` and ``KILL`` in the main process
ask the readers over the same socket pairs.
"""
