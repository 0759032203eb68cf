"""Delivery of queued reminders: signed webhooks, e-mail over SMTP, SMS through a gateway webhook (I/O adapters).

Webhooks are signed with HMAC-SHA256 under the subscription's secret over `<delivery id>.<unix timestamp>.<body>`
(the layout of the Standard Webhooks spec, with our header names): the timestamp makes a captured request useless
after the replay window, and binding the delivery id stops a replayed body from being relabelled to slip past the
receiver's de-duplication. Delivery is at least once; every attempt of one delivery carries the same
`X-TrustLedger-Delivery` id (e-mail: the same Message-ID), so a receiver that remembers ids sees each one once.

`DeliveryWorker.run_once` leases due rows, sends each and records the outcome at once (so a killed worker repeats
at most the one message in flight), retries transient failures with back-off and dead-letters the rest. An attempt is
charged to a message when the worker starts sending it (`OutboxStore.start`), not when it is leased: a worker killed
before it reached a message leaves that message's attempt budget untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import smtplib
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

import httpx

from clock import Clock
from licences.catalogue.model import Channel
from licences.values import utc
from reminders.errors import DeliveryError, WebhookVerificationError
from reminders.model import METRICS, ReminderMetrics, RetryPolicy
from reminders.store_outbox import Delivery, OutboxStore

DELIVERY_HEADER = "X-TrustLedger-Delivery"
TIMESTAMP_HEADER = "X-TrustLedger-Timestamp"
SIGNATURE_HEADER = "X-TrustLedger-Signature"
SIGNATURE_VERSION = "v1"
REPLAY_WINDOW = timedelta(minutes=5)
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 10.0
_TIMESTAMP = re.compile(r"[1-9][0-9]{0,11}")
_DELIVERY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")
_RETRYABLE_HTTP = {408, 425, 429}


# -- Webhook signatures ------------------------------------------------------------------------------------------------


def _mac(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, delivery_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The headers that authenticate `body` as delivery `delivery_id` at `now` (HMAC-SHA256 under `secret`)."""
    if not secret:
        raise DeliveryError("a webhook subscription without a signing secret cannot be delivered", permanent=True)
    timestamp = int(utc(now).timestamp())
    return {
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={_mac(secret, delivery_id, timestamp, body)}",
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = REPLAY_WINDOW,
) -> str:
    """Verify a received webhook and return its delivery id (the receiver's de-duplication key).

    Raises `WebhookVerificationError` naming the failed step. Steps:
    (1) size cap and headers present; (2) delivery id and timestamp strictly formed; (3) timestamp within
    `tolerance` of `now` (a replay of an old request, or a request from the future, is refused); (4) one of the
    `v1=` signatures (several while a secret rotates) matches, compared in constant time.
    """
    # (1): size cap and headers present (header names are case-insensitive)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookVerificationError(f"body larger than {MAX_BODY_BYTES} bytes")
    folded = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in (DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) if h.lower() not in folded]
    if missing:
        raise WebhookVerificationError(f"missing header(s) {', '.join(missing)}")
    delivery_id = folded[DELIVERY_HEADER.lower()].strip()
    timestamp_text = folded[TIMESTAMP_HEADER.lower()].strip()
    # (2): strictly formed id and timestamp
    if _DELIVERY_ID.fullmatch(delivery_id) is None:
        raise WebhookVerificationError(f"malformed {DELIVERY_HEADER}")
    if _TIMESTAMP.fullmatch(timestamp_text) is None:
        raise WebhookVerificationError(f"malformed {TIMESTAMP_HEADER}: expected unix seconds")
    timestamp = int(timestamp_text)
    # (3): inside the replay window
    skew = abs(utc(now).timestamp() - timestamp)
    if skew > tolerance.total_seconds():
        raise WebhookVerificationError(
            f"stale or future timestamp: {int(skew)} s from now, window {int(tolerance.total_seconds())} s"
        )
    # (4): a matching signature
    expected = _mac(secret, delivery_id, timestamp, body)
    offered = [m.group(1) for part in folded[SIGNATURE_HEADER.lower()].split() if (m := _SIGNATURE.fullmatch(part))]
    if not offered:
        raise WebhookVerificationError(f"malformed {SIGNATURE_HEADER}: expected v1=<64 hex digits>")
    if not any(hmac.compare_digest(expected, sig) for sig in offered):
        raise WebhookVerificationError("signature does not match")
    return delivery_id


