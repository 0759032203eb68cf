"""The writer as a unit of work, on SQLite and PostgreSQL: one connection and one transaction per command, bounded
waits that end in `BusyError` (never a stall), and no second connection taken while the log's lock is held."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from ledger.errors import BusyError, StorageError
from ledger.log import Log
from ledger.merkle import root_of
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, WriteLimits, as_busy, events_table, make_engine
from tests.conftest import FakeClock
from tests.ledger.helpers import TOPIC, append

QUICK = WriteLimits(pool_size=2, max_overflow=0, pool_timeout=0.3, lock_timeout=0.3, queue=1)


@pytest.fixture
def quick(db_url: str) -> Iterator[LedgerStore]:
    """A store whose bounds are short, so a test sees `BusyError` within a fraction of a second."""
    s = LedgerStore(make_engine(db_url, limits=QUICK), QUICK)
    s.create_tables()
    yield s
    s.close()


def _event(n: int) -> StoredEvent:
    return StoredEvent(uuid.uuid4(), 1, TOPIC, f'{{"n":{n}}}'.encode())


class _Holder:
    """A thread that holds the log's writer until released."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.holding = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.store.write():
            self.holding.set()
            self.release.wait(30)

    def __enter__(self) -> _Holder:
        self.thread.start()
        assert self.holding.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(30)


def test_reads_and_nested_writes_join_the_unit(store: LedgerStore, clock: FakeClock) -> None:
    recorder = LedgerRecorder(store, clock=clock)
    with store.write() as conn:
        recorder.insert_events([_event(1)])  # joins: no second lock, no deadlock with ourselves
        assert store.size() == 1  # a read inside the unit sees the unit's own write
        with store.read() as inner:
            assert inner is conn
        with store.write() as nested:
            assert nested is conn
    assert store.size() == 1


def test_a_failed_unit_writes_nothing(store: LedgerStore, clock: FakeClock) -> None:
    recorder = LedgerRecorder(store, clock=clock)
    append(recorder, 3)

    def failing_command() -> None:
        with store.write():
            recorder.insert_events([_event(4), _event(5)])
            raise RuntimeError("the command failed after appending")

    with pytest.raises(RuntimeError):
        failing_command()
    assert store.size() == 3
    # The rolled-back edge must not be taken for the stored one by a later transaction on the same connection.
    with store.write():
        pass
    append(recorder, 4)
    log = Log(store, "test/log")
    leaves = [h for _, h in log.leaves(0, 7)]
    assert log.root()[1] == root_of(leaves)


def test_a_second_connection_inside_the_unit_is_refused_at_once(store: LedgerStore) -> None:
    with store.write(), pytest.raises(StorageError, match="second database connection"), store.engine.connect():
        pass
    # Nothing leaked: the pool still serves readers and the next writer.
    with store.write() as conn:
        assert conn.execute(select(events_table.c.leaf_index)).all() == []


def test_a_full_writer_queue_answers_busy_at_once(quick: LedgerStore) -> None:
    waiting_done = threading.Event()
    outcome: list[str] = []

    def waiter() -> None:
        try:
            with quick.write():
                outcome.append("wrote")
        except BusyError:
            outcome.append("busy")
        waiting_done.set()

    with _Holder(quick):
        t = threading.Thread(target=waiter, daemon=True)
        t.start()
        # The one queue place is taken by `waiter` (or it has already timed out): either way a newcomer is refused.
        with pytest.raises(BusyError) as caught, quick.write():
            pass
        assert caught.value.retry_after == QUICK.retry_after
    t.join(30)
    assert waiting_done.is_set() and outcome in (["busy"], ["wrote"])


def test_a_writer_that_waits_too_long_gets_busy(quick: LedgerStore) -> None:
    with _Holder(quick), pytest.raises(BusyError, match="waited"), quick.write():
        pass
    with quick.write():  # the lock is free again
        pass


def test_another_process_holding_the_lock_gives_busy_not_a_stall(db_url: str, quick: LedgerStore) -> None:
    """A second engine stands for another worker process: the database's own lock wait is bounded too."""
    other = LedgerStore(make_engine(db_url, limits=QUICK), QUICK)
    try:
        with _Holder(other), pytest.raises(BusyError, match="lock"), quick.write():
            pass
    finally:
        other.close()


def test_an_exhausted_pool_is_busy_not_a_500(db_url: str) -> None:
    limits = WriteLimits(pool_size=1, max_overflow=0, pool_timeout=0.2, lock_timeout=0.2)
    s = LedgerStore(make_engine(db_url, limits=limits), limits)
    s.create_tables()
    try:
        with s.engine.connect(), pytest.raises(BusyError, match="connection"), s.read():
            pass
    finally:
        s.close()


def test_as_busy_names_only_contention() -> None:
    assert isinstance(as_busy(sa_exc.TimeoutError("QueuePool limit")), BusyError)
    assert as_busy(ValueError("something else")) is None
    assert isinstance(as_busy(sa_exc.OperationalError("BEGIN", {}, Exception("database is locked"))), BusyError)
    assert as_busy(sa_exc.OperationalError("SELECT", {}, Exception("no such table: x"))) is None


def test_limits_refuse_nonsense() -> None:
    for bad in ({"queue": 0}, {"pool_size": 0}, {"lock_timeout": 0}, {"pool_timeout": -1}, {"retry_after": 0}):
        with pytest.raises(StorageError):
            WriteLimits(**bad)  # type: ignore[arg-type]


def test_a_unit_of_reading_is_one_transaction_and_refuses_writes(store: LedgerStore, clock: FakeClock) -> None:
    recorder = LedgerRecorder(store, clock=clock)
    append(recorder, 2)
    with store.reading() as conn:
        assert store.size() == 2  # joins the unit's transaction
        with store.read() as inner:
            assert inner is conn
        with pytest.raises(StorageError, match="second database connection"), store.engine.connect():
            pass
        with pytest.raises(StorageError, match="write inside a unit of reading"), store.write():
            pass
    append(recorder, 1)  # the store is usable again afterwards
    assert store.size() == 3
