"""Reminder contacts: the `reminder_subscriptions` table and its queries (migration branch "outbox", 0003_outbox).

Where reminders go — holder contacts keyed by the salted holder digest, department endpoints keyed by USCC. Personal
contact data lives only here, never on the ledger, and outbox rows point at a subscription rather than copying its
address: deleting a holder's contacts also stops what is still queued for them. The delivery queue is in
`reminders.store_outbox`, whose `OutboxStore` extends `ContactStore` and shares this module's `metadata`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    insert,
    or_,
    select,
)

from licences.catalogue.model import Channel
from licences.errors import InvalidFieldError
from reminders.addresses import parse_address
from reminders.model import OwnerKind, Recipient, Topic

metadata = MetaData()  # the "outbox" branch's tables: this one and `reminders.store_outbox`'s queue
WHEN = DateTime(timezone=True)

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
    Column("created_at", WHEN, nullable=False),
    UniqueConstraint("owner_kind", "owner", "channel", "address", name="uq_reminder_subscriptions_address"),
    Index("ix_reminder_subscriptions_owner", "owner_kind", "owner"),
)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive date-time is refused."""
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


class ContactStore:
    """The contacts table on the region's engine (SQLite or PostgreSQL), and the engine's transaction helpers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

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
        address = parse_address(channel, address)  # raises `ContactAddressError` naming the channel
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
                    created_at=as_utc(now),
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
