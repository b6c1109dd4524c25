"""The ``p2pdb`` command line (DESIGN.md §7)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from p2pdb import __version__

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("p2pdb-data"),
    show_default=True,
    help="Directory with the node's identity, accounts and databases.",
)


def describe_error(exc: BaseException) -> str:
    """One line for the user about a failure (never a traceback)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = " ".join(str(exc).split())
    module = type(exc).__module__
    if module.startswith("apsw"):
        return f"cannot read a database file: {text or type(exc).__name__}"
    return text or type(exc).__name__


class _Main(click.Group):
    """Every failure of a command is one line on stderr and exit status 1 (click's own errors too)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            logging.getLogger("p2pdb.cli").debug("command failed", exc_info=True)
            raise click.ClickException(describe_error(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="p2pdb")
def main() -> None:
    """P2PDB: a peer-to-peer SQL database that speaks MySQL."""


@main.command()
@DATA_DIR
@click.option("--mysql-host", default=None, help="MySQL listen address [127.0.0.1].")
@click.option("--mysql-port", type=int, default=None, help="MySQL listen port [3306].")
@click.option("--mysql-tls/--no-mysql-tls", default=None,
              help="Offer TLS to MySQL clients [on; certificate generated in the data directory].")  # fmt: skip
@click.option("--mysql-ssl-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM certificate (chain) of the MySQL listener, instead of the generated one.")  # fmt: skip
@click.option("--mysql-ssl-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM private key of --mysql-ssl-cert.")  # fmt: skip
@click.option("--mysql-processes", type=int, default=None,
              help="Processes serving MySQL: the main one and N-1 that serve reads [1].")  # fmt: skip
@click.option("--p2p-host", default=None, help="Peer-to-peer listen address [127.0.0.1].")
@click.option("--p2p-port", type=int, default=None, help="Peer-to-peer listen port [4001].")
@click.option(
    "--http-port",
    type=int,
    default=None,
    help="HTTP API port: change feed, webhooks, admin, metrics (off unless given).",
)
@click.option("--bootstrap", multiple=True, metavar="HOST:PORT", help="Peer to connect to (repeatable).")
@click.option("--lan", is_flag=True, default=None, help="Discover and announce peers on the LAN by mDNS.")
@click.option("--network-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Pre-shared key file of a private network.")  # fmt: skip
@click.option("--new-database-access", type=click.Choice(["owned", "open", "none"]), default=None,
              help="Who may write a database this node creates [owned: this node, until it grants].")  # fmt: skip
@click.option("--role", type=click.Choice(["archive", "light"]), default=None,
              help="archive: keep every entry [default]; light: bootstrap from a snapshot, keep recent entries.")  # fmt: skip
@click.option("--checkpoint-interval", type=float, default=None,
              help="Seconds between checkpoints of each database [600; 0: none].")  # fmt: skip
@click.option("--checkpoint-quorum", type=int, default=None,
              help="Signers that make a checkpoint final, unless most owners signed [2].")  # fmt: skip
@click.option("--memory", is_flag=True, default=None,
              help="Keep databases in memory only (development, tests): they replicate, and are gone at stop.")  # fmt: skip
@click.option("--log-level", default="INFO", show_default=True, help="Logging level.")
def start(data_dir: Path, log_level: str, **options: Any) -> None:
    """Start a node in the foreground (stop it with Ctrl-C or SIGTERM)."""
    from p2pdb.config import Config
    from p2pdb.node import Node, StartupError

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options["bootstrap"] = list(options["bootstrap"]) or None
    if options.pop("memory"):
        options["storage"] = "memory"
    try:
        config = Config.load(data_dir, options)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc
    if config.lan and config.network_key is None:
        click.echo(
            "warning: --lan without --network-key: your databases are open to anyone on the LAN", err=True
        )

    async def run() -> int:
        from p2pdb.sql.guard import begin_shutdown

        node = Node(config)
        try:
            await node.start()
        except StartupError as exc:
            click.echo(f"error: {exc}", err=True)
            return 2
        except Exception as exc:
            logging.getLogger("p2pdb.cli").debug("start failed", exc_info=True)
            click.echo(f"error: {describe_error(exc)}", err=True)
            return 2
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupt(signum: int, frame: Any) -> None:
            # Runs at once, even while a statement holds the event loop: stop every statement now;
            # the loop's own handler (below) then sets ``stop``.
            begin_shutdown()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
            signal.signal(sig, interrupt)  # the loop's wakeup fd stays: stop.set still runs
        assert node.identity is not None
        click.echo(f"P2PDB {__version__} peer {node.identity.peer_id}")
        click.echo(
            f"mysql  {node.mysql_address}  (mysql -h 127.0.0.1 -P {node.mysql_address.rsplit(':', 1)[1]} -u root)"
        )
        if node.replicator is not None:
            click.echo(f"p2p    {node.replicator.address}")
        if node.http is not None:
            click.echo(f"http   {node.http.address}")
        click.echo(f"data   {config.data_dir.resolve()}")
        sys.stdout.flush()
        await stop.wait()
        click.echo("stopping")
        await node.stop()
        return 0

    _use_uvloop()
    sys.exit(asyncio.run(run()))


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@main.command()
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(data_dir: Path, as_json: bool) -> None:
    """Show the node's peer id, addresses, databases and heads."""
    from p2pdb.status import collect

    try:
        info = collect(data_dir)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"peer     {info['peer_id']}")
    click.echo(f"running  {'yes (pid ' + str(info['pid']) + ')' if info['running'] else 'no'}")
    if info.get("storage") == "memory":
        click.echo("storage  memory (databases are gone when the node stops)")
    for kind, address in (info.get("addresses") or {}).items():
        click.echo(f"{kind:<8} {address if address else 'off'}")
    for db in info["databases"]:
        click.echo(f"db       {db['name']}: {db['entries']} entries, heads {', '.join(db['heads']) or '-'}")
        if db.get("bootstrap"):
            done, total = db["bootstrap"]
            click.echo(f"booting  {db['name']}: snapshot blocks {done}/{total}")
        cp = db.get("checkpoints")
        if cp:
            final = cp.get("final")
            where = f"#{final['seq']} ({len(final['signers'])} signers)" if final else "none yet"
            click.echo(f"checkpt  {db['name']}: {where}, role {cp.get('role')}, floor {cp.get('floor')}")
            if cp.get("mismatch"):
                click.echo(f"MISMATCH {db['name']}: {cp['mismatch']}")
            elif cp.get("repairs"):
                click.echo(f"REPAIRED {db['name']}: {cp['repairs']} time(s), last: {cp.get('last_mismatch')}")
            if cp.get("history_gaps"):
                gaps = "; ".join(cp["history_gaps"])
                click.echo(f"GAPS     {db['name']}: {gaps} (start it again from a snapshot)")
        if db.get("damaged"):
            click.echo(f"DAMAGED  {db['name']}: {db['damaged']}")
        for rule, waiting in (db.get("missing_rules") or {}).items():
            click.echo(
                f"RULES    {db['name']}: conflict rule {rule!r} is not installed here: {waiting} entries wait"
                " (install the package that provides it, then restart)"
            )


