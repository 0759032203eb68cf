"""Helpers to fill a ledger store with synthetic events."""

from __future__ import annotations

import uuid

from eventsourcing.persistence import StoredEvent

from ledger.persistence import LedgerRecorder

TOPIC = "tests.ledger:Synthetic"


def append(recorder: LedgerRecorder, count: int, batch: int = 1) -> list[int]:
    """Append `count` events in transactions of `batch`; return their notification ids."""
    ids: list[int] = []
    done = 0
    while done < count:
        n = min(batch, count - done)
        stream = uuid.uuid4()
        got = recorder.insert_events(
            [StoredEvent(stream, v, TOPIC, f'{{"n":{done + v}}}'.encode()) for v in range(1, n + 1)]
        )
        assert got is not None
        ids.extend(got)
        done += n
    return ids
