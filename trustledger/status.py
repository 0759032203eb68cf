"""Bringing a region's status map up to its log: the backfill `trustledger init` runs on a region older than the map.

The map is a pure function of the events (licences/status_entries.py), so a region whose log predates it gets the
very map it would have had: every status-changing event is replayed at its own log size (point-in-time proofs at
later checkpoints then hold), and a checkpoint committing to the map is signed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent

from ledger.store import LedgerStore
from licences.status_entries import STATUS_TOPICS, replay
from signatures.statusproof import StatusValue

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.recording import Recording
    from ledger.statusmap import StatusMapStore


def status_events(
    store: LedgerStore, conn: Connection, recording: Recording
) -> Iterator[tuple[str, DomainEventProtocol[Any] | None, int]]:
    """(stream, decoded licence status event or None, leaf) for every event in log order, a page at a time."""
    for page in store.event_pages(conn):
        for index, stream, version, topic, state, _, _ in page:
            if topic not in STATUS_TOPICS:
                yield stream, None, index
                continue
            stored = StoredEvent(originator_id=UUID(stream), originator_version=version, topic=topic, state=state)
            yield stream, recording.mapper.to_domain_event(stored), index


def backfill_status_map(store: LedgerStore, status_map: StatusMapStore, recording: Recording) -> int:
    """Fill an empty status map from the log (one unit of work); returns how many entries were written (0 when the
    map already has entries or the log has no licence)."""
    with store.write() as conn:
        if status_map.has_entries(conn):
            return 0
        current: dict[str, StatusValue] = {}
        written = 0
        for leaf, updates in replay(status_events(store, conn, recording), current.get, current.__setitem__):
            status_map.apply(conn, updates, leaf + 1)
            written += len(updates)
        return written
