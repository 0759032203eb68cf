"""Group commit (ADR 0014), on SQLite and PostgreSQL: concurrent units of work share one transaction and one commit,
each returns only once that commit is durable, a failing command fails alone, and a batch that cannot commit fails
every command in it (none of them was acknowledged)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, event, func, select

from ledger.audit import run_audit
from ledger.errors import BusyError, StorageError
from ledger.ids import LeafIndex
from ledger.log import Log
from ledger.merkle import root_of
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, WriteLimits, events_table, make_engine
from signatures.note import NoteSigner
from tests.conftest import FakeClock
from tests.ledger.helpers import TOPIC, append
from tests.support import deadline

ORIGIN = "test.example/log"


@dataclass
class Group:
    """A store whose batches are cut only by size (its clock stands still), and counters of its commits."""

    store: LedgerStore
    recorder: LedgerRecorder
    commits: list[int] = field(default_factory=list)

    def committed_size(self) -> int:
        """The log's size as another connection sees it (what is durable, not what a batch holds)."""
        with self.store.engine.connect() as conn:
            last = conn.execute(select(func.max(events_table.c.leaf_index))).scalar()
        return 0 if last is None else int(last) + 1


def _group(db_url: str, clock: FakeClock, **limits: float) -> Group:
    wl = WriteLimits(**limits)  # type: ignore[arg-type]
    store = LedgerStore(make_engine(db_url, limits=wl), wl, clock=clock)
    store.create_tables()
    g = Group(store, LedgerRecorder(store, clock=clock))
    event.listen(store.engine, "commit", lambda _conn: g.commits.append(1))
    return g


@pytest.fixture
def group(db_url: str, clock: FakeClock) -> Iterator[Group]:
    g = _group(db_url, clock)
    yield g
    g.store.close()


def _events(n: int) -> list[StoredEvent]:
    stream = uuid.uuid4()
    return [StoredEvent(stream, v, TOPIC, f'{{"v":{v}}}'.encode()) for v in range(1, n + 1)]


@contextmanager
def _queued_behind_a_holder(store: LedgerStore, commands: list[Callable[[], object]]) -> Iterator[list[object]]:
    """Run `commands` in threads while one unit of work holds the writer, so they queue and then share its batch;
    yields the outcomes list (result or exception, in command order), filled once the block ends."""
    holding, release = threading.Event(), threading.Event()
    outcomes: list[object] = [None] * len(commands)

    def hold() -> None:
        try:
            with store.write():
                holding.set()
                release.wait(30)
        except StorageError as exc:  # the holder's batch failed: the test checks the commands that shared it
            outcomes.append(exc)

    def run(i: int) -> None:
        try:
            outcomes[i] = commands[i]()
        except Exception as exc:  # the test inspects it
            outcomes[i] = exc

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(30)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(commands))]
    for t in threads:
        t.start()
    budget = deadline(30)
    while store.waiting_writers < len(commands):
        assert budget, f"only {store.waiting_writers} of {len(commands)} writers queued"
        threading.Event().wait(0.005)
    try:
        yield outcomes
    finally:
        release.set()
        holder.join(30)
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)


def _audited(store: LedgerStore) -> int:
    key = Ed25519PrivateKey.generate()
    Log(store, ORIGIN).sign_checkpoint(NoteSigner(ORIGIN, key), FakeClock()())
    return run_audit(store, NoteSigner(ORIGIN, key).verifier, ORIGIN).leaves


def test_queued_writers_share_one_commit_and_return_after_it(group: Group) -> None:
    seen_after_return: list[int] = []

    def command() -> object:
        got = group.recorder.insert_events(_events(2))
        seen_after_return.append(group.committed_size())  # durable for everyone once write() has returned
        return got

    before = len(group.commits)
    with _queued_behind_a_holder(group.store, [command] * 20) as outcomes:
        pass
    assert len(group.commits) - before == 1  # the holder and 20 writers: one commit
    ids = sorted(i for got in outcomes for i in got)  # type: ignore[attr-defined]
    assert ids == list(range(1, 41))  # dense notification ids = leaf index + 1
    assert seen_after_return == [40] * 20
    assert _audited(group.store) == 40


def test_a_failing_command_fails_alone_and_the_rest_of_the_batch_commits(group: Group) -> None:
    append(group.recorder, 250)  # the batch's appends complete the first tile (256 leaves)

    class Refused(Exception):
        pass

    def good(n: int) -> Callable[[], object]:
        return lambda: group.recorder.insert_events(_events(n))

    def bad() -> object:
        with group.store.write():
            group.recorder.insert_events(_events(10))  # writes the full tile, then fails
            raise Refused("the command failed after appending")

    before = len(group.commits)
    with _queued_behind_a_holder(group.store, [good(3), bad, good(10), good(1)]) as outcomes:
        pass
    assert len(group.commits) - before == 1
    assert isinstance(outcomes[1], Refused)
    assert outcomes[0] == [251, 252, 253]
    assert outcomes[2] == list(range(254, 264))  # the failed command's leaves were given back: no gap
    assert outcomes[3] == [264]
    assert group.committed_size() == 264
    log = Log(group.store, ORIGIN)
    assert log.root()[1] == root_of([h for _, h in log.leaves(LeafIndex(0), 264)])
    assert _audited(group.store) == 264  # stored tiles are exactly the events' (the failed one's tile is gone)


