"""Which database a read runs on when the region has a read replica (ADR 0015): the policy, without I/O.

Two kinds of read:
- a read **at a stated size** (a tile, an entry bundle, a leaf, a proof at an explicit tree size, a status proof at
  an explicit checkpoint size) has one right answer whichever copy of the append-only log holds that size, so the
  replica serves it as soon as it holds that many leaves (or that checkpoint);
- a read **about now** (a status proof against the newest checkpoint) may rest on the replica only when the
  replica's newest checkpoint is the primary's newest checkpoint, the very same signed note; a replica that is
  behind is refused and the primary answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from ledger.store import Checkpoint


class Served(StrEnum):
    """Where a read ran."""

    PRIMARY = "primary"
    REPLICA = "replica"


class Refusal(StrEnum):
    """Why the replica did not serve a read it was asked first for."""

    BEHIND = "behind"  # it does not yet hold the size, or its newest checkpoint is older than the primary's
    UNAVAILABLE = "unavailable"  # it did not answer (down, pool exhausted, query cancelled by recovery)


@dataclass(frozen=True)
class Head:
    """What one copy of the log holds: its number of leaves and its newest signed checkpoint (seq, size, note hash)."""

    size: int
    checkpoint_seq: int | None
    checkpoint_size: int | None
    checkpoint_note_sha256: bytes | None

    @classmethod
    def of(cls, size: int, checkpoint: Checkpoint | None) -> Head:
        """The head of a log of `size` leaves whose newest checkpoint is `checkpoint`."""
        if checkpoint is None:
            return cls(size, None, None, None)
        return cls(size, checkpoint.seq, checkpoint.tree_size, hashlib.sha256(checkpoint.note.encode()).digest())


def holds_size(replica_size: int, needed: int) -> bool:
    """Whether a replica of `replica_size` leaves answers a read of the tree of `needed` leaves exactly as the
    primary would (the log is append-only: the first `needed` leaves never change)."""
    return needed <= replica_size


def same_newest_checkpoint(primary: Head, replica: Head) -> bool:
    """Whether a verdict about now may rest on the replica: its newest checkpoint is the primary's newest one (the
    same sequence number and the same signed note). Without a checkpoint on both sides, no."""
    if primary.checkpoint_note_sha256 is None or replica.checkpoint_note_sha256 is None:
        return False
    return (
        primary.checkpoint_seq == replica.checkpoint_seq
        and primary.checkpoint_note_sha256 == replica.checkpoint_note_sha256
    )


def same_checkpoint(primary: Checkpoint | None, replica: Checkpoint | None) -> bool:
    """`same_newest_checkpoint` for two checkpoints read directly: the same sequence number and the same note."""
    return primary is not None and replica is not None and (primary.seq, primary.note) == (replica.seq, replica.note)


@dataclass(frozen=True)
class ReplicaLag:
    """How far the replica is behind the primary, as operators read it (`/metrics`, ADR 0015).

    `reachable` is False when the replica did not answer (then the other replica fields are None). `lag_bytes` is
    the WAL the primary has written that the replica has not replayed (PostgreSQL only; None elsewhere).
    """

    configured: bool
    reachable: bool
    primary: Head
    replica: Head | None
    replay_paused: bool | None = None
    lag_bytes: int | None = None

    @property
    def leaves_behind(self) -> int | None:
        """Leaves the primary holds that the replica does not (None without a reachable replica)."""
        return None if self.replica is None else max(0, self.primary.size - self.replica.size)

    @property
    def checkpoints_behind(self) -> int | None:
        """Checkpoints signed on the primary that the replica does not hold yet (None without a reachable replica)."""
        if self.replica is None:
            return None
        primary = -1 if self.primary.checkpoint_seq is None else self.primary.checkpoint_seq
        replica = -1 if self.replica.checkpoint_seq is None else self.replica.checkpoint_seq
        return max(0, primary - replica)

    @property
    def serves_now(self) -> bool:
        """Whether a verdict about now may rest on the replica at this moment."""
        return self.replica is not None and same_newest_checkpoint(self.primary, self.replica)
