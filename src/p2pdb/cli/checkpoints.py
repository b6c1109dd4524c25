"""``p2pdb checkpoints``, ``p2pdb snapshot export`` and ``p2pdb snapshot import``."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import click

from p2pdb.log.identity import peer_id


def show(data_dir: Path, database: str, as_json: bool) -> None:
    from p2pdb.checkpointer import describe
    from p2pdb.status import load_database

    db = load_database(data_dir, database)
    chain = db.checkpoints.chain()
    items = [describe(s) for s in chain.chain] + [describe(s) for s in chain.candidates() if not s.chosen]
    if as_json:
        click.echo(json.dumps({"db": database, "checkpoints": items}, indent=2))
        return
    if not items:
        click.echo(f"{database}: no checkpoint yet")
    for item in items:
        when = datetime.datetime.fromtimestamp(item["at"] / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        state = "final" if item["chosen"] else ("final, not chosen" if item["final"] else "proposed")
        author = peer_id(bytes.fromhex(item["author"]))
        click.echo(
            f"#{item['seq']:<4} {item['cid']}  {state}  {len(item['signers'])} signers"
            f"{', ' + str(len(item['dissent'])) + ' dissent' if item['dissent'] else ''}"
            f"  {item['entries']} entries  {item['rows']} rows  state {item['state'][:16]}"
            f"  {when} UTC  by {author}"
        )


def export(data_dir: Path, database: str, output: Path) -> None:
    from p2pdb.status import load_database, snapshot_store
    from p2pdb.store.snapshot import write_car

    db = load_database(data_dir, database)
    latest = db.checkpoints.chain().latest
    store = snapshot_store(data_dir, database)
    try:
        root = store.root_of(latest.proposal.cid) if latest is not None else None
        if root is None or latest is None:
            raise click.ClickException(f"{database} has no snapshot of a final checkpoint here yet")
        proof = db.checkpoints.proof(latest.proposal.cid)
        from p2pdb.log.cid import cid_for_block

        tmp = output.with_name(output.name + ".tmp")
        with tmp.open("wb") as stream:
            size = write_car(stream, root.cid, [*store.blocks(root), *((cid_for_block(b), b) for b in proof)])
        os.replace(tmp, output)
    finally:
        store.close()
    click.echo(
        f"{output}: snapshot {root.cid} of checkpoint #{root.seq} {root.checkpoint},"
        f" {root.rows} rows, {len(root.chunks) + 1 + len(proof)} blocks, {size} bytes"
    )


def import_(data_dir: Path, database: str, source: Path) -> None:
    from p2pdb.config import Config
    from p2pdb.log import CID, Identity
    from p2pdb.node import lock_data_dir
    from p2pdb.store import checkpointing as ck
    from p2pdb.store.registry import file_name, manifest_for
    from p2pdb.store.snapshot import SnapshotError, SnapshotStore, parse_root, read_car

    config = Config.load(data_dir, {})
    key = data_dir / "identity.key"
    if not key.exists():
        raise click.ClickException(f"no node in {data_dir} (run p2pdb init first)")
    lock = lock_data_dir(data_dir)  # the node must not run meanwhile
    try:
        target = data_dir / "db" / file_name(database)
        if target.exists():
            raise click.ClickException(f"database {database!r} exists in {data_dir}: drop it first")
        target.parent.mkdir(parents=True, exist_ok=True)
        snapshots = target.with_name(file_name(database).removesuffix(".sqlite") + ".snapshots")
        store = SnapshotStore(snapshots)
        try:
            proof: list[bytes] = []
            with source.open("rb") as stream:
                root_cid, blocks = read_car(stream)
                kept: list[tuple[CID, bytes]] = []
                for cid, data in blocks:
                    if _is_entry(data):
                        proof.append(data)  # the checkpoint's signed entries
                    else:
                        kept.append((cid, data))
                    if len(kept) >= 256:
                        store.put_blocks(kept)
                        kept = []
                store.put_blocks(kept)
            root = parse_root(root_cid, store.get(root_cid))
            manifest = manifest_for(database, config.network_id, config.access.get(database))
            restoring = target.with_name(target.name + ".restore")
            with click.progressbar(length=sum(t[3] for t in root.tables), label="restoring") as bar:
                ck.restore_file(
                    Identity.load(key), manifest, config.checkpoint_quorum, str(restoring), root, store.get,
                    proof, progress=bar.update,
                )  # fmt: skip
            store.add_root(root)
        except SnapshotError as exc:
            raise click.ClickException(f"snapshot refused: {exc}") from None
        finally:
            store.close()
        os.replace(restoring, target)
        for suffix in ("-wal", "-shm"):
            leftover = restoring.with_name(restoring.name + suffix)
            if leftover.exists():
                leftover.unlink()
    finally:
        os.close(lock)
    click.echo(f"{database}: restored checkpoint #{root.seq} {root.checkpoint}, {root.rows} rows")


def _is_entry(data: bytes) -> bool:
    """A signed log entry among a CAR's blocks (the checkpoint's proof), not a snapshot chunk."""
    from p2pdb.log import codec

    if len(data) > 64 * 1024:  # entries of checkpoints are small; snapshot chunks are not
        return False
    try:
        value = codec.decode(data)
    except Exception:
        return False
    return isinstance(value, dict) and "sig" in value and "clock" in value
