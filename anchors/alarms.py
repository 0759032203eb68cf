"""Fork alarms: stored once as evidence, written as one structured log line, and counted for the metrics layer."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from anchors.store import AnchorStore

_log = logging.getLogger("anchors.alarm")
_lock = threading.Lock()
_raised: dict[str, int] = {}


def fork_alarms_raised() -> dict[str, int]:
    """Alarms newly raised by this process, by kind (a Prometheus counter reads this; it starts at 0 on restart)."""
    with _lock:
        return dict(_raised)


def fork_alarms_total() -> int:
    """All alarms newly raised by this process."""
    with _lock:
        return sum(_raised.values())


def raise_alarm(
    store: AnchorStore,
    *,
    origin: str,
    kind: str,
    detail: str,
    first: tuple[int, str],
    second: tuple[int, str],
    proof: Sequence[str],
    now: datetime,
) -> int:
    """Store the evidence (deduplicated), log it and count it if new; returns the alarm id."""
    alarm_id, new = store.raise_alarm(
        origin=origin, kind=kind, detail=detail, first=first, second=second, proof=proof, now=now
    )
    if new:
        with _lock:
            _raised[kind] = _raised.get(kind, 0) + 1
        record = {"event": "fork_alarm", "alarm_id": alarm_id, "origin": origin, "kind": kind, "detail": detail}
        record |= {"first_size": first[0], "second_size": second[0]}
        _log.error(json.dumps(record, ensure_ascii=False), extra={"alarm": record})
    return alarm_id
