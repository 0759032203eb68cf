"""Full audit of a log (DESIGN §4): re-derive every leaf, every stored tile and every checkpoint, streaming.

Steps, each labelled below:
  (1) events are dense from index 0, and each row re-derives to its stored leaf hash;
  (2) every tile that becomes full while re-hashing equals the stored tile, and no other tile is stored;
  (3) each checkpoint is signed by the log key for our origin, chained to the one before, never shrinks the tree,
      and its root equals the root re-derived from the events at its size (so consecutive checkpoints are
      consistent with each other and with the log);
  (4) the log holds no row past the end the audit walked;
  (5) each trusted checkpoint (a note published earlier, or a witness's or peer's view of our log) is within the log
      ("rollback" otherwise) and its root equals the root re-derived at its size ("rewrite" otherwise).
Checks that need more than the log (the status map, the anchors) plug in as `AuditHook`s: the walk hands each hook
every event row and, once the tree has reached its size, every checkpoint it checked (stored or trusted).
Memory stays flat: events and checkpoints are read in keyset-paginated chunks; the edge holds < 256 hashes a level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Protocol

from ledger.edge import TILE_HEIGHT, TILE_WIDTH, _Edge, edge_root, push_leaves
from ledger.envelope import Envelope
from ledger.errors import AuditFailure
from ledger.log import GENESIS_PREV_HASH
from ledger.merkle import leaf_hash
from ledger.store import Checkpoint, EventRow, LedgerStore
from signatures.errors import SignatureError
from signatures.note import CheckpointBody, NoteVerifier, open_checkpoint

if TYPE_CHECKING:
    from sqlalchemy import Connection

CHUNK = 5000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class AuditReport:
    """What a passing audit covered."""

    leaves: int
    tiles: int
    checkpoints: int
    root_hash: bytes
    trusted: int = 0


@dataclass(frozen=True)
class TrustedCheckpoint:
    """A checkpoint of our log signed by our key that someone outside the database holds (`where`: its source)."""

    body: CheckpointBody
    where: str


class AuditHook(Protocol):
    """A check that runs in step with the walk; it raises `AuditFailure` naming what differs."""

    def on_event(self, conn: Connection, row: EventRow) -> None:
        """One event row (leaf order), after the row re-derived to its stored leaf."""

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        """A checkpoint whose root matched the log, once every leaf below its size was handed to `on_event`;
        `stored` is None for a trusted checkpoint; `label` names it in messages."""

    def on_finish(self, conn: Connection, size: int) -> None:
        """After the last event (`size` leaves) and the last checkpoint."""


class _CheckpointAuditor:
    """Walks the checkpoint chain in step with the event stream (step 3)."""

    def __init__(
        self,
        store: LedgerStore,
        conn: Connection,
        verifier: NoteVerifier,
        origin: str,
        hooks: Sequence[AuditHook] = (),
    ) -> None:
        self._stream = store.checkpoint_pages(conn)
        self._conn = conn
        self._verifier = verifier
        self._origin = origin
        self._hooks = hooks
        self._prev: Checkpoint | None = None
        self._next: Checkpoint | None = next(self._stream, None)
        self.count = 0

    def _fail(self, cp: Checkpoint, reason: str) -> AuditFailure:
        return AuditFailure(max(cp.tree_size - 1, 0), f"checkpoint {cp.seq} (size {cp.tree_size}): {reason}")

    def _check_one(self, cp: Checkpoint, size: int, root: bytes) -> None:
        try:  # (3a) signature by our log key, for our origin
            body = open_checkpoint(cp.note, self._verifier, self._origin)
        except SignatureError as exc:
            raise self._fail(cp, f"bad signature or note: {exc}") from exc
        if (body.size, body.root_hash) != (cp.tree_size, cp.root_hash):
            raise self._fail(cp, "stored columns differ from the signed note")
        expected_seq = 0 if self._prev is None else self._prev.seq + 1
        expected_prev = GENESIS_PREV_HASH if self._prev is None else self._prev.note_hash
        if cp.seq != expected_seq or cp.prev_hash != expected_prev:  # (3b) the chain of blocks
            raise self._fail(cp, "checkpoint chain broken (missing, inserted or edited predecessor)")
        if root != cp.root_hash:  # (3c) consistent with the events, hence with every other checkpoint
            raise self._fail(cp, "root hash does not match the log: inconsistent with the events and other checkpoints")
        self._prev = cp
        self.count += 1
        for hook in self._hooks:
            hook.on_checkpoint(self._conn, body, cp, f"checkpoint {cp.seq} (size {cp.tree_size})")

    def at_size(self, size: int, root_of_size: Callable[[], bytes]) -> None:
        """Check every checkpoint of exactly `size` leaves; reject one that shrinks below the walk."""
        while self._next is not None and self._next.tree_size <= size:
            cp = self._next
            if cp.tree_size < size or (self._prev is not None and cp.tree_size < self._prev.tree_size):
                raise self._fail(cp, "tree size goes backwards (a rollback or a fork)")
            self._check_one(cp, size, root_of_size())
            self._next = next(self._stream, None)

    def finish(self, size: int) -> None:
        """After the last event: no checkpoint may claim more leaves than the log holds."""
        if self._next is not None:
            raise self._fail(self._next, f"claims more leaves than the log holds ({size})")


class _TreeAuditor:
    """Re-derives the tree leaf by leaf and compares it with the stored leaf hashes and tiles (steps 1 and 2)."""

    def __init__(self, store: LedgerStore, conn: Connection, log_size: int) -> None:
        self._store = store
        self._conn = conn
        self._log_size = log_size
        self.edge = _Edge(0, [])
        self.tiles = 0
        self._committed: bytes | None = None  # the stored level-0 tile holding the current leaf, if full

    def _stored_tile(self, level: int, idx: int) -> tuple[bytes, bytes] | None:
        return self._store.stored_tile(self._conn, level, idx)

    def add(self, index: int, recomputed: bytes, stored: bytes) -> None:
        """Check one leaf against its row and its stored tile, then extend the re-derived tree."""
        offset = index % TILE_WIDTH
        if offset == 0:
            full = index + TILE_WIDTH <= self._log_size
            tile = self._stored_tile(0, index // TILE_WIDTH) if full else None
            if full and tile is None:
                raise AuditFailure(index, f"stored tile 0/{index // TILE_WIDTH} is missing")
            self._committed = tile[0] if tile else None
        if self._committed is not None and self._committed[offset * 32 : offset * 32 + 32] != recomputed:
            raise AuditFailure(index, "event row does not match the leaf committed in its stored tile")
        if recomputed != stored:
            raise AuditFailure(index, "event row does not re-derive to its stored leaf hash (edited or reordered)")
        for done in push_leaves(self.edge, [recomputed]):
            if self._stored_tile(done.level, done.idx) != (done.hashes, done.root):
                first_leaf = done.idx << (TILE_HEIGHT * (done.level + 1))
                raise AuditFailure(first_leaf, f"stored tile {done.level}/{done.idx} differs from the events")
            self.tiles += 1


class _TrustedAuditor:
    """Compares the trusted checkpoints with the re-derived tree as the walk reaches their sizes (step 5)."""

    def __init__(
        self, conn: Connection, trusted: Sequence[TrustedCheckpoint], hooks: Sequence[AuditHook], log_size: int
    ) -> None:
        self._conn = conn
        self._hooks = hooks
        ordered = sorted(trusted, key=lambda t: t.body.size)
        if ordered and ordered[-1].body.size > log_size:  # found before the walk: nothing else matters as much
            self._rollback(ordered[-1], log_size)
        self._pending: Iterator[TrustedCheckpoint] = iter(ordered)
        self._next = next(self._pending, None)
        self.count = 0

    @staticmethod
    def _rollback(cp: TrustedCheckpoint, size: int) -> NoReturn:
        raise AuditFailure(
            size,
            f"rollback: trusted checkpoint of size {cp.body.size} ({cp.where}) but the log holds only {size} leaves",
        )

    def at_size(self, size: int, root_of_size: Callable[[], bytes]) -> None:
        while self._next is not None and self._next.body.size == size:
            body, label = self._next.body, f"trusted checkpoint of size {size} ({self._next.where})"
            if root_of_size() != body.root_hash:
                raise AuditFailure(
                    max(size - 1, 0), f"rewrite: {label} has another root than the log at that size (history rewritten)"
                )
            for hook in self._hooks:
                hook.on_checkpoint(self._conn, body, None, label)
            self.count += 1
            self._next = next(self._pending, None)

    def finish(self, size: int) -> None:
        if self._next is not None:
            self._rollback(self._next, size)


def run_audit(
    store: LedgerStore,
    verifier: NoteVerifier,
    origin: str,
    progress: Progress | None = None,
    *,
    hooks: Sequence[AuditHook] = (),
    trusted: Sequence[TrustedCheckpoint] = (),
) -> AuditReport:
    """Audit the whole log; raise AuditFailure naming the first bad index, or return what was covered."""
    with store.read(snapshot=True) as conn:
        log_size = store.size(conn)
        tree = _TreeAuditor(store, conn, log_size)
        checkpoints = _CheckpointAuditor(store, conn, verifier, origin, hooks)
        outside = _TrustedAuditor(conn, trusted, hooks, log_size)

        def at_size(size: int) -> None:
            outside.at_size(size, lambda: edge_root(tree.edge))
            checkpoints.at_size(size, lambda: edge_root(tree.edge))

        at_size(0)
        for chunk in store.event_pages(conn, CHUNK):
            for row in chunk:
                index, stream, version, topic, state, recorded_at, stored_hash = row
                if index != tree.edge.size:  # (1) dense indexes: a gap is a deleted row
                    raise AuditFailure(tree.edge.size, f"leaf {tree.edge.size} is missing (next row has index {index})")
                recomputed = leaf_hash(Envelope.of(index, stream, version, topic, recorded_at, state).leaf_data())
                tree.add(index, recomputed, stored_hash)
                for hook in hooks:
                    hook.on_event(conn, row)
                at_size(tree.edge.size)
            if progress is not None:
                progress(len(chunk))
        stored_tiles = store.count_tiles(conn)
        if stored_tiles != tree.tiles:  # (4) nothing stored beyond what the events produce
            raise AuditFailure(
                tree.edge.size, f"{stored_tiles - tree.tiles} stored tile(s) are not produced by the events"
            )
        checkpoints.finish(tree.edge.size)
        outside.finish(tree.edge.size)  # (5) a trusted checkpoint beyond the log: it was rolled back
        for hook in hooks:
            hook.on_finish(conn, tree.edge.size)
    return AuditReport(tree.edge.size, tree.tiles, checkpoints.count, edge_root(tree.edge), outside.count)