@main.command()
@DATA_DIR
@click.option("--password", is_flag=True, help="Set the MySQL root password (prompted).")
def init(data_dir: Path, password: bool) -> None:
    """Create the data directory and identity; optionally set the root password."""
    from p2pdb.log import Identity
    from p2pdb.sql.backend import Accounts

    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    identity = Identity.load_or_create(data_dir / "identity.key")
    click.echo(f"peer {identity.peer_id}")
    if password:
        secret = click.prompt("root password", hide_input=True, confirmation_prompt=True)
        Accounts(data_dir / "users.json").set_password("root", secret)
        click.echo("root password set")


@main.command("log")
@DATA_DIR
@click.argument("database")
@click.option("--limit", type=int, default=20, show_default=True)
def log_command(data_dir: Path, database: str, limit: int) -> None:
    """Print the newest entries of a database's log: CID, Lamport time, author (peer id), wall time
    and parents."""
    import datetime

    from p2pdb.log.identity import peer_id
    from p2pdb.status import open_log

    log = open_log(data_dir, database)
    for entry in list(log.traverse(reverse=True))[:limit]:
        parents = ",".join(str(p)[:16] for p in entry.parents) or "-"
        wall = (
            datetime.datetime.fromtimestamp(entry.wall / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
            if entry.wall
            else "-"
        )
        click.echo(
            f"{entry.cid}  t={entry.clock.time}  author={peer_id(entry.author)}  at={wall}  parents={parents}"
        )


@main.command()
@DATA_DIR
@click.argument("database")
@click.argument("start", metavar="FROM")
@click.argument("end", metavar="TO", default="now")
@click.option("--table", help="Only this table.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")
def diff(data_dir: Path, database: str, start: str, end: str, table: str | None, as_json: bool) -> None:
    """Show the rows added, changed and removed between two versions of DATABASE. FROM and TO are
    times ('2026-12-06 10:00:00', UTC), entry CIDs, or 'now' (TO defaults to now)."""
    from p2pdb.cli.history import show_diff

    show_diff(data_dir, database, start, end, table=table, as_json=as_json)


@main.command()
@DATA_DIR
@click.argument("database")
def verify(data_dir: Path, database: str) -> None:
    """Verify every stored entry of a database (CID, canonical encoding, signature), then rebuild
    the database from its log alone and check that the rows on disk are exactly the result."""
    from p2pdb.status import block_count, replay_database, verify_database

    # Progress goes to stderr (drawn on a terminal only): stdout keeps the results.
    with click.progressbar(
        length=block_count(data_dir, database), label="checking entries", file=sys.stderr
    ) as bar:
        checked, errors = verify_database(data_dir, database, progress=bar.update)
    for error in errors:
        click.echo(f"BAD {error}")
    click.echo(f"{checked} entries checked, {len(errors)} bad")
    replaying: list[Any] = []

    def replay_progress(done: int, total: int) -> None:
        if not replaying:
            replaying.append(click.progressbar(length=total, label="replaying the log", file=sys.stderr))
            replaying[0].__enter__()
        replaying[0].update(done)

    try:
        stored, replayed = replay_database(data_dir, database, progress=replay_progress)
    except Exception as exc:  # a damaged block or file: the rows cannot be checked against the log
        click.echo(f"BAD cannot rebuild the database from its log: {describe_error(exc)}")
        sys.exit(1)
    finally:
        if replaying:
            replaying[0].__exit__(None, None, None)
    if stored == replayed:
        click.echo(f"rows match a replay of the log (state {stored[:16]})")
    else:
        click.echo(
            f"BAD rows differ from a replay of the log (stored {stored[:16]}, replayed {replayed[:16]})"
        )
    from p2pdb.status import verify_checkpoints

    lines, chain_errors = verify_checkpoints(data_dir, database)
    for line in lines:
        click.echo(line)
    for error in chain_errors:
        click.echo(f"BAD {error}")
    errors = errors + chain_errors
    if errors or stored != replayed:
        sys.exit(1)


@main.command()
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("database")
def checkpoints(data_dir: Path, as_json: bool, database: str) -> None:
    """List a database's checkpoints: the final chain, then proposals gathering signatures."""
    from p2pdb.cli.checkpoints import show

    show(data_dir, database, as_json)


@main.group()
def snapshot() -> None:
    """Export or import the snapshot of a database's latest final checkpoint (a CAR file)."""


@snapshot.command("export")
@DATA_DIR
@click.argument("database")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def snapshot_export(data_dir: Path, database: str, output: Path) -> None:
    """Write the snapshot of DATABASE's latest final checkpoint, with its signatures, as a CARv1 file."""
    from p2pdb.cli.checkpoints import export

    export(data_dir, database, output)


@snapshot.command("import")
@DATA_DIR
@click.argument("database")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def snapshot_import(data_dir: Path, database: str, source: Path) -> None:
    """Start DATABASE on this (stopped) node from a snapshot CAR file: checked against its signed
    checkpoint, then the node fetches only the entries after it."""
    from p2pdb.cli.checkpoints import import_

    import_(data_dir, database, source)


_USER = click.option(
    "--user", "-u", default="root", show_default=True, help="MySQL account with GRANT OPTION."
)
_PASSWORD = click.option("--password", "-p", is_flag=True, help="Prompt for its password [MYSQL_PWD].")


def _rules_change(fn: Any) -> Any:
    """The options and arguments of ``p2pdb grant`` and ``p2pdb revoke``."""
    for decorate in reversed(
        (DATA_DIR, _USER, _PASSWORD, click.argument("privileges"),
         click.argument("target", metavar="DB.TABLE"), click.argument("peer"))
    ):  # fmt: skip
        fn = decorate(fn)
    return fn


@main.command()
@_rules_change
def grant(data_dir: Path, user: str, password: bool, privileges: str, target: str, peer: str) -> None:
    """Let PEER (a peer id, or '*' for anyone) write: p2pdb grant 'INSERT, UPDATE (price)' shop.items 12D3KooW..."""
    from p2pdb.cli.access import change

    change("GRANT", data_dir, user, password, privileges, target, peer)


@main.command()
@_rules_change
def revoke(data_dir: Path, user: str, password: bool, privileges: str, target: str, peer: str) -> None:
    """Take privileges back from PEER: p2pdb revoke INSERT shop.* 12D3KooW..."""
    from p2pdb.cli.access import change

    change("REVOKE", data_dir, user, password, privileges, target, peer)


@main.command()
@DATA_DIR
@_USER
@_PASSWORD
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("database")
def acl(data_dir: Path, user: str, password: bool, as_json: bool, database: str) -> None:
    """Show a database's owners and grants (the access rules in its log)."""
    from p2pdb.cli.access import show

    show(data_dir, user, password, database, as_json)


@main.command()
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def peers(data_dir: Path, as_json: bool) -> None:
    """List the running node's connected peers."""
    from p2pdb.node import read_node_file

    info = read_node_file(data_dir)
    if info is None:
        raise click.ClickException(f"no running node in {data_dir}")
    peers_ = info.get("peers", [])
    if as_json:
        click.echo(json.dumps(peers_, indent=2))
        return
    for peer in peers_:
        click.echo(
            f"{peer['peer_id']}  {peer['address']}  {peer['direction']}  received {peer['entries_received']}"
        )
    if not peers_:
        click.echo("no peers connected")
