"""Full audit of a log (DESIGN §4): re-derive every leaf, every stored tile and every checkpoint, streaming.

Steps, each labelled below:
  (1) events are dense from index 0, and each row re-derives to its stored leaf hash;
  (2) every tile that becomes full while re-hashing equals the stored tile, and no other tile is stored;
  (3) each checkpoint is signed by the log key for our origin, chained to the one before, never shrinks the tree,
      and its root equals the root re-derived from the events at its size (so consecutive checkpoints are
      consistent with each other and with the log);
  (4) the log holds no row past the end the audit walked.
Memory stays flat: events and checkpoints are read in keyset-paginated chunks; the edge holds < 256 hashes a level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from ledger.envelope import Envelope
from ledger.errors import AuditFailure
from ledger.log import GENESIS_PREV_HASH, Checkpoint, _checkpoint
from ledger.merkle import leaf_hash
from ledger.store import LedgerStore, TileRow, _Edge, checkpoints_table, edge_root, events_table, push_leaves, tiles_table
from signatures.errors import SignatureError
from signatures.note import NoteVerifier, open_checkpoint

CHUNK = 5000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class AuditReport:
    """What a passing audit covered."""

    leaves: int
    tiles: int
    checkpoints: int
    root_hash: bytes


def _event_chunks(conn: Connection) -> Iterator[list[tuple[int, str, int, str, bytes, str, bytes]]]:
    t = events_table.c
    after = -1
    while True:
        rows = conn.execute(
            select(t.leaf_index, t.stream, t.version, t.topic, t.state, t.recorded_at, t.leaf_hash)
            .where(t.leaf_index > after)
            .order_by(t.leaf_index)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        yield [(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], bytes(r[6])) for r in rows]
        after = rows[-1][0]


def _checkpoint_stream(conn: Connection) -> Iterator[Checkpoint]:
    after = -1
    while True:
        rows = conn.execute(
            select(checkpoints_table).where(checkpoints_table.c.seq > after).order_by(checkpoints_table.c.seq).limit(CHUNK)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _checkpoint(row)
        after = int(rows[-1][0])


class _CheckpointAuditor:
    """Walks the checkpoint chain in step with the event stream (step 3)."""

    def __init__(self, conn: Connection, verifier: NoteVerifier, origin: str) -> None:
        self._stream = _checkpoint_stream(conn)
        self._verifier = verifier
        self._origin = origin
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


def _check_tiles(conn: Connection, completed: list[TileRow]) -> None:
    """(2) the tiles re-derived from the events equal the stored ones."""
    for tile in completed:
        row = conn.execute(
            select(tiles_table.c.hashes, tiles_table.c.root).where(
                tiles_table.c.level == tile.level, tiles_table.c.idx == tile.idx
            )
        ).first()
        if row is None or bytes(row[0]) != tile.hashes or bytes(row[1]) != tile.root:
            first_leaf = tile.idx << (8 * (tile.level + 1))
            raise AuditFailure(first_leaf, f"stored tile {tile.level}/{tile.idx} is missing or differs from the events")


def run_audit(store: LedgerStore, verifier: NoteVerifier, origin: str, progress: Progress | None = None) -> AuditReport:
    """Audit the whole log; raise AuditFailure naming the first bad index, or return what was covered."""
    edge = _Edge(0, [])
    tiles = 0
    with store.read(snapshot=True) as conn:
        checkpoints = _CheckpointAuditor(conn, verifier, origin)
        checkpoints.at_size(0, lambda: edge_root(edge))
        for chunk in _event_chunks(conn):
            for index, stream, version, topic, state, recorded_at, stored_hash in chunk:
                if index != edge.size:  # (1) dense indexes: a gap is a deleted row
                    raise AuditFailure(edge.size, f"leaf {edge.size} is missing (next row has index {index})")
                h = leaf_hash(Envelope.of(index, stream, version, topic, recorded_at, state).leaf_data())
                if h != stored_hash:
                    raise AuditFailure(index, "event row does not re-derive to its leaf hash (edited or reordered)")
                completed = push_leaves(edge, [h])
                if completed:
                    _check_tiles(conn, completed)
                    tiles += len(completed)
                checkpoints.at_size(edge.size, lambda: edge_root(edge))
            if progress is not None:
                progress(len(chunk))
        stored_tiles = conn.execute(select(func.count()).select_from(tiles_table)).scalar_one()
        if stored_tiles != tiles:  # (4) nothing stored beyond what the events produce
            raise AuditFailure(edge.size, f"{stored_tiles - tiles} stored tile(s) are not produced by the events")
        checkpoints.finish(edge.size)
    return AuditReport(edge.size, tiles, checkpoints.count, edge_root(edge))
