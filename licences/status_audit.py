"""The status map in the audit (DESIGN §4b): re-derive the map from the events and compare it with what is stored.

`StatusMapAudit` is an `ledger.audit.AuditHook`. As the audit walks the log it folds each licence event into a
scratch map (`ledger.store_statusmap_audit.scratch_status_map`, the same `StatusMapStore` in a temporary SQLite file)
with `licences.status_entries.replay`, in batches applied before each checkpoint's size; the licences' current
entries live there too (`current_of`), so memory stays flat as the log grows. Steps, each labelled below:
  (1) at every stored checkpoint with a `status-map` line, the line equals the re-derived root at its size; a stored
      checkpoint without the line is accepted only before the first one that has it (regions older than the map);
  (2) there, the stored map's root at that size (`status_map_nodes`) equals the re-derived root too;
  (3) at every trusted checkpoint with a `status-map` line, the line equals the re-derived root ("rewrite" otherwise);
  (4) after the walk, the newest row of every path (`status_map_values`) and of every node (`status_map_nodes`)
      equals the re-derived one: a tampered row fails, naming the table and the first differing key in hex.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from ledger.errors import AuditFailure
from ledger.statusmap import MapUpdate, StatusMapStore
from ledger.store_statusmap_audit import newest_nodes, newest_values
from licences.domain import LicenceIssued
from licences.status_entries import STATUS_TOPICS, replay
from signatures.errors import SignatureError
from signatures.statusproof import MAP_LINE_PREFIX, StatusValue, map_root, parse_status_value

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.store import Checkpoint, EventRow
    from signatures.note import CheckpointBody

BATCH = 5000  # map updates held before they are applied to the scratch map (also applied at every checkpoint)
NOT_LEAF_BOUND = -1


class StatusMapAudit:
    """Re-derives the status map in step with the audit's walk and compares it (an `AuditHook`)."""

    def __init__(self, mapper: Mapper[UUID], scratch: Connection, batch: int = BATCH) -> None:
        self._mapper = mapper
        self._scratch = scratch
        self._map = StatusMapStore()
        self._batch = batch
        self._pending: list[MapUpdate] = []
        self._current: dict[str, StatusValue] = {}  # entries changed since the last batch was applied
        self._last_leaf = -1
        self._seen_line: str | None = None  # the first stored checkpoint with a status-map line
        self.root: bytes | None = None  # the re-derived newest root, after `on_finish`

    # -- folding the events ----------------------------------------------------------------------------------------

    def _decode(self, row: EventRow) -> DomainEventProtocol[Any]:
        index, stream, version, topic, state = row[:5]
        try:
            return self._mapper.to_domain_event(StoredEvent(UUID(stream), version, topic, state))
        except Exception as exc:  # whatever the decoder raises, the row is no licence event
            raise AuditFailure(index, f"status map: licence event {index} cannot be decoded: {exc}") from exc

    def _current_of(self, stream: str) -> StatusValue | None:
        if stream in self._current:
            return self._current[stream]
        stored = self._map.current_of(self._scratch, [stream]).get(stream)
        return None if stored is None else parse_status_value(stored)

    def _remember(self, stream: str, value: StatusValue) -> None:
        self._current[stream] = value

    def on_event(self, conn: Connection, row: EventRow) -> None:
        if row[3] not in STATUS_TOPICS:
            return
        event = self._decode(row)
        # An issue starts from nothing (`fold` ignores the current entry): no look-up in the scratch map for it.
        current_of = _nothing if isinstance(event, LicenceIssued) else self._current_of
        for leaf, updates in replay([(row[1], event, row[0])], current_of, self._remember):
            self._pending += updates
            self._last_leaf = leaf
        if len(self._pending) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._map.apply(self._scratch, self._pending, self._last_leaf + 1)
            self._pending, self._current = [], {}

    # -- comparing -------------------------------------------------------------------------------------------------

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        self._flush()
        where = max(body.size - 1, 0)
        line = _map_line(body, label, where)
        if stored is not None and line is None:  # (1) older than the map, or the line was dropped
            if self._seen_line is not None:
                raise AuditFailure(where, f"{label}: no status-map line, yet {self._seen_line} had one")
            return
        if stored is not None and self._seen_line is None:
            self._seen_line = label
        derived = self._map.root(self._scratch, body.size)
        if line is not None and line != derived:  # (1), (3)
            kind = "" if stored is not None else "rewrite: "
            raise AuditFailure(where, f"{kind}{label}: its status-map root differs from the map re-derived from events")
        if stored is not None and self._map.root(conn, body.size) != derived:  # (2)
            raise AuditFailure(
                where, f"status_map_nodes: the stored map root at size {body.size} ({label}) differs from the events"
            )

    def on_finish(self, conn: Connection, size: int) -> None:
        self._flush()
        self.root = self._map.root(self._scratch)
        for table, stored, derived in (  # (4)
            ("status_map_values", newest_values(conn), newest_values(self._scratch)),
            ("status_map_nodes", newest_nodes(conn), newest_nodes(self._scratch)),
        ):
            found = first_difference(stored, derived)
            if found is not None:
                key, how = found
                raise AuditFailure(
                    NOT_LEAF_BOUND, f"{table}: {'key' if table.endswith('nodes') else 'path'} {key.hex()} {how}"
                )


def _nothing(stream: str) -> StatusValue | None:
    return None


def _map_line(body: CheckpointBody, label: str, where: int) -> bytes | None:
    """The checkpoint's status-map root, None when it has no such line; a malformed line fails the audit."""
    if not body.extensions or not body.extensions[0].startswith(MAP_LINE_PREFIX):
        return None
    try:
        return map_root(body)
    except SignatureError as exc:
        raise AuditFailure(where, f"{label}: malformed status-map line: {exc}") from exc


def first_difference(stored: Iterator[tuple[Any, ...]], derived: Iterator[tuple[Any, ...]]) -> tuple[bytes, str] | None:
    """The first key (rows sorted by key, key first) where two streams of rows differ, and how."""
    a, b = next(stored, None), next(derived, None)
    while a is not None or b is not None:
        if a is None or (b is not None and b[0] < a[0]):
            assert b is not None
            return b[0], "is missing (the events produce it)"
        if b is None or a[0] < b[0]:
            return a[0], "is not produced by the events"
        if a != b:
            return a[0], "differs from the one the events produce"
        a, b = next(stored, None), next(derived, None)
    return None


__all__ = ["StatusMapAudit", "first_difference"]
