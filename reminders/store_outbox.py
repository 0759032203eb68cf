"""The reminder outbox, the delivery queue (SQL lives here; migration branch "outbox", revision 0003_outbox).

`reminder_outbox`: one row per delivery (reminder or digest × recipient), inserted in the same transaction as the
`ExpiryReminderSent` event it delivers, so nothing is lost and a stage is never queued twice. State machine:

    pending --claim (lease: token + lease_until)--start (attempts + 1)--> sent
       ^  \\                                                          \\--> pending again at `available_at` (back-off)
       |   \\-- lease expired (worker killed) -> claimable again         --> ... --> dead
       +--------- requeue (operator) ------------------------------------------------------------- dead

An attempt is charged by `start`, when a worker is about to hand that one message to its transport, never by
`claim`: a worker killed after claiming a batch (or one that lets a lease run out) costs the messages it never began
nothing, so no reminder is dead-lettered without having been tried `max_attempts` times.

Outbox rows point at a subscription in `reminder_subscriptions` (`reminders.store_contacts`, which owns the branch's
`metadata` and the contacts' queries) rather than copying its address.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ledger.store_columns import aware
from licences.catalogue.model import Channel
from reminders.errors import OutboxError
from reminders.model import OutboxMessage
from reminders.store_contacts import ContactStore, as_utc, subscriptions_table
from reminders.store_contacts import metadata as metadata  # one MetaData for the branch: contacts and this queue

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

PENDING, SENT, DEAD, CANCELLED = "pending", "sent", "dead", "cancelled"


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


class OutboxStore(ContactStore):
    """The outbox and contacts tables on the region's engine (SQLite or PostgreSQL); the contacts' queries are
    inherited from `reminders.store_contacts.ContactStore`."""

    def create_tables(self) -> None:
        """Create the tables directly (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    # -- Enqueue --------------------------------------------------------------------------------------------------

    def enqueue(self, conn: Connection, messages: Sequence[OutboxMessage], now: datetime) -> None:
        """Insert outbox rows inside the caller's transaction (the one writing the reminder event)."""
        if messages:
            conn.execute(insert(outbox_table), [_row(m, as_utc(now)) for m in messages])

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
        """Lease up to `limit` due rows (of `channels`, default all) to `worker` until `now + lease`.

        Claiming charges no attempt (`start` does, per message): a lease that runs out before its message was started
        is free.

        Due = pending, `available_at <= now`, and no live lease (a killed worker's lease simply runs out).
        PostgreSQL: `FOR UPDATE SKIP LOCKED` hands concurrent workers disjoint rows; SQLite: the write lock does.
        """
        moment, token = as_utc(now), str(uuid.uuid4())
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
                .values(lease_token=token, lease_owner=worker[:100], lease_until=moment + lease)
            )
            s = subscriptions_table.c
            rows = conn.execute(
                select(outbox_table, s.address, s.secret, s.active)
                .select_from(outbox_table.outerjoin(subscriptions_table, s.id == o.subscription_id))
                .where(o.lease_token == token)
                .order_by(o.available_at, o.id)
            ).mappings()
            return [_delivery(r) for r in rows]

    def start(self, delivery: Delivery, now: datetime) -> Delivery | None:
        """Charge one attempt to a claimed delivery just before it is sent; the delivery with its new `attempts`, or
        None if the lease was lost meanwhile (expired, or another worker owns the row): then it must not be sent."""
        o = outbox_table.c
        with self._write() as conn:
            result = conn.execute(
                update(outbox_table)
                .where(
                    o.id == str(delivery.id),
                    o.lease_token == delivery.lease_token,
                    o.status == PENDING,
                    o.lease_until > as_utc(now),
                )
                .values(attempts=o.attempts + 1)
            )
            if result.rowcount != 1:
                return None
            attempts = conn.scalar(select(o.attempts).where(o.id == str(delivery.id)))
        return replace(delivery, attempts=int(attempts or 0))

    def mark_sent(self, delivery: Delivery, now: datetime) -> bool:
        """Record a successful delivery; False if the lease was lost meanwhile (another worker owns the row)."""
        return self._finish(delivery, status=SENT, sent_at=as_utc(now), lease_token=None, lease_until=None)

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
            values["available_at"] = as_utc(retry_at)
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
                .values(status=PENDING, attempts=0, available_at=as_utc(now), lease_token=None, lease_until=None)
            )

    def counts(self) -> dict[str, int]:
        """Rows per status, plus `leased` (pending with a live lease is not told apart here) and total failures."""
        o = outbox_table.c
        with self._read() as conn:
            by_status = {row[0]: int(row[1]) for row in conn.execute(select(o.status, func.count()).group_by(o.status))}
            failures = int(conn.scalar(select(func.coalesce(func.sum(o.failures), 0))) or 0)
        return {s: by_status.get(s, 0) for s in (PENDING, SENT, DEAD, CANCELLED)} | {"failures": failures}


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
