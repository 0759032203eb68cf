"""Saving and loading domain events through the ledger's recorder, with read models in the same transaction.

One `save` is one transaction (DESIGN §2): the events, their Merkle leaves, and whatever `project` writes to the read
models commit together or not at all. Events are JSON (eventsourcing's JSONTranscoder), never pickled. Used by every
package that records events (`licences`, `seals`); `licences.recording.Recording` is this class raising the licence
library's `ConcurrentUpdateError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from ledger.errors import ConcurrentUpdateError
from ledger.ids import LeafIndex
from ledger.persistence import LedgerRecorder

if TYPE_CHECKING:  # the read models' SQL stays in the packages' store*.py modules
    from sqlalchemy import Connection

Project = Callable[["Connection", Sequence[LeafIndex]], None]


def _transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return transcoder


class Recording:
    """Maps domain events to stored events and back, and appends them atomically with read-model writes."""

    conflict: ClassVar[type[ConcurrentUpdateError]] = ConcurrentUpdateError  # what a stream-version clash raises

    def __init__(self, recorder: LedgerRecorder) -> None:
        self.recorder = recorder
        self.mapper: Mapper[UUID] = Mapper(transcoder=_transcoder())

    def unit(self) -> AbstractContextManager[Connection]:
        """A unit of work: one transaction holding the log's writer, which every read and save inside it joins.

        A command loads, decides and saves inside one unit, so what it read is what it writes against; it never
        holds the writer while waiting for another connection (`LedgerStore.write`).
        """
        return self.recorder.store.write()

    def want_checkpoint(self) -> None:
        """Ask that the open unit's batch sign a checkpoint before it commits (so its leaves are provable at once)."""
        self.recorder.store.want_checkpoint()

    def to_stored(self, events: Sequence[DomainEventProtocol[Any]]) -> list[StoredEvent]:
        """The stored form of `events` (JSON state, topic)."""
        return [self.mapper.to_stored_event(e) for e in events]

    def save(self, events: Sequence[DomainEventProtocol[Any]], project: Project | None = None) -> list[LeafIndex]:
        """Append `events` (and run `project(conn, leaf_indexes)` in the same transaction); returns leaf indexes.

        A stream-version clash means someone else wrote the same aggregate first: `conflict`
        (`ConcurrentUpdateError`).
        """
        stored = self.to_stored(events)
        leaves: list[LeafIndex] = []

        def in_transaction(conn: Connection, indexes: Sequence[LeafIndex]) -> None:
            leaves.extend(indexes)
            if project is not None:
                project(conn, indexes)

        try:
            self.recorder.insert_events(stored, same_transaction=in_transaction)
        except IntegrityError as exc:
            raise self.conflict("another writer changed the same record first; retry the command") from exc
        return leaves

    def load(self, stream_id: UUID) -> list[DomainEventProtocol[Any]]:
        """Every event of a stream, in version order."""
        return [self.mapper.to_domain_event(s) for s in self.recorder.select_events(stream_id)]

    def load_streams(self, stream_ids: Sequence[UUID]) -> dict[UUID, list[DomainEventProtocol[Any]]]:
        """Every event of each stream (one query for all), each in version order."""
        stored = self.recorder.select_streams(list(stream_ids))
        return {s: [self.mapper.to_domain_event(e) for e in stored[str(s)]] for s in stream_ids}

    def load_aggregate(self, stream_id: UUID) -> Aggregate | None:
        """Replay a stream into its aggregate, or None if the stream is empty."""
        aggregate: Any = None
        for event in self.load(stream_id):
            aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
        return aggregate if isinstance(aggregate, Aggregate) else None
