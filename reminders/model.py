"""Proactive expiry reminders (证照到期前主动提醒, DESIGN §10), the pure part: no I/O, no clock of its own.

* Stages: a licence type reminds `lead_days` ahead (e.g. 90, 30, 7). Stage `s` is the tightest stage whose window
  the clock is in: `valid_until - s days <= now < valid_until`, and no tighter stage's window has opened. As a range
  of `valid_until`, stage `s` covers `(now + next tighter lead, now + s]`, so one indexed range per stage finds them.
* Messages: the context of a reminder (masked holder name only, never an ID number) and of a department's monthly
  digest; `reminders.messages` renders them.
* Outbox messages: what the scheduler queues for each recipient, with a stable delivery id (the receiver's
  idempotency key), and the retry back-off of failed deliveries.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from clock import CHINA_TIME
from licences.catalogue.model import Catalogue, Channel, Department, LicenceType
from licences.identifiers import mask_name
from licences.values import LicenceId, utc
from reminders.messages import RenderedMessage

DELIVERY_NAMESPACE = uuid5(NAMESPACE_URL, "https://trustledger.example/ns/reminder-delivery")
UNKNOWN_HOLDER = "持证人"
_DAY = timedelta(days=1)


# -- Stages ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageWindow:
    """Licences whose `valid_until` is in `(after, until]` are in stage `stage`'s window (and no tighter one)."""

    stage: int
    after: datetime
    until: datetime


def stage_windows(lead_days: Sequence[int], now: datetime) -> tuple[StageWindow, ...]:
    """The `valid_until` range of each stage at `now`, widest stage first; empty for a type without reminders."""
    moment = utc(now)
    stages = sorted(set(lead_days), reverse=True)
    windows = []
    for i, stage in enumerate(stages):
        tighter = stages[i + 1] if i + 1 < len(stages) else 0
        windows.append(StageWindow(stage, moment + tighter * _DAY, moment + stage * _DAY))
    return tuple(windows)


def current_stage(lead_days: Sequence[int], valid_until: datetime, now: datetime) -> int | None:
    """The tightest stage whose window `now` is in, or None (too early, or already expired)."""
    moment, end = utc(now), utc(valid_until, "valid_until")
    if moment >= end:
        return None
    open_stages = [s for s in lead_days if moment >= end - s * _DAY]
    return min(open_stages) if open_stages else None


def due_stage(
    lead_days: Sequence[int], valid_until: datetime | None, now: datetime, reminded_stage: int | None
) -> int | None:
    """The stage to send now, if any: the current stage unless it (or a tighter one) was already sent.

    Mirrors `Licence.due_reminder_stage` on read-model values (`reminded_stage` = the tightest stage already sent in
    the current validity period), so the scheduler decides from the index without replaying events.
    """
    if valid_until is None:
        return None
    stage = current_stage(lead_days, valid_until, now)
    if stage is None or (reminded_stage is not None and reminded_stage <= stage):
        return None
    return stage


def days_left(valid_until: datetime, now: datetime) -> int:
    """Whole days until expiry, rounded up (a licence expiring in 6 days 2 hours has 7 days left)."""
    return max(0, math.ceil((utc(valid_until, "valid_until") - utc(now)) / _DAY))


def zh_date(moment: datetime) -> str:
    """A date as Chinese readers expect it, in China Standard Time: 2026年3月1日."""
    local = utc(moment).astimezone(CHINA_TIME)
    return f"{local.year}年{local.month}月{local.day}日"


# -- Message contexts --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueLicence:
    """A licence the index says is due for a reminder stage (values of `licence_index`, no personal data)."""

    licence_id: LicenceId
    identifier: str
    type_code: str
    issuer: str
    holder_digest: str
    valid_until: datetime
    stage: int


