"""Reads routed between the primary and a read replica (ADR 0015): the replica's head, its lag, and the fall back to
the primary whenever the replica is behind what a read needs or does not answer.

`ledger.replica` holds the policy; this module runs it against the two stores and counts where each read went.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from ledger.errors import BusyError
from ledger.log import Log
from ledger.replica import Head, Refusal, ReplicaLag, Served, holds_size, same_checkpoint

T = TypeVar("T")
# What a replica that is down, full, or cancelling queries for replay conflicts raises; the primary then answers.
# Any driver error counts: the primary gives the authoritative answer (or the same error) either way.
_REPLICA_DOWN = (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.InterfaceError, BusyError)
_REPLAY_SQL = text(
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END, "
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text END"
)
_WAL_BEHIND_SQL = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:lsn AS pg_lsn))")


def head_of(log: Log) -> Head:
    """The size and newest checkpoint of one copy of the log, read in one transaction."""
    with log.store.read() as conn:
        return Head.of(log.store.size(conn), log.store.latest_checkpoint(conn))


class ReplicaReads:
    """Where the log's reads run: the replica when it can answer exactly as the primary would, else the primary.

    Without a replica every read runs on the primary. Thread-safe; one per region (the counts are per process).
    """

    def __init__(self, primary: Log, replica: Log | None) -> None:
        self.primary = primary
        self.replica = replica
        self._lock = threading.Lock()
        # The replica only grows, so a size it was once seen to hold needs no new probe.
        self._known_size = 0
        self._known_checkpoint_size = 0
        self._served: Counter[tuple[str, Served]] = Counter()
        self._refused: Counter[tuple[str, Refusal]] = Counter()

    @property
    def configured(self) -> bool:
        """Whether the region has a read replica."""
        return self.replica is not None

    def served(self) -> dict[tuple[str, Served], int]:
        """Reads so far by (kind, where they ran)."""
        with self._lock:
            return dict(self._served)

    def refused(self) -> dict[tuple[str, Refusal], int]:
        """Reads the replica was asked first for and did not serve, by (kind, why)."""
        with self._lock:
            return dict(self._refused)

    def at_size(self, kind: str, needed: int, read: Callable[[Log], T], *, checkpoint: bool = False) -> T:
        """`read` of the tree of `needed` leaves (or, with `checkpoint`, at the signed checkpoint of that size): on
        the replica if it holds that many leaves (or a checkpoint at least that large), else on the primary."""
        replica = self.replica
        if replica is None:
            return self._on_primary(kind, read)
        # The primary runs outside the `try`: its own errors are answers, not a reason to ask it twice.
        try:
            if not holds_size(self._known(checkpoint), needed):
                self._probe(replica)
            held = holds_size(self._known(checkpoint), needed)
            if held:
                result = read(replica)
        except _REPLICA_DOWN:
            return self._on_primary(kind, read, Refusal.UNAVAILABLE)
        if not held:
            return self._on_primary(kind, read, Refusal.BEHIND)
        self._count(kind, Served.REPLICA)
        return result

    def now(self, kind: str, read: Callable[[Log, int | None], T]) -> T:
        """A read about now: `read(log, size)` on the replica, at the size of its newest checkpoint, only when that
        checkpoint is the primary's newest one; otherwise `read(primary, None)` (its newest checkpoint)."""
        replica = self.replica
        if replica is None:
            return self._on_primary(kind, lambda log: read(log, None))
        # Only the newest checkpoints are compared: one indexed query on each side.
        newest = self.primary.latest_checkpoint()
        try:
            held = replica.latest_checkpoint()
            same = held is not None and same_checkpoint(newest, held)
            if held is not None and same:
                with self._lock:
                    self._known_checkpoint_size = max(self._known_checkpoint_size, held.tree_size)
                result = read(replica, held.tree_size)
        except _REPLICA_DOWN:
            return self._on_primary(kind, lambda log: read(log, None), Refusal.UNAVAILABLE)
        if not same:
            return self._on_primary(kind, lambda log: read(log, None), Refusal.BEHIND)
        self._count(kind, Served.REPLICA)
        return result

    def lag(self) -> ReplicaLag:
        """How far the replica is behind the primary now (the primary's errors propagate; the replica's are
        reported as not reachable)."""
        primary = head_of(self.primary)
        replica = self.replica
        if replica is None:
            return ReplicaLag(configured=False, reachable=False, primary=primary, replica=None)
        try:
            head = self._probe(replica)
            paused, lag_bytes = self._replay(replica)
        except _REPLICA_DOWN:
            return ReplicaLag(configured=True, reachable=False, primary=primary, replica=None)
        return ReplicaLag(True, True, primary, head, paused, lag_bytes)

    def close(self) -> None:
        """Release the replica's connections (the primary's belong to the region)."""
        if self.replica is not None:
            self.replica.store.close()

    # -- internals ------------------------------------------------------------------------------------

    def _known(self, checkpoint: bool) -> int:
        with self._lock:
            return self._known_checkpoint_size if checkpoint else self._known_size

    def _probe(self, replica: Log) -> Head:
        head = head_of(replica)
        with self._lock:
            self._known_size = max(self._known_size, head.size)
            self._known_checkpoint_size = max(self._known_checkpoint_size, head.checkpoint_size or 0)
        return head

    def _on_primary(self, kind: str, read: Callable[[Log], T], refusal: Refusal | None = None) -> T:
        if refusal is not None:
            with self._lock:
                self._refused[(kind, refusal)] += 1
        result = read(self.primary)
        self._count(kind, Served.PRIMARY)
        return result

    def _count(self, kind: str, served: Served) -> None:
        with self._lock:
            self._served[(kind, served)] += 1

    def _replay(self, replica: Log) -> tuple[bool | None, int | None]:
        """(replay paused, WAL bytes the replica has not replayed) of a PostgreSQL standby; (None, None) elsewhere."""
        if replica.store.dialect != "postgresql" or self.primary.store.dialect != "postgresql":
            return None, None
        with replica.store.engine.connect() as conn:
            in_recovery, paused, replayed = conn.execute(_REPLAY_SQL).one()
        if not in_recovery or replayed is None:
            return None, None
        with self.primary.store.engine.connect() as conn:
            behind = conn.execute(_WAL_BEHIND_SQL, {"lsn": replayed}).scalar_one()
        return bool(paused), max(0, int(behind))
