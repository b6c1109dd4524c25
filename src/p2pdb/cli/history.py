"""``p2pdb diff``: what changed between two versions of a database, read from its log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from p2pdb.store import time_travel
from p2pdb.store.diff import RowDiff, diff


def show_diff(
    data_dir: Path, database: str, start: str, end: str, *, table: str | None, as_json: bool
) -> None:
    from p2pdb.status import load_database, snapshot_path

    try:
        live = load_database(data_dir, database)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    snapshots = snapshot_path(data_dir, database)
    try:
        old = _version(live, start, snapshots)
        new = _version(live, end, snapshots)
        changes = [d for d in diff(old, new) if table is None or d.table.lower() == table.lower()]
    except (time_travel.HistoryUnreachable, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for change in changes:
        click.echo(json.dumps(change.to_json(), default=_jsonable) if as_json else _line(change))
    if not as_json:
        counts = {
            kind: sum(1 for c in changes if c.change == kind) for kind in ("added", "changed", "removed")
        }
        click.echo(f"{counts['added']} added, {counts['changed']} changed, {counts['removed']} removed")


def _version(live: Any, point: str, snapshots: Path) -> Any:
    if point.strip().lower() == "now":
        return live
    at = time_travel.parse_point(point)
    return time_travel.version_of(live, at, snapshots)


def _line(change: RowDiff) -> str:
    key = json.dumps(change.key, default=_jsonable)
    if change.change == "added":
        return f"+ {change.table} {key} {json.dumps(change.new, default=_jsonable)}"
    if change.change == "removed":
        return f"- {change.table} {key} {json.dumps(change.old, default=_jsonable)}"
    assert change.old is not None and change.new is not None
    parts = ", ".join(f"{c}: {_value(change.old, c)} -> {_value(change.new, c)}" for c in change.columns)
    return f"~ {change.table} {key} {parts}"


def _value(row: dict[str, Any], column: str) -> str:
    if column not in row:
        return "(no such column)"
    return json.dumps(row[column], default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