def reminder_context(
    due: DueLicence,
    licence_type: LicenceType,
    department: Department,
    region_name: str,
    holder_name: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The template variables of one reminder; the holder name is masked here (None after shredding: 持证人)."""
    return {
        "region_name": region_name,
        "department_name": department.name_zh,
        "type_name": licence_type.name_zh,
        "identifier": due.identifier,
        "holder_name": mask_name(holder_name) if holder_name else UNKNOWN_HOLDER,
        "valid_until": zh_date(due.valid_until),
        "days_left": days_left(due.valid_until, now),
        "stage": due.stage,
        "renewal_window_days": licence_type.renewal_window_days,
    }


def reminder_data(due: DueLicence, licence_type: LicenceType, now: datetime) -> dict[str, Any]:
    """Structured facts of a reminder for machine recipients (webhook JSON): ids, type, stage, dates; no names."""
    return {
        "type": "trustledger.expiry_reminder",
        "licence_id": str(due.licence_id),
        "identifier": due.identifier,
        "type_code": due.type_code,
        "type_name": licence_type.name_zh,
        "issuer": due.issuer,
        "stage": due.stage,
        "valid_until": utc(due.valid_until).isoformat(),
        "days_left": days_left(due.valid_until, now),
    }


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in China Standard Time, as the half-open UTC range `[start, end)`."""

    year: int
    month: int

    @property
    def key(self) -> str:
        """`YYYY-MM`, used in delivery ids and outbox references."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """2026年12月."""
        return f"{self.year}年{self.month}月"

    @property
    def start(self) -> datetime:
        """The first instant of the month (CST), in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=CHINA_TIME).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant of the next month (CST), in UTC."""
        return self.next().start

    def next(self) -> Month:
        """The month after this one."""
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @classmethod
    def of(cls, moment: datetime) -> Month:
        """The month `moment` falls in, in CST."""
        local = utc(moment).astimezone(CHINA_TIME)
        return cls(local.year, local.month)


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One licence in a department's digest: identifier, type, end of validity (no holder data at all)."""

    identifier: str
    type_code: str
    valid_until: datetime


def digest_context(
    department: Department,
    month: Month,
    items: Sequence[DigestItem],
    catalogue: Catalogue,
    region_name: str,
    max_items: int,
) -> dict[str, Any]:
    """The template variables of a department's digest of `month`: totals per type and the first `max_items`."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.type_code] = counts.get(item.type_code, 0) + 1
    ordered = sorted(items, key=lambda i: (i.valid_until, i.identifier))
    return {
        "region_name": region_name,
        "department_name": department.name_zh,
        "month": month.label,
        "total": len(items),
        "by_type": [{"type_name": _type_name(catalogue, code), "count": n} for code, n in sorted(counts.items())],
        "items": [
            {
                "identifier": i.identifier,
                "type_name": _type_name(catalogue, i.type_code),
                "valid_until": zh_date(i.valid_until),
            }
            for i in ordered[:max_items]
        ],
        "more": max(0, len(items) - max_items),
    }


def digest_data(department: Department, month: Month, items: Sequence[DigestItem]) -> dict[str, Any]:
    """Structured digest for machine recipients: every licence of the month (identifier, type code, expiry)."""
    return {
        "type": "trustledger.expiry_digest",
        "department": department.uscc,
        "month": month.key,
        "total": len(items),
        "licences": [
            {"identifier": i.identifier, "type_code": i.type_code, "valid_until": utc(i.valid_until).isoformat()}
            for i in sorted(items, key=lambda i: (i.valid_until, i.identifier))
        ],
    }


def _type_name(catalogue: Catalogue, code: str) -> str:
    try:
        return catalogue.licence_type(code).name_zh
    except LookupError:
        return code


# -- Outbox messages ---------------------------------------------------------------------------------------------------


class OwnerKind(StrEnum):
    """Who a subscription (a contact address) belongs to."""

    HOLDER = "holder"
    DEPARTMENT = "department"


class Topic(StrEnum):
    """What a subscription receives: per-licence reminders, the monthly digest (departments only)."""

    REMINDER = "reminder"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscription as the scheduler sees it: id and channel; the address stays in the contacts table."""

    subscription_id: UUID
    owner_kind: OwnerKind
    channel: Channel


