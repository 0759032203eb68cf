"""Fixtures for the anchors tests: an anchors store on each database, and logs that share a prefix then fork."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from anchors.store import AnchorStore
from ledger.log import Log
from ledger.store import LedgerStore, make_engine
from tests.anchors.helpers import append

ORIGIN = "ledger.ha.gov.example/log"
SHARED = 10


@pytest.fixture
def anchor_store(db_url: str) -> Iterator[AnchorStore]:
    engine = make_engine(db_url)
    store = AnchorStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


def _log(path: Path, origin: str = ORIGIN) -> Log:
    store = LedgerStore(make_engine(f"sqlite:///{path}"))
    store.create_tables()
    return Log(store, origin)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    log = _log(tmp_path / "log.db")
    yield log
    log.store.close()


@pytest.fixture
def forked_logs(tmp_path: Path) -> Iterator[tuple[Log, Log]]:
    """Two logs of one origin: the same first SHARED leaves, then different ones (a forked log, for real)."""
    a, b = _log(tmp_path / "a.db"), _log(tmp_path / "b.db")
    append(a.store, SHARED, label="shared")
    append(b.store, SHARED, label="shared")
    assert a.root(SHARED) == b.root(SHARED)
    yield a, b
    a.store.close()
    b.store.close()