def test_a_retried_stream_version_in_the_same_batch_clashes_alone(group: Group) -> None:
    stream = uuid.uuid4()
    first = [StoredEvent(stream, 1, TOPIC, b'{"n":1}')]
    with _queued_behind_a_holder(
        group.store, [lambda: group.recorder.insert_events(first), lambda: group.recorder.insert_events(first)]
    ) as outcomes:
        pass
    assert outcomes[0] == [1]
    assert type(outcomes[1]).__name__ == "IntegrityError"  # eventsourcing's, translated from the driver's
    assert group.committed_size() == 1


def test_a_batch_that_cannot_commit_fails_every_command_in_it(group: Group) -> None:
    append(group.recorder, 5)

    def checkpointer(conn: Connection) -> None:
        raise RuntimeError("signing failed")

    group.store.checkpointer = checkpointer

    def asks_for_checkpoint() -> object:
        with group.store.write():
            group.store.want_checkpoint()
            return group.recorder.insert_events(_events(1))

    with _queued_behind_a_holder(
        group.store, [lambda: group.recorder.insert_events(_events(2)), asks_for_checkpoint]
    ) as outcomes:
        pass
    assert all(isinstance(o, StorageError) and "not committed" in str(o) for o in outcomes)
    assert group.committed_size() == 5  # nothing of the batch is stored
    group.store.checkpointer = None
    assert append(group.recorder, 1) == [6]  # the store is usable, the edge not taken from the lost batch
    assert _audited(group.store) == 6


def test_one_checkpoint_is_signed_for_a_batch_that_asked_for_it(group: Group, clock: FakeClock) -> None:
    log = Log(group.store, ORIGIN)
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())

    def checkpointer(conn: Connection) -> None:
        log.sign_checkpoint(signer, clock())

    group.store.checkpointer = checkpointer

    def use() -> object:
        with group.store.write():
            group.store.want_checkpoint()
            return group.recorder.insert_events(_events(1))

    with _queued_behind_a_holder(group.store, [use] * 8):
        pass
    with group.store.read() as conn:
        checkpoints = list(group.store.checkpoint_pages(conn))
    assert [c.tree_size for c in checkpoints] == [8]  # one for the batch, covering every command's leaf
    with pytest.raises(StorageError, match="inside a unit of work"):
        group.store.want_checkpoint()


def test_batches_are_bounded_by_size(db_url: str, clock: FakeClock) -> None:
    g = _group(db_url, clock, batch_commands=4)
    try:
        before = len(g.commits)
        with _queued_behind_a_holder(g.store, [lambda: g.recorder.insert_events(_events(1))] * 10):
            pass
        assert len(g.commits) - before == 3  # holder + 10 writers in batches of at most 4
        assert g.committed_size() == 10
    finally:
        g.store.close()


def test_batches_are_bounded_in_time(db_url: str, clock: FakeClock) -> None:
    g = _group(db_url, clock, batch_delay=0.5)

    def late() -> object:
        with g.store.write():
            clock.advance(seconds=1)  # every command leaves its batch older than the bound: each commits alone
            return g.recorder.insert_events(_events(1))

    try:
        before = len(g.commits)
        with _queued_behind_a_holder(g.store, [late] * 3):
            clock.advance(seconds=1)
        assert len(g.commits) - before == 4
        assert g.committed_size() == 3
    finally:
        g.store.close()


def test_one_command_per_batch_is_a_commit_per_command(db_url: str, clock: FakeClock) -> None:
    g = _group(db_url, clock, batch_commands=1)
    try:
        before = len(g.commits)
        with _queued_behind_a_holder(g.store, [lambda: g.recorder.insert_events(_events(1))] * 5):
            pass
        assert len(g.commits) - before == 6
    finally:
        g.store.close()


def test_the_writer_queue_stays_bounded_with_batches(db_url: str, clock: FakeClock) -> None:
    g = _group(db_url, clock, queue=2, lock_timeout=30)
    try:
        commands: list[Callable[[], object]] = [lambda: g.recorder.insert_events(_events(1))] * 2
        with (
            _queued_behind_a_holder(g.store, commands),
            pytest.raises(BusyError, match="already waiting"),
            g.store.write(),
        ):
            pass
        assert g.committed_size() == 2
    finally:
        g.store.close()


def test_limits_refuse_nonsense_batches() -> None:
    for bad in ({"batch_commands": 0}, {"batch_delay": -1}, {"batch_delay": 2}):
        with pytest.raises(StorageError):
            WriteLimits(**bad)


def test_postgresql_batches_stay_below_the_subtransaction_cache(pg_schema: str, clock: FakeClock) -> None:
    """Past 64 subtransactions in one transaction PostgreSQL's snapshots overflow: a batch takes at most 60."""
    g = _group(pg_schema, clock)  # batch_commands=256 asked for
    try:
        before = len(g.commits)
        with _queued_behind_a_holder(g.store, [lambda: g.recorder.insert_events(_events(1))] * 70):
            pass
        assert len(g.commits) - before == 2  # the holder and 59 writers, then the other 11
        assert g.committed_size() == 70
    finally:
        g.store.close()
