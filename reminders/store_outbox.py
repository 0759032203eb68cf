"""The reminder outbox and the contacts table (SQL lives here; migration branch "outbox", revision 0003_outbox).

`reminder_outbox`: one row per delivery (reminder or digest × recipient), inserted in the same transaction as the
`ExpiryReminderSent` event it delivers, so nothing is lost and a stage is never queued twice. State machine:

    pending --claim (lease: token + lease_until)--> sent
       ^  \\                                     \\--> pending again at `available_at` (back-off) --> ... --> dead
       |   \\-- lease expired (worker killed) -> claimable again
       +--------- requeue (operator) ------------------------------------------------------------- dead

`reminder_subscriptions`: where reminders go — holder contacts keyed by the salted holder digest, department
endpoints keyed by USCC. Personal contact data lives only here, never on the ledger, and outbox rows point at a
subscription rather than copying its address: deleting a holder's contacts also stops what is still queued for them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from licences.catalogue.model import Channel
from licences.errors import InvalidFieldError
from licences.store import aware
from reminders.errors import OutboxError
from reminders.model import OutboxMessage, OwnerKind, Recipient, Topic

metadata = MetaData()
_when = DateTime(timezone=True)
MAX_ERROR_CHARS = 500

outbox_table = Table(
    "reminder_outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("ref", String(120), nullable=False),
    Column("subscription_id", String(36), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("department", String(18), nullable=False),
    Column("licence_id", String(36), nullable=True),
    Column("stage", Integer, nullable=True),
    Column("leaf_index", BigInteger, nullable=True),
    Column("month", String(7), nullable=True),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("available_at", _when, nullable=False),
    Column("lease_token", String(36), nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_until", _when, nullable=True),
    Column("created_at", _when, nullable=False),
    Column("sent_at", _when, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_reminder_outbox_due", "status", "available_at"),
    Index("ix_reminder_outbox_lease", "lease_token"),
    Index("ix_reminder_outbox_ref", "ref"),
)

subscriptions_table = Table(
    "reminder_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_kind", String(16), nullable=False),
    Column("owner", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", Text, nullable=False),
    Column("secret", String(64), nullable=True),
    Column("topics", String(32), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", _when, nullable=False),
    UniqueConstraint("owner_kind", "owner", "channel", "address", name="uq_reminder_subscriptions_address"),
    Index("ix_reminder_subscriptions_owner", "owner_kind", "owner"),
)

PENDING, SENT, DEAD, CANCELLED = "pending", "sent", "dead", "cancelled"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InvalidFieldError("now", "must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A contact address: whose, which channel, the address, the webhook signing secret, the topics it receives."""

    id: UUID
    owner_kind: OwnerKind
    owner: str
    channel: Channel
    address: str
    secret: str | None
    topics: tuple[Topic, ...]
    active: bool

    def recipient(self) -> Recipient:
        """The scheduler's view: id and channel, no address."""
        return Recipient(self.id, self.owner_kind, self.channel)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row joined with its subscription (address None when the subscription is gone)."""

    id: UUID
    kind: str
    ref: str
    channel: Channel
    department: str
    payload: str
    attempts: int
    lease_token: str
    lease_until: datetime
    address: str | None
    secret: str | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row for operators (listings, dead letters)."""

    id: UUID
    kind: str
    ref: str
    channel: str
    department: str
    status: str
    attempts: int
    failures: int
    available_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    stage: int | None
    month: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "id": str(self.id),
            "kind": self.kind,
            "ref": self.ref,
            "channel": self.channel,
            "department": self.department,
            "status": self.status,
            "attempts": self.attempts,
            "failures": self.failures,
            "available_at": self.available_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "last_error": self.last_error,
            "stage": self.stage,
            "month": self.month,
        }


