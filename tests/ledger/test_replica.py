"""Read routing between the primary and a replica (ADR 0015), on SQLite and PostgreSQL.

The "replica" here is a second database holding a copy of a prefix of the primary's log, as a replica that stopped
replaying would (the real streaming replica is in tests/verify_api/test_replica_pg.py): reads at a size it holds run
there, anything larger on the primary, and a verdict about now only where the newest checkpoint is the primary's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from ledger.errors import ProofError
from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.replica import (
    Head,
    Refusal,
    ReplicaLag,
    Served,
    holds_size,
    same_checkpoint,
    same_newest_checkpoint,
)
from ledger.store import Checkpoint, LedgerStore, checkpoints_table, events_table, make_engine, tiles_table
from ledger.store_replica import ReplicaReads
from signatures.note import NoteSigner
from tests.conftest import PG_ADMIN_URL, FakeClock
from tests.ledger.helpers import append

ORIGIN = "ledger.test.example/log"


def _checkpoint(seq: int, size: int, note: str) -> Checkpoint:
    return Checkpoint(seq, size, bytes(32), note, bytes(32), "2026-01-01T08:00:00.000000Z")


def test_a_read_at_a_size_needs_that_many_leaves() -> None:
    assert holds_size(10, 10)
    assert holds_size(10, 1)
    assert not holds_size(10, 11)


def test_a_verdict_about_now_needs_the_very_same_newest_checkpoint() -> None:
    primary = Head.of(12, _checkpoint(3, 12, "note three\n"))
    assert same_newest_checkpoint(primary, Head.of(12, _checkpoint(3, 12, "note three\n")))
    assert not same_newest_checkpoint(primary, Head.of(12, _checkpoint(2, 12, "note two\n")))  # re-signed later
    assert not same_newest_checkpoint(primary, Head.of(12, _checkpoint(3, 12, "a forged note\n")))
    assert not same_newest_checkpoint(primary, Head.of(9, _checkpoint(2, 9, "note two\n")))
    assert not same_newest_checkpoint(primary, Head.of(0, None))
    assert not same_newest_checkpoint(Head.of(0, None), Head.of(0, None))
    newest = _checkpoint(3, 12, "note three\n")
    assert same_checkpoint(newest, _checkpoint(3, 12, "note three\n"))
    assert not same_checkpoint(newest, _checkpoint(3, 12, "a forged note\n"))
    assert not same_checkpoint(newest, _checkpoint(2, 9, "note two\n"))
    assert not same_checkpoint(newest, None)
    assert not same_checkpoint(None, None)


def test_lag_counts_leaves_and_checkpoints_behind() -> None:
    primary = Head.of(20, _checkpoint(4, 20, "four\n"))
    lag = ReplicaLag(True, True, primary, Head.of(15, _checkpoint(0, 15, "zero\n")))
    assert (lag.leaves_behind, lag.checkpoints_behind, lag.serves_now) == (5, 4, False)
    assert ReplicaLag(True, True, primary, Head.of(0, None)).checkpoints_behind == 5
    down = ReplicaLag(True, False, primary, None)
    assert (down.leaves_behind, down.checkpoints_behind, down.serves_now) == (None, None, False)


@pytest.fixture
def second_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the same backend as `db_url` (the replica's copy of the log goes there)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'replica.db'}"
        return
    schema = f"r_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _copy_log(source: LedgerStore, target: LedgerStore) -> None:
    """Copy every event, tile and checkpoint row (what a replica has replayed up to this moment)."""
    with source.read() as src, target.engine.begin() as dst:
        for table in (events_table, tiles_table, checkpoints_table):
            rows = [dict(r._mapping) for r in src.execute(table.select()).all()]
            dst.execute(table.delete())
            if rows:
                dst.execute(table.insert(), rows)


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


@pytest.fixture
def lagging(store: LedgerStore, second_url: str, clock: FakeClock, signer: NoteSigner) -> Iterator[ReplicaReads]:
    """A primary of 700 leaves (checkpoints at 600 and 700) and a replica that stopped at 600 leaves."""
    recorder = LedgerRecorder(store, clock=clock)
    primary = Log(store, ORIGIN)
    append(recorder, 600, batch=100)
    primary.sign_checkpoint(signer, clock())
    replica_store = LedgerStore(make_engine(second_url))
    replica_store.create_tables()
    _copy_log(store, replica_store)
    append(recorder, 100, batch=100)
    primary.sign_checkpoint(signer, clock())
    reads = ReplicaReads(primary, Log(replica_store, ORIGIN))
    yield reads
    reads.close()


def _where(log: Log, reads: ReplicaReads) -> Served:
    return Served.REPLICA if log is reads.replica else Served.PRIMARY


def test_reads_at_a_size_the_replica_holds_run_there(lagging: ReplicaReads) -> None:
    reads = lagging
    assert reads.at_size("t", 600, lambda log: _where(log, reads)) is Served.REPLICA
    assert reads.at_size("t", 1, lambda log: _where(log, reads)) is Served.REPLICA
    assert reads.at_size("t", 601, lambda log: _where(log, reads)) is Served.PRIMARY
    assert reads.served() == {("t", Served.REPLICA): 2, ("t", Served.PRIMARY): 1}
    assert reads.refused() == {("t", Refusal.BEHIND): 1}


def test_the_replica_answers_exactly_as_the_primary(lagging: ReplicaReads) -> None:
    reads, primary = lagging, lagging.primary
    assert reads.at_size("p", 600, lambda log: log.inclusion_proof(599, 600)) == primary.inclusion_proof(599, 600)
    assert reads.at_size("c", 600, lambda log: log.consistency_proof(300, 600)) == primary.consistency_proof(300, 600)
    assert reads.at_size("t", 512, lambda log: log.tile(0, 1)) == primary.tile(0, 1)
    assert reads.at_size("e", 600, lambda log: log.entry_bundle(2, 88)) == primary.entry_bundle(2, 88)
    assert reads.served() == {(k, Served.REPLICA): 1 for k in "pcte"}
    # An impossible request is the same error wherever it runs.
    with pytest.raises(ProofError):
        reads.at_size("p", 600, lambda log: log.inclusion_proof(600, 600))


def test_a_verdict_about_now_is_refused_a_replica_behind_the_newest_checkpoint(lagging: ReplicaReads) -> None:
    reads = lagging
    got = reads.now("status", lambda log, size: (_where(log, reads), size))
    assert got == (Served.PRIMARY, None)  # the primary, at its own newest checkpoint
    assert reads.refused() == {("status", Refusal.BEHIND): 1}
    lag = reads.lag()
    assert (lag.leaves_behind, lag.checkpoints_behind, lag.serves_now) == (100, 1, False)


def test_a_verdict_about_now_rests_on_a_replica_with_the_primarys_newest_checkpoint(lagging: ReplicaReads) -> None:
    reads = lagging
    assert reads.replica is not None
    _copy_log(reads.primary.store, reads.replica.store)  # the replica catches up
    got = reads.now("status", lambda log, size: (_where(log, reads), size))
    assert got == (Served.REPLICA, 700)  # pinned to the checkpoint both hold
    assert reads.at_size("t", 700, lambda log: _where(log, reads)) is Served.REPLICA
    assert reads.refused() == {}
    assert reads.lag().serves_now


def test_a_checkpoint_read_needs_the_replica_to_hold_that_checkpoint(lagging: ReplicaReads) -> None:
    reads = lagging
    assert reads.at_size("s", 600, lambda log: _where(log, reads), checkpoint=True) is Served.REPLICA
    assert reads.at_size("s", 700, lambda log: _where(log, reads), checkpoint=True) is Served.PRIMARY


def test_without_a_replica_everything_runs_on_the_primary(store: LedgerStore, clock: FakeClock) -> None:
    append(LedgerRecorder(store, clock=clock), 3)
    reads = ReplicaReads(Log(store, ORIGIN), None)
    assert not reads.configured
    assert reads.at_size("t", 3, lambda log: log is reads.primary)
    assert reads.now("n", lambda log, size: (log is reads.primary, size)) == (True, None)
    assert reads.refused() == {}
    assert not reads.lag().configured


def _driver_error() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("canceling statement due to conflict with recovery"))


def test_a_replica_that_fails_mid_read_leaves_the_read_to_the_primary(lagging: ReplicaReads) -> None:
    reads = lagging

    def read(log: Log) -> Served:
        if log is reads.replica:
            raise _driver_error()
        return _where(log, reads)

    assert reads.at_size("t", 10, read) is Served.PRIMARY
    assert reads.refused() == {("t", Refusal.UNAVAILABLE): 1}
    assert reads.served() == {("t", Served.PRIMARY): 1}


def test_an_error_on_the_primary_is_its_answer_not_a_second_try(lagging: ReplicaReads) -> None:
    calls: list[Served] = []

    def read(log: Log) -> None:
        calls.append(_where(log, lagging))
        raise _driver_error()

    with pytest.raises(OperationalError):
        lagging.at_size("t", 700, read)  # beyond the replica: the primary's, once
    with pytest.raises(OperationalError):
        lagging.now("n", lambda log, _: read(log))
    assert calls == [Served.PRIMARY, Served.PRIMARY]
