"""The anchors in the audit: every checkpoint a timestamp token or a cosignature was stored for is still stored.

Deleting the newest checkpoints (and re-signing) leaves the log's own chain intact; the anchors collected for the
deleted ones then point at nothing. `AnchorReferences` is a `ledger.audit.AuditHook`: it walks the anchored
checkpoints by tree size in step with the stored chain (whose sizes never decrease), so memory stays flat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anchors.store_audit import Anchored, anchored_checkpoints
from ledger.errors import AuditFailure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection

    from ledger.store import Checkpoint, EventRow
    from signatures.note import CheckpointBody


class AnchorReferences:
    """Fails the audit when a stored timestamp or cosignature refers to a checkpoint the chain no longer holds."""

    def __init__(self) -> None:
        self._anchored: Iterator[Anchored] | None = None
        self._next: Anchored | None = None
        self._size = -1  # the tree size of the stored checkpoints seen last
        self._notes: set[bytes] = set()  # their note hashes (checkpoints of one size: normally one)
        self.count = 0

    def _start(self, conn: Connection) -> None:
        if self._anchored is None:
            self._anchored = anchored_checkpoints(conn)
            self._next = next(self._anchored, None)

    def _settle(self, below: int | None) -> None:
        """Check every anchor of a size below `below` (None: all) against the checkpoints of `self._size`."""
        assert self._anchored is not None
        while self._next is not None and (below is None or self._next[0] < below):
            size, digest, what = self._next
            if size != self._size or digest not in self._notes:
                raise AuditFailure(
                    max(size - 1, 0),
                    f"anchored checkpoint missing: {what} stored for the checkpoint of size {size} "
                    f"(note SHA-256 {digest.hex()}), which is not among the stored checkpoints",
                )
            self.count += 1
            self._next = next(self._anchored, None)

    def on_event(self, conn: Connection, row: EventRow) -> None:
        """Events do not matter here."""

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        if stored is None:
            return
        self._start(conn)
        if stored.tree_size != self._size:
            self._settle(stored.tree_size)
            self._size, self._notes = stored.tree_size, set()
        self._notes.add(stored.note_hash)

    def on_finish(self, conn: Connection, size: int) -> None:
        self._start(conn)
        self._settle(None)


__all__ = ["AnchorReferences"]
