"""The reminder outbox on both databases: atomic enqueue, leases that expire, back-off, dead letters, contacts."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from ledger.store import make_engine
from licences.catalogue.model import Channel
from reminders.errors import OutboxError
from reminders.model import OutboxKind, OutboxMessage, OwnerKind, Topic, delivery_id
from reminders.store_outbox import OutboxStore
from tests.conftest import FakeClock

DEPT = "11410100007409378P"
HOLDER = "ab" * 16
LEASE = timedelta(minutes=2)


@pytest.fixture
def outbox(db_url: str) -> Iterator[OutboxStore]:
    engine = make_engine(db_url)
    store = OutboxStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


def _messages(subscription_id: uuid.UUID, n: int, ref: str = "reminder/x") -> list[OutboxMessage]:
    return [
        OutboxMessage(
            id=delivery_id(f"{ref}/{i}", subscription_id),
            kind=OutboxKind.REMINDER,
            ref=f"{ref}/{i}",
            subscription_id=subscription_id,
            channel=Channel.WEBHOOK,
            department=DEPT,
            payload='{"subject":"s","text":"t"}',
            stage=30,
            leaf_index=i,
        )
        for i in range(n)
    ]


def _enqueue(outbox: OutboxStore, messages: list[OutboxMessage], clock: FakeClock) -> None:
    with outbox.engine.begin() as conn:
        outbox.enqueue(conn, messages, clock())


def _webhook(outbox: OutboxStore, clock: FakeClock, url: str = "http://127.0.0.1:9/h") -> uuid.UUID:
    return outbox.subscribe(OwnerKind.DEPARTMENT, DEPT, Channel.WEBHOOK, url, clock()).id


def test_claim_leases_rows_with_address_and_start_counts_an_attempt(outbox: OutboxStore, clock: FakeClock) -> None:
    sub = _webhook(outbox, clock)
    _enqueue(outbox, _messages(sub, 3), clock)
    claimed = outbox.claim("w1", clock(), LEASE, 10)
    assert len(claimed) == 3
    assert {d.attempts for d in claimed} == {0}  # leasing is free: `start` charges the attempt
    started = [outbox.start(d, clock()) for d in claimed]
    assert [None if d is None else d.attempts for d in started] == [1, 1, 1]
    assert {d.address for d in claimed} == {"http://127.0.0.1:9/h"}
    assert all(d.secret for d in claimed)  # webhooks get a signing secret
    assert outbox.claim("w2", clock(), LEASE, 10) == []  # leased: nobody else gets them
    assert all(outbox.mark_sent(d, clock()) for d in claimed)
    assert outbox.counts() == {"pending": 0, "sent": 3, "dead": 0, "cancelled": 0, "failures": 0}


def test_enqueue_rolls_back_with_its_transaction(outbox: OutboxStore, clock: FakeClock) -> None:
    sub = _webhook(outbox, clock)

    def failing_transaction() -> None:
        with outbox.engine.begin() as conn:
            outbox.enqueue(conn, _messages(sub, 2), clock())
            raise RuntimeError("the reminder event failed to commit")

    with pytest.raises(RuntimeError):
        failing_transaction()
    assert outbox.rows() == []


def test_a_killed_workers_lease_expires_and_another_worker_takes_over(outbox: OutboxStore, clock: FakeClock) -> None:
    sub = _webhook(outbox, clock)
    _enqueue(outbox, _messages(sub, 2), clock)
    first = outbox.claim("killed", clock(), LEASE, 10)
    clock.advance(seconds=LEASE.total_seconds() - 1)
    assert outbox.claim("w2", clock(), LEASE, 10) == []  # lease still live
    clock.advance(seconds=2)
    second = outbox.claim("w2", clock(), LEASE, 10)
    assert {d.id for d in second} == {d.id for d in first}
    assert {d.attempts for d in second} == {0}  # the killed worker never started them: its lease cost nothing
    # The late first worker can neither start nor finish: its lease token is stale.
    assert outbox.start(first[0], clock()) is None
    assert not outbox.mark_sent(first[0], clock())
    assert outbox.mark_sent(second[0], clock())


def test_concurrent_claims_hand_out_each_row_once(outbox: OutboxStore, clock: FakeClock) -> None:
    sub = _webhook(outbox, clock)
    _enqueue(outbox, _messages(sub, 60), clock)
    got: list[list[uuid.UUID]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while batch := outbox.claim(name, clock(), LEASE, 7):
            with lock:
                got.append([d.id for d in batch])

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for batch in got for i in batch]
    assert len(ids) == 60 and len(set(ids)) == 60


def test_failure_backs_off_then_dead_letters_and_requeue(outbox: OutboxStore, clock: FakeClock) -> None:
    sub = _webhook(outbox, clock)
    (message,) = _messages(sub, 1)
    _enqueue(outbox, [message], clock)
    (d,) = outbox.claim("w", clock(), LEASE, 10)
    assert outbox.start(d, clock()) is not None
    assert outbox.mark_failed(d, "HTTP 503 from receiver", clock() + timedelta(minutes=5))
    clock.advance(minutes=4)
    assert outbox.claim("w", clock(), LEASE, 10) == []  # not before its retry time
    clock.advance(minutes=1)
    (d,) = outbox.claim("w", clock(), LEASE, 10)
    assert d.attempts == 1
    started = outbox.start(d, clock())
    assert started is not None and started.attempts == 2
    assert outbox.mark_failed(d, "HTTP 410 from receiver", None)
    (dead,) = outbox.rows(status="dead")
    assert (dead.id, dead.failures, dead.last_error) == (message.id, 2, "HTTP 410 from receiver")
    clock.advance(days=1)
    assert outbox.claim("w", clock(), LEASE, 10) == []  # dead letters are never claimed
    outbox.requeue(message.id, clock())
    (again,) = outbox.claim("w", clock(), LEASE, 10)
    assert again.attempts == 0
    with pytest.raises(OutboxError, match="only dead letters"):
        outbox.requeue(message.id, clock())
    with pytest.raises(OutboxError, match="no delivery"):
        outbox.requeue(uuid.uuid4(), clock())


def test_enqueue_once_is_idempotent(outbox: OutboxStore, clock: FakeClock) -> None:
    sub = _webhook(outbox, clock)
    messages = _messages(sub, 2, ref="digest/d/2026-02")
    assert outbox.enqueue_once(messages, clock()) == 2
    assert outbox.enqueue_once(messages, clock()) == 0
    assert len(outbox.rows()) == 2
    assert outbox.has_ref("digest/d/2026-02/0") and not outbox.has_ref("digest/d/2026-03/0")


def test_subscriptions_are_idempotent_filtered_and_erasable(outbox: OutboxStore, clock: FakeClock) -> None:
    hook = outbox.subscribe(OwnerKind.DEPARTMENT, DEPT, Channel.WEBHOOK, "https://dept.example/h", clock())
    again = outbox.subscribe(OwnerKind.DEPARTMENT, DEPT, Channel.WEBHOOK, "https://dept.example/h", clock())
    assert again.id == hook.id and again.secret == hook.secret
    digest_only = outbox.subscribe(
        OwnerKind.DEPARTMENT, DEPT, Channel.EMAIL, "zz@dept.example", clock(), topics=(Topic.DIGEST,)
    )
    mail = outbox.subscribe(OwnerKind.HOLDER, HOLDER, Channel.EMAIL, "holder@example.com", clock())
    assert mail.secret is None
    reminder_ids = {r.subscription_id for r in outbox.recipients(HOLDER, DEPT, Topic.REMINDER)}
    assert reminder_ids == {hook.id, mail.id}
    assert {r.subscription_id for r in outbox.recipients("cd" * 16, DEPT, Topic.REMINDER)} == {hook.id}
    assert {r.subscription_id for r in outbox.digest_subscribers()[DEPT]} == {digest_only.id}
    # Erasing a holder's contacts also stops what is still queued for them: the row is cancelled, not sent.
    _enqueue(outbox, _messages(mail.id, 1), clock)
    assert outbox.forget_holder(HOLDER) == 1
    (d,) = outbox.claim("w", clock(), LEASE, 10)
    assert d.address is None
    assert outbox.mark_cancelled(d, "subscription removed")
    assert outbox.counts()["cancelled"] == 1
    assert outbox.unsubscribe(hook.id) and not outbox.unsubscribe(hook.id)
