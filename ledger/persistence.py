"""An eventsourcing ApplicationRecorder that appends one Merkle leaf per event in the same transaction.

Notification ids are `leaf_index + 1`: both come from one dense counter taken under the writer lock, so
eventsourcing's contiguous-id contract and the log's dense leaf indexes hold together (ADR 0001).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Subscription,
)
from sqlalchemy import Connection, select
from sqlalchemy import exc as sa_exc

from clock import Clock, system_clock
from ledger.edge import push_leaves
from ledger.envelope import Envelope, format_recorded_at
from ledger.ids import LeafIndex
from ledger.merkle import leaf_hash
from ledger.store import EventRow, LedgerStore, events_table

# `Clock` and `system_clock` come from the one clock provider; re-exported so `ledger.persistence` imports still work.
__all__ = ["Clock", "LedgerRecorder", "SameTransaction", "system_clock"]
# Extra writes that must commit with the events (read models): called with the connection and the leaf indexes.
SameTransaction = Callable[[Connection, Sequence[LeafIndex]], None]


_DBAPI_ERRORS: list[tuple[str, type[PersistenceError]]] = [
    ("IntegrityError", IntegrityError),
    ("DataError", DataError),
    ("OperationalError", OperationalError),
    ("ProgrammingError", ProgrammingError),
    ("InterfaceError", InterfaceError),
    ("DatabaseError", DatabaseError),
]


def _translate_driver(dbapi: Any, exc: BaseException) -> PersistenceError | None:
    """Map a PEP 249 driver error (raised on the raw append path) to eventsourcing's names."""
    for name, target in _DBAPI_ERRORS:
        cls = getattr(dbapi, name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return target(str(exc))
    return None


def _translate(exc: sa_exc.SQLAlchemyError) -> PersistenceError:
    """Map SQLAlchemy-wrapped driver errors to eventsourcing's names, as its own recorders do."""
    mapping: list[tuple[type[sa_exc.SQLAlchemyError], type[PersistenceError]]] = [
        (sa_exc.IntegrityError, IntegrityError),
        (sa_exc.DataError, DataError),
        (sa_exc.OperationalError, OperationalError),
        (sa_exc.ProgrammingError, ProgrammingError),
        (sa_exc.InterfaceError, InterfaceError),
        (sa_exc.DatabaseError, DatabaseError),
    ]
    for source, target in mapping:
        if isinstance(exc, source):
            return target(str(exc.orig) if isinstance(exc, sa_exc.DBAPIError) else str(exc))
    return PersistenceError(str(exc))


class LedgerRecorder(ApplicationRecorder):
    """Stores events and their leaves in the ledger store; reads them back as eventsourcing expects."""

    def __init__(self, store: LedgerStore, *, clock: Clock = system_clock, originator_id_type: str = "uuid") -> None:
        if originator_id_type not in ("uuid", "text"):
            raise ValueError("originator_id_type must be 'uuid' or 'text'")
        self.store = store
        self.clock = clock
        self.uuid_ids = originator_id_type == "uuid"

    def _stream(self, originator_id: UUID | str) -> str:
        return str(originator_id)

    def _originator(self, stream: str) -> UUID | str:
        return UUID(stream) if self.uuid_ids else stream

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, same_transaction: SameTransaction | None = None, **_: Any
    ) -> Sequence[int] | None:
        """Append the events and their leaves atomically; returns their notification ids."""
        if not stored_events:
            return None
        try:
            with self.store.write() as conn:
                indexes = self.append(conn, stored_events)
                if same_transaction is not None:
                    same_transaction(conn, indexes)
        except sa_exc.SQLAlchemyError as exc:
            self.store.forget_edge()
            raise _translate(exc) from exc
        except BaseException as exc:
            self.store.forget_edge()
            translated = _translate_driver(self.store.engine.dialect.dbapi, exc)
            if translated is not None:
                raise translated from exc
            raise
        return [i + 1 for i in indexes]

    def append(self, conn: Connection, stored_events: Sequence[StoredEvent]) -> list[LeafIndex]:
        """Append inside an open writer transaction; returns the leaf indexes assigned."""
        edge = self.store.begin_append(conn)
        first = edge.size
        recorded_at = format_recorded_at(self.clock())
        rows: list[EventRow] = []
        hashes: list[bytes] = []
        for offset, s in enumerate(stored_events):
            stream = self._stream(s.originator_id)
            env = Envelope.of(first + offset, stream, s.originator_version, s.topic, recorded_at, s.state)
            h = leaf_hash(env.leaf_data())
            hashes.append(h)
            rows.append((env.index, stream, s.originator_version, s.topic, s.state, recorded_at, h))
        self.store.insert_event_rows(conn, rows)
        completed = push_leaves(edge, hashes)
        self.store.finish_append(conn, edge, completed)
        return [LeafIndex(i) for i in range(first, first + len(rows))]

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """Events of one stream, by version."""
        t = events_table.c
        q = select(t.stream, t.version, t.topic, t.state).where(t.stream == self._stream(originator_id))
        if gt is not None:
            q = q.where(t.version > gt)
        if lte is not None:
            q = q.where(t.version <= lte)
        q = q.order_by(t.version.desc() if desc else t.version)
        if limit is not None:
            q = q.limit(limit)
        try:
            with self.store.read() as conn:
                rows = conn.execute(q).all()
        except sa_exc.SQLAlchemyError as exc:
            raise _translate(exc) from exc
        return [StoredEvent(self._originator(r[0]), r[1], r[2], bytes(r[3])) for r in rows]

    def select_streams(self, originator_ids: Sequence[UUID | str]) -> dict[str, list[StoredEvent]]:
        """Events of several streams in one query, each stream's in version order (keyed by stream text)."""
        t = events_table.c
        streams = [self._stream(o) for o in originator_ids]
        found: dict[str, list[StoredEvent]] = {s: [] for s in streams}
        if not streams:
            return found
        q = select(t.stream, t.version, t.topic, t.state).where(t.stream.in_(streams)).order_by(t.stream, t.version)
        try:
            with self.store.read() as conn:
                rows = conn.execute(q).all()
        except sa_exc.SQLAlchemyError as exc:
            raise _translate(exc) from exc
        for r in rows:
            found[r[0]].append(StoredEvent(self._originator(r[0]), r[1], r[2], bytes(r[3])))
        return found

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Events in log order; notification id = leaf index + 1."""
        t = events_table.c
        q = select(t.leaf_index, t.stream, t.version, t.topic, t.state)
        if start is not None:
            q = q.where(t.leaf_index >= start - 1 if inclusive_of_start else t.leaf_index > start - 1)
        if stop is not None:
            q = q.where(t.leaf_index <= stop - 1)
        if topics:
            q = q.where(t.topic.in_(list(topics)))
        q = q.order_by(t.leaf_index).limit(limit)
        try:
            with self.store.read() as conn:
                rows = conn.execute(q).all()
        except sa_exc.SQLAlchemyError as exc:
            raise _translate(exc) from exc
        return [
            Notification(
                id=r[0] + 1,
                originator_id=self._originator(r[1]),
                originator_version=r[2],
                topic=r[3],
                state=bytes(r[4]),
            )
            for r in rows
        ]

    def max_notification_id(self) -> int | None:
        """The largest notification id, or None for an empty log."""
        size = self.store.size()
        return size or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        """A polling subscription to new notifications."""
        return PollingSubscription(self, gt=gt, topics=topics)


class PollingSubscription(Subscription[ApplicationRecorder]):
    """Yields notifications after `gt`, polling for new ones; works the same on SQLite and PostgreSQL."""

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = (), interval: float = 0.1
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._interval = interval
        self._buffer: Iterator[Notification] = iter(())
        self._wake = threading.Event()

    def stop(self) -> None:
        """Stop iterating (also wakes a waiting poll)."""
        super().stop()
        self._wake.set()

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            for notification in self._buffer:
                self._last_notification_id = notification.id
                return notification
            batch = self._recorder.select_notifications(
                start=self._last_notification_id or 0, limit=500, topics=self._topics, inclusive_of_start=False
            )
            self._buffer = iter(batch)
            if not batch:
                self._wake.wait(self._interval)
        raise StopIteration
