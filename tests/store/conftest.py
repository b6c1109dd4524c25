"""Fixtures of the store tests: every conformance test runs on both engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from p2pdb.log import Manifest
from p2pdb.store import Database, Engine, FileEngine, MemoryEngine

from .helpers import MANIFEST, seeded_identity

MakeDB = Callable[..., Database]


@pytest.fixture(params=["memory", "file"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_engine(engine_kind: str, tmp_path: Path) -> Callable[[], Engine]:
    """New engines of the parametrised kind (files in ``tmp_path``)."""
    count = 0

    def make() -> Engine:
        nonlocal count
        count += 1
        if engine_kind == "memory":
            return MemoryEngine()
        return FileEngine(tmp_path / f"db{count}.sqlite")

    return make


@pytest.fixture
def make_db(make_engine: Callable[[], Engine]) -> Iterator[MakeDB]:
    """``make_db(seed, **options)``: a Database of identity ``seed`` on a new engine; closed at the end."""
    made: list[Database] = []

    def make(seed: int = 1, *, manifest: Manifest = MANIFEST, **options: Any) -> Database:
        db = Database(seeded_identity(seed), manifest, make_engine(), **options)
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()


@pytest.fixture
def db(make_db: MakeDB) -> Database:
    return make_db(1)