class OutboxKind(StrEnum):
    """What an outbox row delivers."""

    REMINDER = "reminder"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One delivery to queue: a stable id (the receiver's idempotency key), whom to, and the rendered payload."""

    id: UUID
    kind: OutboxKind
    ref: str
    subscription_id: UUID
    channel: Channel
    department: str
    payload: str
    licence_id: LicenceId | None = None
    stage: int | None = None
    leaf_index: int | None = None
    month: str | None = None


def delivery_id(ref: str, subscription_id: UUID) -> UUID:
    """The stable delivery id of `ref` (what is delivered) to one subscription: the same on every retry."""
    return uuid5(DELIVERY_NAMESPACE, f"{ref}/{subscription_id}")


def payload_for(channel: Channel, message: RenderedMessage, data: Mapping[str, Any]) -> str:
    """The stored payload of one delivery: only the parts its channel sends, as compact JSON."""
    if channel is Channel.EMAIL:
        doc: dict[str, Any] = {"subject": message.subject, "text": message.text, "html": message.html}
    elif channel is Channel.SMS:
        doc = {"sms": message.sms or message.subject}
    else:
        doc = {"data": dict(data), "subject": message.subject, "text": message.text}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def reminder_messages(
    due: DueLicence,
    leaf_index: int,
    recipients: Iterable[Recipient],
    message: RenderedMessage,
    data: Mapping[str, Any],
) -> list[OutboxMessage]:
    """The outbox rows of one recorded reminder (leaf `leaf_index`), one per recipient."""
    ref = f"reminder/{due.licence_id}/{leaf_index}"
    return [
        OutboxMessage(
            id=delivery_id(ref, r.subscription_id),
            kind=OutboxKind.REMINDER,
            ref=ref,
            subscription_id=r.subscription_id,
            channel=r.channel,
            department=due.issuer,
            payload=payload_for(r.channel, message, data),
            licence_id=due.licence_id,
            stage=due.stage,
            leaf_index=leaf_index,
        )
        for r in recipients
    ]


def reminder_recipients(licence_type: LicenceType, candidates: Iterable[Recipient]) -> list[Recipient]:
    """The recipients of a reminder: the subscriptions whose channel the licence type reminds through."""
    allowed = set(licence_type.reminders.channels)
    return [r for r in candidates if r.channel in allowed]


def digest_messages(
    department: Department,
    month: Month,
    recipients: Iterable[Recipient],
    message: RenderedMessage,
    data: Mapping[str, Any],
) -> list[OutboxMessage]:
    """The outbox rows of a department's digest of `month`: one per recipient, ids fixed by department and month."""
    ref = f"digest/{department.uscc}/{month.key}"
    return [
        OutboxMessage(
            id=delivery_id(ref, r.subscription_id),
            kind=OutboxKind.DIGEST,
            ref=ref,
            subscription_id=r.subscription_id,
            channel=r.channel,
            department=department.uscc,
            payload=payload_for(r.channel, message, data),
            month=month.key,
        )
        for r in recipients
        if r.channel is not Channel.SMS
    ]


# -- Retries -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with jitter: attempt n waits about `base * 2**(n-1)` (capped), then dead-letters."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("retry policy needs max_attempts >= 1 and 0 < base <= cap")

    def delay(self, attempts: int, rand: Callable[[], float]) -> timedelta:
        """The wait after the `attempts`-th failed attempt: "equal jitter", half fixed and half random.

        The fixed half keeps a retry storm from hammering a recovering receiver; the random half spreads workers.
        """
        exponent = min(max(attempts, 1) - 1, 30)
        ceiling = min(self.cap, self.base * (1 << exponent))
        return ceiling / 2 + ceiling / 2 * min(max(rand(), 0.0), 1.0)

    def exhausted(self, attempts: int) -> bool:
        """Whether a delivery that failed its `attempts`-th attempt goes to the dead letters."""
        return attempts >= self.max_attempts


# -- Metrics -----------------------------------------------------------------------------------------------------------


@dataclass
class ReminderMetrics:
    """Process-wide counters of the scheduler and the delivery worker (the outbox gauges come from the store)."""

    due: int = 0
    recorded: int = 0
    skipped: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dead_lettered: int = 0
    cancelled: int = 0
    digests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to the named counters (thread-safe)."""
        with self._lock:
            for name, n in counts.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise AttributeError(f"no reminder counter {name!r}")
                setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        """The counters as plain numbers."""
        with self._lock:
            return {
                name: getattr(self, name) for name in ReminderMetrics.__dataclass_fields__ if not name.startswith("_")
            }


METRICS = ReminderMetrics()
"""The counters of this process; `trustledger` exposes them (with the outbox gauges) to Prometheus."""