class OutboxStore:
    """The outbox and contacts tables on the region's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def create_tables(self) -> None:
        """Create the tables directly (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.info["begin_mode"] = "IMMEDIATE"  # take the write lock up front: no upgrade deadlocks
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- Enqueue --------------------------------------------------------------------------------------------------

    def enqueue(self, conn: Connection, messages: Sequence[OutboxMessage], now: datetime) -> None:
        """Insert outbox rows inside the caller's transaction (the one writing the reminder event)."""
        if messages:
            conn.execute(insert(outbox_table), [_row(m, _utc(now)) for m in messages])

    def enqueue_once(self, messages: Sequence[OutboxMessage], now: datetime) -> int:
        """Insert rows in their own transaction, skipping ids already queued (digests); returns how many were new."""
        if not messages:
            return 0
        with self._write() as conn:
            existing = set(
                conn.scalars(select(outbox_table.c.id).where(outbox_table.c.id.in_([str(m.id) for m in messages])))
            )
            fresh = [m for m in messages if str(m.id) not in existing]
            if not fresh:
                return 0
            try:
                with conn.begin_nested():
                    self.enqueue(conn, fresh, now)
            except IntegrityError:
                return 0  # another scheduler queued the same ids a moment ago (PostgreSQL, no lock on reads)
            return len(fresh)

    def has_ref(self, ref: str) -> bool:
        """Whether anything was ever queued under `ref` (e.g. a department's digest of a month)."""
        with self._read() as conn:
            return conn.scalar(select(outbox_table.c.id).where(outbox_table.c.ref == ref).limit(1)) is not None

    # -- Leases ---------------------------------------------------------------------------------------------------

    def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int, channels: Sequence[Channel] | None = None
    ) -> list[Delivery]:
        """Lease up to `limit` due rows (of `channels`, default all) to `worker` until `now + lease`; counts an attempt.

        Due = pending, `available_at <= now`, and no live lease (a killed worker's lease simply runs out).
        PostgreSQL: `FOR UPDATE SKIP LOCKED` hands concurrent workers disjoint rows; SQLite: the write lock does.
        """
        moment, token = _utc(now), str(uuid.uuid4())
        o = outbox_table.c
        with self._write() as conn:
            query = (
                select(o.id)
                .where(
                    o.status == PENDING, o.available_at <= moment, or_(o.lease_until.is_(None), o.lease_until <= moment)
                )
                .order_by(o.available_at, o.id)
                .limit(limit)
            )
            if channels is not None:
                query = query.where(o.channel.in_([c.value for c in channels]))
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(conn.scalars(query))
            if not ids:
                return []
            conn.execute(
                update(outbox_table)
                .where(o.id.in_(ids))
                .values(
                    lease_token=token, lease_owner=worker[:100], lease_until=moment + lease, attempts=o.attempts + 1
                )
            )
            s = subscriptions_table.c
            rows = conn.execute(
                select(outbox_table, s.address, s.secret, s.active)
                .select_from(outbox_table.outerjoin(subscriptions_table, s.id == o.subscription_id))
                .where(o.lease_token == token)
                .order_by(o.available_at, o.id)
            ).mappings()
            return [_delivery(r) for r in rows]

    def mark_sent(self, delivery: Delivery, now: datetime) -> bool:
        """Record a successful delivery; False if the lease was lost meanwhile (another worker owns the row)."""
        return self._finish(delivery, status=SENT, sent_at=_utc(now), lease_token=None, lease_until=None)

    def mark_failed(self, delivery: Delivery, error: str, retry_at: datetime | None) -> bool:
        """Record a failed attempt: back to pending at `retry_at`, or dead-lettered when `retry_at` is None."""
        o = outbox_table.c
        values: dict[str, Any] = {
            "last_error": error[:MAX_ERROR_CHARS],
            "failures": o.failures + 1,
            "lease_token": None,
            "lease_until": None,
        }
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["available_at"] = _utc(retry_at)
        return self._finish(delivery, **values)

    def mark_cancelled(self, delivery: Delivery, reason: str) -> bool:
        """Stop a delivery for good without sending (its subscription was removed or deactivated)."""
        return self._finish(delivery, status=CANCELLED, last_error=reason[:MAX_ERROR_CHARS], lease_token=None)

    def _finish(self, delivery: Delivery, **values: Any) -> bool:
        o = outbox_table.c
        with self._write() as conn:
            result = conn.execute(
                update(outbox_table)
                .where(o.id == str(delivery.id), o.lease_token == delivery.lease_token, o.status == PENDING)
                .values(**values)
            )
            return result.rowcount == 1

    # -- Operators ------------------------------------------------------------------------------------------------

    def rows(self, *, status: str | None = None, limit: int = 100, ref: str | None = None) -> list[OutboxRow]:
        """Outbox rows, oldest first, optionally of one status or reference."""
        o = outbox_table.c
        query = select(outbox_table).order_by(o.created_at, o.id).limit(limit)
        if status is not None:
            query = query.where(o.status == status)
        if ref is not None:
            query = query.where(o.ref == ref)
        with self._read() as conn:
            return [_outbox_row(r) for r in conn.execute(query).mappings()]

    def requeue(self, delivery_id: UUID, now: datetime) -> None:
        """Put a dead-lettered delivery back in the queue with a fresh attempt budget (operator action)."""
        o = outbox_table.c
        with self._write() as conn:
            status = conn.scalar(select(o.status).where(o.id == str(delivery_id)))
            if status is None:
                raise OutboxError(f"no delivery {delivery_id}")
            if status != DEAD:
                raise OutboxError(f"delivery {delivery_id} is {status}, only dead letters can be requeued")
            conn.execute(
                update(outbox_table)
                .where(o.id == str(delivery_id))
                .values(status=PENDING, attempts=0, available_at=_utc(now), lease_token=None, lease_until=None)
            )

    def counts(self) -> dict[str, int]:
        """Rows per status, plus `leased` (pending with a live lease is not told apart here) and total failures."""
        o = outbox_table.c
        with self._read() as conn:
            by_status = {row[0]: int(row[1]) for row in conn.execute(select(o.status, func.count()).group_by(o.status))}
            failures = int(conn.scalar(select(func.coalesce(func.sum(o.failures), 0))) or 0)
        return {s: by_status.get(s, 0) for s in (PENDING, SENT, DEAD, CANCELLED)} | {"failures": failures}

    # -- Subscriptions --------------------------------------------------------------------------------------------

    def subscribe(
        self,
        owner_kind: OwnerKind,
        owner: str,
        channel: Channel,
        address: str,
        now: datetime,
        topics: Sequence[Topic] = (Topic.REMINDER,),
        secret: str | None = None,
    ) -> Subscription:
        """Add a contact (idempotent: the same owner, channel and address returns the existing subscription).

        Webhooks get a fresh 32-byte signing secret unless one is given; it is returned once, to hand to the receiver.
        """
        if channel is Channel.WEBHOOK and secret is None:
            secret = secrets.token_urlsafe(32)
        s = subscriptions_table.c
        with self._write() as conn:
            existing = (
                conn.execute(
                    select(subscriptions_table).where(
                        s.owner_kind == owner_kind.value,
                        s.owner == owner,
                        s.channel == channel.value,
                        s.address == address,
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None:
                return _subscription(existing)
            sub_id = uuid.uuid4()
            conn.execute(
                insert(subscriptions_table).values(
                    id=str(sub_id),
                    owner_kind=owner_kind.value,
                    owner=owner,
                    channel=channel.value,
                    address=address,
                    secret=secret,
                    topics=",".join(t.value for t in topics),
                    active=True,
                    created_at=_utc(now),
                )
            )
        return Subscription(sub_id, owner_kind, owner, channel, address, secret, tuple(topics), True)

    def unsubscribe(self, subscription_id: UUID) -> bool:
        """Delete a subscription; its queued deliveries are cancelled when a worker reaches them."""
        with self._write() as conn:
            result = conn.execute(delete(subscriptions_table).where(subscriptions_table.c.id == str(subscription_id)))
            return result.rowcount == 1

    def forget_holder(self, holder_digest: str) -> int:
        """Erase every contact of a holder (e.g. with the shredding of their personal data); returns how many."""
        s = subscriptions_table.c
        with self._write() as conn:
            result = conn.execute(
                delete(subscriptions_table).where(s.owner_kind == OwnerKind.HOLDER.value, s.owner == holder_digest)
            )
            return int(result.rowcount)

    def subscriptions(self, owner_kind: OwnerKind | None = None, owner: str | None = None) -> list[Subscription]:
        """Subscriptions, optionally of one owner kind and owner."""
        s = subscriptions_table.c
        query = select(subscriptions_table).order_by(s.owner_kind, s.owner, s.created_at, s.id)
        if owner_kind is not None:
            query = query.where(s.owner_kind == owner_kind.value)
        if owner is not None:
            query = query.where(s.owner == owner)
        with self._read() as conn:
            return [_subscription(r) for r in conn.execute(query).mappings()]

    def recipients(self, holder_digest: str, department: str, topic: Topic) -> list[Recipient]:
        """Active subscriptions of the holder and of the department that receive `topic`."""
        s = subscriptions_table.c
        query = select(subscriptions_table).where(
            s.active.is_(True),
            or_(
                and_(s.owner_kind == OwnerKind.HOLDER.value, s.owner == holder_digest),
                and_(s.owner_kind == OwnerKind.DEPARTMENT.value, s.owner == department),
            ),
        )
        with self._read() as conn:
            subs = [_subscription(r) for r in conn.execute(query.order_by(s.id)).mappings()]
        return [sub.recipient() for sub in subs if topic in sub.topics]

    def digest_subscribers(self) -> dict[str, list[Recipient]]:
        """Active department subscriptions that receive the monthly digest, by department USCC."""
        s = subscriptions_table.c
        query = (
            select(subscriptions_table)
            .where(s.active.is_(True), s.owner_kind == OwnerKind.DEPARTMENT.value)
            .order_by(s.owner, s.id)
        )
        result: dict[str, list[Recipient]] = {}
        with self._read() as conn:
            for row in conn.execute(query).mappings():
                sub = _subscription(row)
                if Topic.DIGEST in sub.topics:
                    result.setdefault(sub.owner, []).append(sub.recipient())
        return result


def _row(m: OutboxMessage, now: datetime) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "kind": m.kind.value,
        "ref": m.ref,
        "subscription_id": str(m.subscription_id),
        "channel": m.channel.value,
        "department": m.department,
        "licence_id": str(m.licence_id) if m.licence_id is not None else None,
        "stage": m.stage,
        "leaf_index": m.leaf_index,
        "month": m.month,
        "payload": m.payload,
        "status": PENDING,
        "attempts": 0,
        "failures": 0,
        "available_at": now,
        "created_at": now,
    }


def _delivery(r: Any) -> Delivery:
    active = r["active"] is not None and bool(r["active"])
    lease_until = aware(r["lease_until"])
    assert lease_until is not None
    return Delivery(
        id=UUID(r["id"]),
        kind=r["kind"],
        ref=r["ref"],
        channel=Channel(r["channel"]),
        department=r["department"],
        payload=r["payload"],
        attempts=int(r["attempts"]),
        lease_token=r["lease_token"],
        lease_until=lease_until,
        address=r["address"] if active else None,
        secret=r["secret"] if active else None,
    )


def _outbox_row(r: Any) -> OutboxRow:
    available_at, created_at = aware(r["available_at"]), aware(r["created_at"])
    assert available_at is not None and created_at is not None
    return OutboxRow(
        id=UUID(r["id"]),
        kind=r["kind"],
        ref=r["ref"],
        channel=r["channel"],
        department=r["department"],
        status=r["status"],
        attempts=int(r["attempts"]),
        failures=int(r["failures"]),
        available_at=available_at,
        created_at=created_at,
        sent_at=aware(r["sent_at"]),
        last_error=r["last_error"],
        stage=r["stage"],
        month=r["month"],
    )


def _subscription(r: Any) -> Subscription:
    return Subscription(
        id=UUID(r["id"]),
        owner_kind=OwnerKind(r["owner_kind"]),
        owner=r["owner"],
        channel=Channel(r["channel"]),
        address=r["address"],
        secret=r["secret"],
        topics=tuple(Topic(t) for t in r["topics"].split(",") if t),
        active=bool(r["active"]),
    )