# -- Transports --------------------------------------------------------------------------------------------------------


class Transport(Protocol):
    """Sends one delivery or raises `DeliveryError` (`permanent=True` when retrying cannot help)."""

    def send(self, delivery: Delivery, now: datetime) -> None:
        """Deliver, or raise `DeliveryError`."""

    def close(self) -> None:
        """Release connections."""


def _payload(delivery: Delivery) -> dict[str, Any]:
    try:
        doc = json.loads(delivery.payload)
    except ValueError:
        raise DeliveryError("stored payload is not JSON", permanent=True) from None
    if not isinstance(doc, dict):
        raise DeliveryError("stored payload is not a JSON object", permanent=True)
    return doc


def _http_url(address: str) -> str:
    if not address.startswith(("https://", "http://")):
        raise DeliveryError(f"not an http(s) URL: {address[:60]!r}", permanent=True)
    return address


def _post_signed(
    client: httpx.Client, url: str, secret: str, delivery: Delivery, doc: dict[str, Any], now: datetime
) -> None:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", **sign_webhook(secret, str(delivery.id), body, now)}
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timeout: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"transport error: {type(exc).__name__}: {exc}") from None
    if 200 <= response.status_code < 300:
        return
    permanent = 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_HTTP
    raise DeliveryError(f"HTTP {response.status_code} from receiver", permanent=permanent)


class WebhookTransport:
    """POSTs the delivery as signed JSON to the subscription's URL; 2xx is success, 4xx permanent, else retried."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def send(self, delivery: Delivery, now: datetime) -> None:
        """Deliver one webhook."""
        doc = {"id": str(delivery.id), "kind": delivery.kind, **_payload(delivery)}
        _post_signed(self._client, _http_url(delivery.address or ""), delivery.secret or "", delivery, doc, now)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


class SmsGatewayTransport:
    """Hands an SMS to the region's SMS gateway (政务短信平台) as a signed webhook: `{id, to, text}`."""

    def __init__(
        self, gateway_url: str, secret: str, *, timeout: float = DEFAULT_TIMEOUT, client: httpx.Client | None = None
    ) -> None:
        self._url = _http_url(gateway_url)
        self._secret = secret
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def send(self, delivery: Delivery, now: datetime) -> None:
        """Deliver one SMS through the gateway."""
        text = _payload(delivery).get("sms")
        if not isinstance(text, str) or not text:
            raise DeliveryError("no SMS text in the payload", permanent=True)
        doc = {"id": str(delivery.id), "to": delivery.address, "text": text}
        _post_signed(self._client, self._url, self._secret, delivery, doc, now)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send e-mail: host, port, sender, TLS, optional login; `timeout` bounds every socket call."""

    host: str
    port: int
    sender: str
    timeout: float = DEFAULT_TIMEOUT
    starttls: bool = False
    username: str | None = None
    password: str | None = None


class SmtpTransport:
    """Sends the delivery as a UTF-8 multipart (plain + HTML) e-mail; Message-ID = the delivery id."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def message(self, delivery: Delivery, now: datetime) -> EmailMessage:
        """The e-mail of one delivery (exposed for tests and previews)."""
        doc = _payload(delivery)
        subject, text, html = doc.get("subject"), doc.get("text"), doc.get("html")
        if not isinstance(subject, str) or not isinstance(text, str):
            raise DeliveryError("no subject or text in the payload", permanent=True)
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.config.sender
        msg["To"] = delivery.address or ""
        msg["Date"] = format_datetime(utc(now))
        msg["Message-ID"] = f"<{delivery.id}@{self.config.sender.rpartition('@')[2].strip('<> ') or 'trustledger'}>"
        msg[DELIVERY_HEADER] = str(delivery.id)
        msg.set_content(text, charset="utf-8")
        if isinstance(html, str) and html:
            msg.add_alternative(html, subtype="html", charset="utf-8")
        return msg

    def send(self, delivery: Delivery, now: datetime) -> None:
        """Deliver one e-mail over SMTP (STARTTLS and login when configured)."""
        if not delivery.address or "@" not in delivery.address:
            raise DeliveryError("not an e-mail address", permanent=True)
        msg = self.message(delivery, now)
        c = self.config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, c.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {codes}", permanent=all(code >= 500 for code in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP transport error: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        """Nothing held between messages (one connection per message keeps failures independent)."""


# -- Worker ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """What one delivery pass did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    cancelled: int = 0
    lease_lost: int = 0

    def to_json(self) -> dict[str, int]:
        """Plain numbers."""
        return {k: getattr(self, k) for k in DeliveryCounts.__dataclass_fields__}


