"""Delivery adapters against real local servers: signed webhooks (and their rejections), SMTP, retries, dead letters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

import pytest

from ledger.store import make_engine
from licences.catalogue.model import Channel
from reminders.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryWorker,
    SmsGatewayTransport,
    SmtpConfig,
    SmtpTransport,
    WebhookTransport,
    sign_webhook,
    verify_webhook,
)
from reminders.errors import DeliveryError, WebhookVerificationError
from reminders.model import OutboxKind, OutboxMessage, OwnerKind, ReminderMetrics, RetryPolicy, delivery_id
from reminders.store_outbox import Delivery, OutboxStore
from tests.conftest import FakeClock
from tests.reminders.reminder_servers import MailBox, WebhookReceiver, smtp_server, webhook_server

DEPT = "11410100007409378P"
SECRET = "s3cr3t-for-tests-0123456789abcdef"
BODY = b'{"id":"x","text":"\xe8\xaf\x81\xe7\x85\xa7"}'
ID = "0b7c3f58-4a52-5d0e-9d35-2f8f1c2a9b11"
SUBJECT = "【河南省电子证照】您的食品经营许可证将于2026年3月1日到期"


@pytest.fixture
def outbox(db_url: str) -> Iterator[OutboxStore]:
    engine = make_engine(db_url)
    store = OutboxStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


# -- HMAC signatures ---------------------------------------------------------------------------------------------------


def test_signed_webhook_verifies_and_returns_the_delivery_id(clock: FakeClock) -> None:
    headers = sign_webhook(SECRET, ID, BODY, clock())
    assert headers[SIGNATURE_HEADER].startswith("v1=")
    assert verify_webhook(SECRET, headers, BODY, now=clock()) == ID
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_webhook(SECRET, lower, BODY, now=clock() + timedelta(minutes=4)) == ID


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, b: (h, b + b" "), "signature does not match"),  # body changed
        (lambda h, b: ({**h, SIGNATURE_HEADER: "v1=" + "0" * 64}, b), "signature does not match"),  # forged
        (lambda h, b: ({**h, DELIVERY_HEADER: str(uuid.uuid4())}, b), "signature does not match"),  # relabelled
        (lambda h, b: ({**h, TIMESTAMP_HEADER: str(int(h[TIMESTAMP_HEADER]) + 1)}, b), "signature does not match"),
        (lambda h, b: ({**h, SIGNATURE_HEADER: "sha256=abc"}, b), "malformed"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "01700000000"}, b), "malformed"),
        (lambda h, b: ({**h, DELIVERY_HEADER: "not-an-id"}, b), "malformed"),
        (lambda h, b: ({k: v for k, v in h.items() if k != TIMESTAMP_HEADER}, b), "missing header"),
    ],
)
def test_verify_rejects_tampering(clock: FakeClock, mutate: object, message: str) -> None:
    headers, body = mutate(sign_webhook(SECRET, ID, BODY, clock()), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(SECRET, headers, body, now=clock())


def test_verify_rejects_a_wrong_secret(clock: FakeClock) -> None:
    headers = sign_webhook("another-secret", ID, BODY, clock())
    with pytest.raises(WebhookVerificationError, match="signature does not match"):
        verify_webhook(SECRET, headers, BODY, now=clock())


def test_verify_rejects_a_replayed_stale_or_future_timestamp(clock: FakeClock) -> None:
    headers = sign_webhook(SECRET, ID, BODY, clock())
    with pytest.raises(WebhookVerificationError, match="stale or future timestamp"):
        verify_webhook(SECRET, headers, BODY, now=clock() + timedelta(minutes=5, seconds=1))  # replayed later
    with pytest.raises(WebhookVerificationError, match="stale or future timestamp"):
        verify_webhook(SECRET, headers, BODY, now=clock() - timedelta(minutes=6))  # from the future


def test_verify_accepts_any_of_several_signatures_while_a_secret_rotates(clock: FakeClock) -> None:
    old = sign_webhook("old-secret", ID, BODY, clock())
    new = sign_webhook(SECRET, ID, BODY, clock())
    both = {**new, SIGNATURE_HEADER: f"{old[SIGNATURE_HEADER]} {new[SIGNATURE_HEADER]}"}
    assert verify_webhook(SECRET, both, BODY, now=clock()) == ID


# -- Worker with real receivers ----------------------------------------------------------------------------------------


def _queue(
    outbox: OutboxStore, clock: FakeClock, channel: Channel, address: str, n: int, payload: Mapping[str, object]
) -> list[uuid.UUID]:
    owner_kind = OwnerKind.DEPARTMENT if channel is Channel.WEBHOOK else OwnerKind.HOLDER
    owner = DEPT if owner_kind is OwnerKind.DEPARTMENT else "ab" * 16
    sub = outbox.subscribe(
        owner_kind, owner, channel, address, clock(), secret=SECRET if channel is Channel.WEBHOOK else None
    )
    messages = [
        OutboxMessage(
            id=delivery_id(f"reminder/{i}", sub.id),
            kind=OutboxKind.REMINDER,
            ref=f"reminder/{i}",
            subscription_id=sub.id,
            channel=channel,
            department=DEPT,
            payload=json.dumps(payload, ensure_ascii=False),
        )
        for i in range(n)
    ]
    with outbox.engine.begin() as conn:
        outbox.enqueue(conn, messages, clock())
    return [m.id for m in messages]


def _worker(outbox: OutboxStore, clock: FakeClock, **transports: object) -> DeliveryWorker:
    return DeliveryWorker(
        outbox,
        {Channel(k): v for k, v in transports.items()},  # type: ignore[misc]
        clock=clock,
        policy=RetryPolicy(max_attempts=3, base=timedelta(seconds=30), cap=timedelta(minutes=10)),
        rand=lambda: 0.5,
        metrics=ReminderMetrics(),
    )


WEBHOOK_PAYLOAD = {"data": {"type": "trustledger.expiry_reminder", "stage": 30}, "subject": SUBJECT, "text": "正文"}


def test_webhook_delivery_is_signed_and_received_once(outbox: OutboxStore, clock: FakeClock) -> None:
    with webhook_server(WebhookReceiver(SECRET, clock)) as receiver:
        ids = _queue(outbox, clock, Channel.WEBHOOK, receiver.url, 3, WEBHOOK_PAYLOAD)
        worker = _worker(outbox, clock, webhook=WebhookTransport(timeout=5))
        counts = worker.run_once()
        worker.close()
    assert (counts.claimed, counts.sent) == (3, 3)
    assert receiver.rejected == []
    assert set(receiver.unique) == {str(i) for i in ids}
    doc = receiver.unique[str(ids[0])]
    assert doc["id"] == str(ids[0]) and doc["subject"] == SUBJECT and doc["data"]["stage"] == 30
    assert worker.metrics.snapshot()["sent"] == 3


def test_receiver_with_a_different_secret_rejects_and_the_delivery_dead_letters(
    outbox: OutboxStore, clock: FakeClock
) -> None:
    with webhook_server(WebhookReceiver("not-the-subscription-secret", clock)) as receiver:
        _queue(outbox, clock, Channel.WEBHOOK, receiver.url, 1, WEBHOOK_PAYLOAD)
        counts = _worker(outbox, clock, webhook=WebhookTransport(timeout=5)).run_once()
    assert receiver.rejected == ["signature does not match"] and receiver.unique == {}
    assert counts.dead == 1  # 401 is permanent: retrying with the same secret cannot help
    (dead,) = outbox.rows(status="dead")
    assert dead.last_error == "HTTP 401 from receiver"


def test_transient_failures_back_off_then_succeed(outbox: OutboxStore, clock: FakeClock) -> None:
    receiver = WebhookReceiver(SECRET, clock, status=lambda n: 503 if n <= 2 else 200)
    with webhook_server(receiver):
        (only,) = _queue(outbox, clock, Channel.WEBHOOK, receiver.url, 1, WEBHOOK_PAYLOAD)
        worker = _worker(outbox, clock, webhook=WebhookTransport(timeout=5))
        assert worker.run_once().retried == 1  # attempt 1: 503, retry in 15-30 s (rand 0.5 -> 22.5 s)
        clock.advance(seconds=22)
        assert worker.run_once().claimed == 0  # not yet
        clock.advance(seconds=1)
        assert worker.run_once().retried == 1  # attempt 2: 503, retry in ~45 s
        clock.advance(seconds=45)
        assert worker.run_once().sent == 1
    assert [r[0] for r in receiver.raw] == [str(only)] * 3  # one delivery id on every attempt
    assert outbox.counts()["failures"] == 2


def test_exhausted_retries_dead_letter(outbox: OutboxStore, clock: FakeClock) -> None:
    with webhook_server(WebhookReceiver(SECRET, clock, status=lambda _n: 500)) as receiver:
        _queue(outbox, clock, Channel.WEBHOOK, receiver.url, 1, WEBHOOK_PAYLOAD)
        worker = _worker(outbox, clock, webhook=WebhookTransport(timeout=5))
        outcomes = []
        for _ in range(3):
            counts = worker.run_once()
            outcomes.append((counts.retried, counts.dead))
            clock.advance(hours=1)
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    assert len(receiver.raw) == 3 and outbox.counts()["dead"] == 1


def test_unreachable_receiver_times_out_and_is_retried(outbox: OutboxStore, clock: FakeClock) -> None:
    _queue(outbox, clock, Channel.WEBHOOK, "http://127.0.0.1:9/closed-port", 1, WEBHOOK_PAYLOAD)
    counts = _worker(outbox, clock, webhook=WebhookTransport(timeout=2)).run_once()
    assert counts.retried == 1
    (row,) = outbox.rows()
    assert row.status == "pending" and "transport error" in (row.last_error or "")


def test_a_channel_without_transport_waits_in_the_queue(outbox: OutboxStore, clock: FakeClock) -> None:
    _queue(outbox, clock, Channel.SMS, "13800000000", 1, {"sms": "短信"})
    assert _worker(outbox, clock, webhook=WebhookTransport(timeout=1)).run_once().claimed == 0
    assert outbox.counts()["pending"] == 1


def test_sms_goes_through_the_gateway_as_a_signed_webhook(outbox: OutboxStore, clock: FakeClock) -> None:
    with webhook_server(WebhookReceiver(SECRET, clock)) as gateway:
        (only,) = _queue(outbox, clock, Channel.SMS, "13800000000", 1, {"sms": "【河南省政务】张*，您的证照将到期。"})
        counts = _worker(outbox, clock, sms=SmsGatewayTransport(gateway.url, SECRET, timeout=5)).run_once()
    assert counts.sent == 1
    assert gateway.unique[str(only)] == {
        "id": str(only),
        "to": "13800000000",
        "text": "【河南省政务】张*，您的证照将到期。",
    }


# -- E-mail --------------------------------------------------------------------------------------------------------


EMAIL_PAYLOAD = {
    "subject": SUBJECT,
    "text": "尊敬的张*丰：\n您的证照将于2026年3月1日到期。\n",
    "html": "<p>尊敬的张*丰：</p>",
}


def test_email_over_smtp_with_utf8_chinese_subject_and_body(outbox: OutboxStore, clock: FakeClock) -> None:
    with smtp_server(MailBox()) as mailbox:
        (only,) = _queue(outbox, clock, Channel.EMAIL, "holder@example.com", 1, EMAIL_PAYLOAD)
        config = SmtpConfig(mailbox.host, mailbox.port, "提醒 <reminders@ledger.ha.gov.example>", timeout=5)
        counts = _worker(outbox, clock, email=SmtpTransport(config)).run_once()
    assert counts.sent == 1
    (msg,) = mailbox.messages
    assert msg["Subject"] == SUBJECT
    assert b"Subject: =?utf-8?" in mailbox.raw[0]  # RFC 2047 encoded words on the wire
    assert msg["Message-ID"] == f"<{only}@ledger.ha.gov.example>"
    assert msg[DELIVERY_HEADER] == str(only)
    assert msg["To"] == "holder@example.com"
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "2026年3月1日" in plain.get_content() and "<p>尊敬的张*丰：</p>" in html.get_content()


def test_smtp_refused_recipient_is_permanent(outbox: OutboxStore, clock: FakeClock) -> None:
    with smtp_server(MailBox(refuse={"gone@example.com"})) as mailbox:
        _queue(outbox, clock, Channel.EMAIL, "gone@example.com", 1, EMAIL_PAYLOAD)
        config = SmtpConfig(mailbox.host, mailbox.port, "reminders@ledger.ha.gov.example", timeout=5)
        counts = _worker(outbox, clock, email=SmtpTransport(config)).run_once()
    assert counts.dead == 1 and mailbox.messages == []


def test_smtp_server_down_is_transient(clock: FakeClock) -> None:
    transport = SmtpTransport(SmtpConfig("127.0.0.1", 9, "reminders@ledger.ha.gov.example", timeout=2))
    delivery = Delivery(
        uuid.uuid4(), "reminder", "r", Channel.EMAIL, DEPT, json.dumps(EMAIL_PAYLOAD), 1, "t", clock(), "a@b.c", None
    )
    with pytest.raises(DeliveryError) as caught:
        transport.send(delivery, clock())
    assert caught.value.permanent is False


def test_lease_about_to_expire_is_not_sent(outbox: OutboxStore, clock: FakeClock) -> None:
    sent: list[str] = []

    class SlowClockTransport:
        def send(self, delivery: Delivery, now: datetime) -> None:
            sent.append(str(delivery.id))
            clock.advance(minutes=2)  # this send "took" the whole lease

        def close(self) -> None:
            pass

    _queue(outbox, clock, Channel.WEBHOOK, "http://127.0.0.1:9/h", 2, WEBHOOK_PAYLOAD)
    counts = _worker(outbox, clock, webhook=SlowClockTransport()).run_once()
    # The first was sent and, nobody having taken it over, marked; the second was too close to the lease's end.
    assert len(sent) == 1 and (counts.sent, counts.lease_lost) == (1, 1)
    clock.advance(seconds=1)
    assert _worker(outbox, clock, webhook=SlowClockTransport()).run_once().claimed == 1
