"""Fixtures for the ``p2pdb.log`` tests (helpers live in ``helpers.py``)."""

from __future__ import annotations

import pytest

from p2pdb.log import Identity, Manifest

from .helpers import ALICE, BOB, CAROL


@pytest.fixture
def alice() -> Identity:
    return ALICE


@pytest.fixture
def bob() -> Identity:
    return BOB


@pytest.fixture
def carol() -> Identity:
    return CAROL


@pytest.fixture
def manifest() -> Manifest:
    return Manifest("shop")