class DeliveryWorker:
    """Leases due outbox rows and delivers them through the channel's transport, recording each outcome at once."""

    def __init__(
        self,
        outbox: OutboxStore,
        transports: Mapping[Channel, Transport],
        *,
        clock: Clock,
        worker_id: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        policy: RetryPolicy | None = None,
        rand: Callable[[], float] = random.random,
        metrics: ReminderMetrics = METRICS,
    ) -> None:
        self.outbox = outbox
        self.transports = dict(transports)
        self.clock = clock
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.policy = policy or RetryPolicy()
        self.rand = rand
        self.metrics = metrics

    def run_once(self, limit: int = 100) -> DeliveryCounts:
        """Claim up to `limit` due deliveries and deliver them; returns the counts of this pass."""
        # Only channels we can send: an unconfigured channel's rows wait in the queue, visible, instead of dying.
        claimed = self.outbox.claim(self.worker_id, self.clock(), self.lease, limit, list(self.transports))
        tally = {"sent": 0, "retried": 0, "dead": 0, "cancelled": 0, "lease_lost": 0}
        for delivery in claimed:
            now = self.clock()
            if now >= delivery.lease_until - self.lease / 10:
                tally["lease_lost"] += 1  # too close to the end of the lease: leave it for the next claim
                continue
            outcome = self._deliver(delivery, now)
            tally[outcome] += 1
        self.metrics.add(
            sent=tally["sent"], failed=tally["retried"], dead_lettered=tally["dead"], cancelled=tally["cancelled"]
        )
        return DeliveryCounts(claimed=len(claimed), **tally)

    def _deliver(self, delivery: Delivery, now: datetime) -> str:
        if delivery.address is None:
            return "cancelled" if self.outbox.mark_cancelled(delivery, "subscription removed") else "lease_lost"
        if self.policy.exhausted(delivery.attempts):
            # The budget went on started sends, some of which never reported back (workers killed mid-send): stop one
            # row looping forever. Only started sends count: a worker killed before it began a message charged nothing.
            ok = self.outbox.mark_failed(delivery, "attempt budget spent without a recorded outcome", None)
            return "dead" if ok else "lease_lost"
        started = self.outbox.start(delivery, now)  # the attempt is charged here, just before the send
        if started is None:
            return "lease_lost"
        return self._send(started, now)

    def _send(self, delivery: Delivery, now: datetime) -> str:
        transport = self.transports.get(delivery.channel)
        try:
            if transport is None:
                raise DeliveryError(f"no transport configured for channel {delivery.channel.value}", permanent=True)
            transport.send(delivery, now)
        except DeliveryError as exc:
            return self._failed(delivery, str(exc), exc.permanent)
        except Exception as exc:  # an adapter bug must not stop the queue: record it and retry later
            return self._failed(delivery, f"unexpected {type(exc).__name__}: {exc}", False)
        return "sent" if self.outbox.mark_sent(delivery, self.clock()) else "lease_lost"

    def _failed(self, delivery: Delivery, error: str, permanent: bool) -> str:
        if permanent or self.policy.exhausted(delivery.attempts):
            return "dead" if self.outbox.mark_failed(delivery, error, None) else "lease_lost"
        retry_at = self.clock() + self.policy.delay(delivery.attempts, self.rand)
        return "retried" if self.outbox.mark_failed(delivery, error, retry_at) else "lease_lost"

    def close(self) -> None:
        """Close every transport."""
        for transport in self.transports.values():
            transport.close()
