"""The log as its readers see it: roots, proofs, leaves, tiles, and the chain of signed checkpoints (DESIGN §4)."""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

from clock import Clock
from ledger.edge import TILE_HEIGHT, TILE_WIDTH
from ledger.envelope import Envelope, format_recorded_at
from ledger.errors import LedgerError, ProofError
from ledger.ids import LeafIndex
from ledger.merkle import prove_consistency, prove_inclusion, tree_hash
from ledger.statusmap import StatusMapStore
from ledger.store import Checkpoint, LedgerStore
from ledger.tiles import tile_path, tile_paths
from signatures.note import CheckpointBody, NoteSigner, parse_checkpoint, sign_note
from signatures.statusmap import path_of
from signatures.statusproof import StatusProof

if TYPE_CHECKING:
    from sqlalchemy import Connection

GENESIS_PREV_HASH = bytes(32)
STATUS_MAP_LINE = "status-map "  # the checkpoint's first extension line: the status map root at its size (§4b)
MAX_REMEMBERED_LEAVES = 4096  # single leaves read by index (each online token check reads its minting leaf)


class Log:
    """Read access to one region's log, plus signing of checkpoints."""

    def __init__(self, store: LedgerStore, origin: str) -> None:
        self.store = store
        self.origin = origin
        self.status_map = StatusMapStore()
        self._leaf_lock = threading.Lock()
        self._leaves: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()

    def size(self) -> int:
        """Current number of leaves."""
        return self.store.size()

    def root(self, size: int | None = None) -> tuple[int, bytes]:
        """(size, root hash) of the tree at `size` (default: now)."""
        with self.store.read() as conn:
            n = self.store.size(conn) if size is None else size
            return n, tree_hash(self.store.reader(conn, n), n)

    def _proof_size(self, conn: Connection, size: int | None) -> tuple[int, int]:
        current = self.store.size(conn)
        n = current if size is None else size
        if not 0 <= n <= current:
            raise ProofError(f"tree size {n} is beyond the log size {current}")
        return n, current

    def inclusion_proof(self, index: LeafIndex, size: int | None = None) -> tuple[int, list[bytes]]:
        """(tree size, proof) for leaf `index` (RFC 9162 §2.1.3)."""
        with self.store.read() as conn:
            n, current = self._proof_size(conn, size)
            return n, prove_inclusion(self.store.reader(conn, n, current), index, n)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Proof that tree `first` is a prefix of tree `second` (RFC 9162 §2.1.4)."""
        with self.store.read() as conn:
            n, current = self._proof_size(conn, second)
            return prove_consistency(self.store.reader(conn, n, current), first, n)

    def leaves(self, first: LeafIndex, count: int) -> list[tuple[bytes, bytes]]:
        """(leaf data, stored leaf hash) of leaves [first, first+count), re-derived from their stored events."""
        with self.store.read() as conn:
            rows = self.store.event_rows(conn, first, count)
        if len(rows) != count:
            raise ProofError(f"no leaves [{first}, {first + count})")
        return [(Envelope.of(r[0], r[1], r[2], r[3], r[5], bytes(r[4])).leaf_data(), bytes(r[6])) for r in rows]

    def leaf(self, index: LeafIndex) -> tuple[bytes, bytes]:
        """(leaf data, stored leaf hash) of leaf `index`, as stored now."""
        if index < 0:
            raise ProofError(f"no leaf {index}")
        return self.leaves(index, 1)[0]

    def remembered_leaf(self, index: LeafIndex) -> tuple[bytes, bytes]:
        """`leaf(index)`, remembered: what the online token check reads for a token's minting leaf.

        A committed leaf never changes (the log is append-only), so leaves read outside a unit of work are kept per
        log, a bounded table with the least recently used dropped first; a leaf read inside a unit of work may still
        be rolled back and is not kept. A row edited in the database after it was read is the audit's to find (the
        signed checkpoints catch it); `leaf` always reads the row as stored now.
        """
        if index < 0:
            raise ProofError(f"no leaf {index}")
        with self._leaf_lock:
            found = self._leaves.get(index)
            if found is not None:
                self._leaves.move_to_end(index)
                return found
        unit = self.store.in_unit()
        found = self.leaves(index, 1)[0]
        if unit is None or unit.info.get("read_only_unit"):
            with self._leaf_lock:
                self._leaves[index] = found
                while len(self._leaves) > MAX_REMEMBERED_LEAVES:
                    self._leaves.popitem(last=False)
        return found

    def tile(self, level: int, index: int, width: int | None = None) -> bytes:
        """C2SP tlog-tiles hash tile `level/index` (full, or partial of `width` entries)."""
        with self.store.read() as conn:
            size = self.store.size(conn)
            if index < 0 or index * TILE_WIDTH >= size >> (TILE_HEIGHT * level):
                raise ProofError(f"tile {level}/{index} is beyond the tree of {size} leaves")
            entries = self.store.tile_entries(conn, level, index, size)
        want = TILE_WIDTH if width is None else width
        if not 1 <= want <= TILE_WIDTH or len(entries) < want:
            raise ProofError(f"tile {level}/{index} has no width {want}")
        return b"".join(entries[:want])

    def entry_bundle(self, index: int, width: int | None = None) -> bytes:
        """C2SP tlog-tiles entry bundle: each leaf's data prefixed with its 2-byte big-endian length."""
        first = LeafIndex(index * TILE_WIDTH)  # the first leaf of bundle `index`, checked against the size below
        want = TILE_WIDTH if width is None else width
        size = self.size()
        if not 1 <= want <= TILE_WIDTH or first + want > size:
            raise ProofError(f"entry bundle {index} has no width {want}")
        out = bytearray()
        for i, (data, _) in enumerate(self.leaves(first, want), start=first):
            if len(data) > 0xFFFF:
                raise LedgerError(f"leaf {i} too large for an entry bundle")
            out += len(data).to_bytes(2, "big") + data
        return bytes(out)

    # -- checkpoints ---------------------------------------------------------------------------------

    def latest_checkpoint(self, conn: Connection | None = None) -> Checkpoint | None:
        """The newest stored checkpoint, or None."""
        if conn is None:
            with self.store.read() as c:
                return self.latest_checkpoint(c)
        return self.store.latest_checkpoint(conn)

    def commits_to_status_map(self) -> bool:
        """Whether the newest checkpoint carries a status map root."""
        cp = self.latest_checkpoint()
        return cp is not None and _has_status_map(cp.note)

    def reading(self) -> AbstractContextManager[Connection]:
        """One read transaction (one snapshot on PostgreSQL) that every read of this log's store in this thread
        joins: the online check reads the licence's row and its proven status from the same state of the ledger."""
        return self.store.reading()

    def status_proof(self, identifier: str, size: int | None = None) -> StatusProof:
        """The status map proof of `identifier` (DESIGN §4b) against the newest checkpoint, or the newest one of
        exactly `size` leaves; `ProofError` when there is no such checkpoint carrying a status map."""
        with self.store.reading() as conn:
            cp = self.store.latest_checkpoint(conn) if size is None else self.store.checkpoint_of_size(conn, size)
            if cp is None or not _has_status_map(cp.note):
                where = "" if size is None else f" of size {size}"
                raise ProofError(f"no signed checkpoint{where} commits to a status map")
            proof = self.status_map.prove(conn, path_of(identifier), cp.tree_size)
        return StatusProof(cp.note, identifier, proof.value, proof.leaf, proof.siblings)

    def sign_checkpoint(self, signer: NoteSigner, now: datetime, *, force: bool = False) -> Checkpoint:
        """Sign and store a checkpoint if the tree grew since the last one (or none exists); return the newest."""
        with self.store.write() as conn:
            last = self.latest_checkpoint(conn)
            size = self.store.size(conn)
            if last is not None and last.tree_size == size and not force:
                return last
            root = tree_hash(self.store.reader(conn, size), size)
            extension = STATUS_MAP_LINE + base64.b64encode(self.status_map.root(conn, size)).decode()
            note = sign_note(CheckpointBody(self.origin, size, root, (extension,)).to_text(), signer)
            cp = Checkpoint(
                seq=0 if last is None else last.seq + 1,
                tree_size=size,
                root_hash=root,
                note=note,
                prev_hash=GENESIS_PREV_HASH if last is None else last.note_hash,
                signed_at=format_recorded_at(now),
            )
            self.store.insert_checkpoint(conn, cp)
            return cp


def _has_status_map(note: str) -> bool:
    text = note.split("\n\n", 1)[0] + "\n"
    return any(line.startswith(STATUS_MAP_LINE) for line in parse_checkpoint(text).extensions[:1])


class CheckpointSigner:
    """What signs the checkpoints of `serve`: each `tick()` signs one if the tree grew since the last (the composition
    root runs it every `checkpoint_interval` seconds, and once more on shutdown so nothing acknowledged is unsigned)."""

    def __init__(self, log: Log, signer: NoteSigner, clock: Clock) -> None:
        self._log = log
        self._signer = signer
        self._clock = clock

    def tick(self) -> Checkpoint:
        """Sign once if the tree grew; the newest checkpoint."""
        return self._log.sign_checkpoint(self._signer, self._clock())


__all__ = ["Checkpoint", "CheckpointSigner", "Log", "tile_path", "tile_paths"]
