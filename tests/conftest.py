"""Shared fixtures: a database of each kind (SQLite file, PostgreSQL schema), keys, an injected clock."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, make_url, text

from clock import StartedClock
from ledger.store import LedgerStore, make_engine
from signatures.note import NoteSigner
from trustledger import region as region_module

PG_ADMIN_URL = os.environ.get("TRUSTLEDGER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]
PG_REPLICA_PORT = 5433  # scripts/pg-replica.sh's default: a streaming replica of the test PostgreSQL


START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)  # the instant tests start at unless they choose another
_MONOTONIC_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand (a `clock.Clock`); never sleep for time to pass."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        """Seconds since a fixed origin, following `now`: moving the clock ages caches and rate-limit buckets too."""
        return (self.now - _MONOTONIC_ORIGIN).total_seconds()

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def process_clock(monkeypatch: pytest.MonkeyPatch) -> StartedClock:
    """One clock, started at `START` and ticking, for every region this process opens from settings: the CLI run in
    process (`CliRunner`) and the test's own `open_region(Settings())` then agree, and run at a chosen date."""
    shared = StartedClock(START)
    monkeypatch.setattr(region_module, "region_clock", lambda settings: shared)
    return shared


def _pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; yields a URL whose search_path points at it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each backend: every storage test runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_schema")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = LedgerStore(make_engine(db_url))
    s.create_tables()
    yield s
    s.close()


@pytest.fixture(scope="session")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def note_signer(log_key: Ed25519PrivateKey) -> NoteSigner:
    return NoteSigner("ledger.test.example/log", log_key)


@pytest.fixture(scope="session")
def pg_replica() -> int:
    """The port of a streaming replica of the test PostgreSQL (ADR 0015), made by scripts/pg-replica.sh on first use
    and reused by later runs; the script holds a file lock, so parallel workers wait for one another."""
    script = Path(__file__).parents[1] / "scripts" / "pg-replica.sh"
    env = {**os.environ, "TRUSTLEDGER_PG_REPLICA_PORT": str(PG_REPLICA_PORT)}
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"scripts/pg-replica.sh failed:\n{done.stdout}{done.stderr}"
    return PG_REPLICA_PORT


def replica_url(primary_url: str, port: int) -> str:
    """The URL of the same database and schema on the replica listening on `port`."""
    return make_url(primary_url).set(port=port).render_as_string(hide_password=False)
