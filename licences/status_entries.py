"""The status map's entries from licence events (DESIGN §4b): the map is a pure function of the log.

`fold` is the whole rule, one event at a time, from a licence's current entry (its current version):
- issued → the new version `active`;
- renewed or amended → the old version `superseded`, the new version with the old status (an amendment keeps the
  validity, a renewal brings its own);
- suspended → `suspended`, reinstated → `active`, revoked → `revoked`;
every entry it writes carries the leaf index of the event (`event_index`). Other events change no entry.

`StatusEntries` applies the fold as commands commit (inside their unit of work, before the checkpoint that commits
the new root is signed); `replay` applies it to stored events, for the audit and for backfilling a map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from ledger.ids import LeafIndex
from ledger.statusmap import MapUpdate, StatusMapStore
from licences.domain import (
    LicenceAmended,
    LicenceIssued,
    LicenceReinstated,
    LicenceRenewed,
    LicenceRevoked,
    LicenceSuspended,
)
from signatures.statusmap import path_of
from signatures.statusproof import StatusValue, parse_status_value

if TYPE_CHECKING:
    from sqlalchemy import Connection

_LIFECYCLE: dict[type[Any], str] = {
    LicenceSuspended: "suspended",
    LicenceReinstated: "active",
    LicenceRevoked: "revoked",
}
STATUS_EVENTS: tuple[type[Any], ...] = (LicenceIssued, LicenceRenewed, LicenceAmended, *_LIFECYCLE)
# Readers of stored events (the audit, the backfill) compare topics and never resolve one read from the database: a
# stored topic must not decide what gets imported (an event class is never renamed or moved, so its topic is fixed).
STATUS_TOPICS = frozenset(get_topic(c) for c in STATUS_EVENTS)


def fold(
    current: StatusValue | None, event: DomainEventProtocol[Any], leaf: int
) -> tuple[StatusValue | None, list[StatusValue]]:
    """The licence's current entry after `event` at `leaf`, and the entries the event writes (in order)."""
    if isinstance(event, LicenceIssued):
        new = StatusValue(
            event.identifier,
            event.licence_version,
            "active",
            _second(event.valid_from),
            _second(event.valid_until),
            leaf,
        )
        return new, [new]
    if current is None:  # a later event of a licence whose issue is not in the log: nothing to change
        return None, []
    if isinstance(event, LicenceRenewed):
        new = StatusValue(
            event.identifier,
            event.licence_version,
            current.status,
            _second(event.valid_from),
            _second(event.valid_until),
            leaf,
        )
        return new, [replace(current, status="superseded", event_index=leaf), new]
    if isinstance(event, LicenceAmended):
        new = replace(current, identifier=event.identifier, version=event.licence_version, event_index=leaf)
        return new, [replace(current, status="superseded", event_index=leaf), new]
    status = _LIFECYCLE.get(type(event))
    if status is None:
        return current, []
    new = replace(current, status=status, event_index=leaf)
    return new, [new]


@overload
def _second(moment: datetime) -> datetime: ...
@overload
def _second(moment: None) -> None: ...
def _second(moment: datetime | None) -> datetime | None:
    """UTC in whole seconds, as tokens carry it (`nbf`, `exp` are the same instants, floored)."""
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0)


def updates_for(
    stream: str,
    current: StatusValue | None,
    events: Iterable[tuple[DomainEventProtocol[Any], int]],
) -> tuple[StatusValue | None, list[MapUpdate]]:
    """Fold one licence's events (with their leaves) from `current`; the map updates they make."""
    updates: list[MapUpdate] = []
    for event, leaf in events:
        current, written = fold(current, event, leaf)
        updates += [MapUpdate(path_of(v.identifier), stream, v.to_canonical()) for v in written]
    return current, updates


class StatusEntries:
    """Keeps the status map in step with the licence events a command commits.

    `after_change(conn)` runs when the map changed, in the same transaction: the composition root signs a checkpoint
    there, so a committed status change is provable at once (no verdict waits for the next checkpoint tick)."""

    def __init__(self, store: StatusMapStore, after_change: Callable[[Connection], None] | None = None) -> None:
        self.store = store
        self.after_change = after_change

    def record(
        self,
        conn: Connection,
        licences: Sequence[tuple[str, Sequence[DomainEventProtocol[Any]], Sequence[LeafIndex]]],
        *,
        new_streams: frozenset[str] = frozenset(),
    ) -> None:
        """Apply the events of each licence (stream, events, leaves) to the map, then `after_change`."""
        relevant = [(s, ev, lv) for s, ev, lv in licences if any(isinstance(e, STATUS_EVENTS) for e in ev)]
        if not relevant:
            return
        existing = [s for s, _, _ in relevant if s not in new_streams]
        stored = self.store.current_of(conn, existing) if existing else {}
        updates: list[MapUpdate] = []
        for stream, events, leaves in relevant:
            before = stored.get(stream)
            current = None if before is None else parse_status_value(before)
            _, more = updates_for(stream, current, zip(events, leaves, strict=True))
            updates += more
        size = max(int(leaf) for _, _, leaves in relevant for leaf in leaves) + 1
        self.store.apply(conn, updates, size)
        if self.after_change is not None:
            self.after_change(conn)


def replay(
    events: Iterable[tuple[str, DomainEventProtocol[Any] | None, int]],
    current_of: Callable[[str], StatusValue | None],
    remember: Callable[[str, StatusValue], None],
) -> Iterator[tuple[int, list[MapUpdate]]]:
    """The map updates of stored events in log order, one (leaf, updates) per status-changing event.

    `events` yields (stream, decoded event or None for events that are not licence events, leaf); `current_of` and
    `remember` keep each licence's current entry wherever the caller keeps it (a dict, or a scratch table when the
    log is too large for memory)."""
    for stream, event, leaf in events:
        if event is None or not isinstance(event, STATUS_EVENTS):
            continue
        current, updates = updates_for(stream, current_of(stream), [(event, leaf)])
        if current is not None:
            remember(stream, current)
        if updates:
            yield leaf, updates


__all__ = ["STATUS_EVENTS", "STATUS_TOPICS", "StatusEntries", "fold", "replay", "updates_for"]
