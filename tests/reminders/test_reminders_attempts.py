"""An attempt counts only when a delivery was really attempted: workers killed after leasing a batch (before or
between sends) dead-letter nothing they never began, on both databases; a message that truly fails `max_attempts`
times, or whose every send was cut off mid-flight, is still dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ledger.store import make_engine
from licences.catalogue.model import Channel
from reminders.delivery import DeliveryWorker
from reminders.errors import DeliveryError
from reminders.model import OutboxKind, OutboxMessage, OwnerKind, ReminderMetrics, RetryPolicy, delivery_id
from reminders.store_outbox import Delivery, OutboxStore
from tests.conftest import FakeClock

DEPT = "11410100007409378P"
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 3
ROUNDS = MAX_ATTEMPTS + 3  # more deaths than the attempt budget
N = 30


class Killed(BaseException):
    """The worker process dies (not an `Exception`: the worker's adapter-bug handler must not record it)."""


class FakeTransport:
    """Records what was sent; `die_after` sends complete, then the next send kills the worker mid-flight;
    `fail` makes every send a transient failure."""

    def __init__(self, *, die_after: int | None = None, fail: bool = False) -> None:
        self.die_after = die_after
        self.fail = fail
        self.sent: list[uuid.UUID] = []
        self.in_flight: list[uuid.UUID] = []

    def send(self, delivery: Delivery, now: datetime) -> None:
        if self.die_after is not None and len(self.sent) >= self.die_after:
            self.in_flight.append(delivery.id)
            raise Killed
        if self.fail:
            raise DeliveryError("HTTP 503 from receiver")
        self.sent.append(delivery.id)

    def close(self) -> None:
        """Nothing held."""


@pytest.fixture
def outbox(db_url: str) -> Iterator[OutboxStore]:
    engine = make_engine(db_url)
    store = OutboxStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


def _queue(outbox: OutboxStore, clock: FakeClock, n: int) -> set[uuid.UUID]:
    sub = outbox.subscribe(OwnerKind.DEPARTMENT, DEPT, Channel.WEBHOOK, "https://dept.example/hook", clock()).id
    messages = [
        OutboxMessage(
            id=delivery_id(f"reminder/{i}", sub),
            kind=OutboxKind.REMINDER,
            ref=f"reminder/{i}",
            subscription_id=sub,
            channel=Channel.WEBHOOK,
            department=DEPT,
            payload='{"subject":"s","text":"t"}',
        )
        for i in range(n)
    ]
    with outbox.engine.begin() as conn:
        outbox.enqueue(conn, messages, clock())
    return {m.id for m in messages}


def _worker(outbox: OutboxStore, clock: FakeClock, transport: FakeTransport, name: str) -> DeliveryWorker:
    return DeliveryWorker(
        outbox,
        {Channel.WEBHOOK: transport},
        clock=clock,
        worker_id=name,
        lease=LEASE,
        policy=RetryPolicy(max_attempts=MAX_ATTEMPTS, base=timedelta(seconds=30), cap=timedelta(minutes=1)),
        rand=lambda: 0.5,
        metrics=ReminderMetrics(),
    )


def _outlive_the_lease(clock: FakeClock) -> None:
    clock.advance(seconds=LEASE.total_seconds() + 1)


def test_workers_killed_after_claiming_dead_letter_nothing(outbox: OutboxStore, clock: FakeClock) -> None:
    ids = _queue(outbox, clock, N)
    for round_ in range(ROUNDS):
        assert len(outbox.claim(f"doomed-{round_}", clock(), LEASE, N)) == N  # ... and the process dies here
        _outlive_the_lease(clock)
    assert {r.attempts for r in outbox.rows(limit=N)} == {0}
    healthy = FakeTransport()
    counts = _worker(outbox, clock, healthy, "healthy").run_once(limit=N)
    assert (counts.sent, counts.dead, counts.retried) == (N, 0, 0)
    assert set(healthy.sent) == ids
    assert outbox.counts() == {"pending": 0, "sent": N, "dead": 0, "cancelled": 0, "failures": 0}


def test_workers_killed_mid_batch_charge_only_the_message_in_flight(outbox: OutboxStore, clock: FakeClock) -> None:
    ids = _queue(outbox, clock, N)
    delivered: set[uuid.UUID] = set()
    cut_off: list[uuid.UUID] = []
    for round_ in range(ROUNDS):  # each worker sends two, dies sending the third, the rest of its batch never begun
        doomed = FakeTransport(die_after=2)
        with pytest.raises(Killed):
            _worker(outbox, clock, doomed, f"doomed-{round_}").run_once(limit=10)
        delivered |= set(doomed.sent)
        cut_off += doomed.in_flight
        _outlive_the_lease(clock)
    assert outbox.counts()["dead"] == 0
    attempts = {r.id: r.attempts for r in outbox.rows(limit=N)}
    # Each cut-off send (the receiver may have got it) is one attempt; the sent ones one each; the rest nothing.
    assert all(attempts[i] == 1 + cut_off.count(i) for i in delivered)
    assert all(attempts[i] == cut_off.count(i) for i in ids - delivered)
    healthy = FakeTransport()
    counts = _worker(outbox, clock, healthy, "healthy").run_once(limit=N)
    assert (counts.sent, counts.dead) == (N - len(delivered), 0)
    assert delivered | set(healthy.sent) == ids  # none lost
    assert outbox.counts() == {"pending": 0, "sent": N, "dead": 0, "cancelled": 0, "failures": 0}


def test_a_message_that_really_fails_is_dead_lettered_after_max_attempts(outbox: OutboxStore, clock: FakeClock) -> None:
    (only,) = _queue(outbox, clock, 1)
    failing = FakeTransport(fail=True)
    outcomes = []
    for round_ in range(MAX_ATTEMPTS):
        assert len(outbox.claim(f"doomed-{round_}", clock(), LEASE, 1)) == 1  # a free death between real attempts
        _outlive_the_lease(clock)
        counts = _worker(outbox, clock, failing, f"w-{round_}").run_once()
        outcomes.append((counts.retried, counts.dead))
        clock.advance(hours=1)
    assert outcomes == [(1, 0)] * (MAX_ATTEMPTS - 1) + [(0, 1)]
    (dead,) = outbox.rows(status="dead")
    assert (dead.id, dead.attempts, dead.failures) == (only, MAX_ATTEMPTS, MAX_ATTEMPTS)


def test_a_message_cut_off_mid_send_every_time_is_dead_lettered(outbox: OutboxStore, clock: FakeClock) -> None:
    (only,) = _queue(outbox, clock, 1)
    for round_ in range(MAX_ATTEMPTS):  # every started send is an attempt, whether or not it reported back
        with pytest.raises(Killed):
            _worker(outbox, clock, FakeTransport(die_after=0), f"doomed-{round_}").run_once()
        _outlive_the_lease(clock)
    counts = _worker(outbox, clock, FakeTransport(), "healthy").run_once()
    assert (counts.sent, counts.dead) == (0, 1)  # the budget is spent: no endless loop on one row
    (dead,) = outbox.rows(status="dead")
    assert (dead.id, dead.attempts, dead.last_error) == (
        only,
        MAX_ATTEMPTS,
        "attempt budget spent without a recorded outcome",
    )
