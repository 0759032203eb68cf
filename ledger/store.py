"""The ledger's storage: events with their leaves, stored tree tiles, and signed checkpoints (SQLAlchemy Core).

One code path for SQLite (embedded default, WAL) and PostgreSQL. Writers are serialised per log: SQLite's
`BEGIN IMMEDIATE`, PostgreSQL's transaction-scoped advisory lock. Inside that lock the next leaf index is
`max(leaf_index) + 1`, so indexes are dense whatever rolls back (no sequence, no gaps).

A write is a unit of work: one connection, one transaction. Inside it, every read and nested write of the same store
in the same thread joins that transaction, and asking the pool for a second connection is refused at once (it could
only wait for connections held by requests that are themselves waiting for this writer: a deadlock). Before a writer
takes a connection it waits for its turn in a bounded queue for a bounded time; the database lock wait is
bounded too (SQLite busy timeout, PostgreSQL `lock_timeout`). Whatever cannot be had in time raises `BusyError`,
which servers answer with 503 and Retry-After.

Concurrent units of work are group-committed (`ledger.group_commit`, ADR 0014): they run one after another, each in
a savepoint of one shared writer transaction, which commits once for all of them; each returns after that commit.

Tree layout (ADR 0002): a tile at level L holds up to 256 hashes of height-8L nodes, as in C2SP tlog-tiles.
Level-0 entries are the leaf hashes, kept in each event row; a tile that becomes full is written once, immutable,
with its root (the height-8(L+1) node, an entry of the level-L+1 tile). Partial tiles are never written: their
entries are the last leaf hashes or the roots of the last full tiles below, read with one range query each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    NestedTransaction,
    event,
    func,
    select,
)
from sqlalchemy import exc as sa_exc

from clock import Clock, system_clock
from ledger.edge import TILE_HEIGHT, TILE_WIDTH, TileRow, _Edge, tile_levels
from ledger.errors import LedgerError, StorageError
from ledger.group_commit import Batch, GroupCommit
from ledger.merkle import Node
from ledger.store_engine import WriteLimits as WriteLimits
from ledger.store_engine import as_busy as as_busy
from ledger.store_engine import make_engine as make_engine
from ledger.store_tables import checkpoints_table as checkpoints_table
from ledger.store_tables import events_table as events_table
from ledger.store_tables import metadata as metadata
from ledger.store_tables import tiles_table as tiles_table

# One log per schema: the lock is (b"trus", hash of the current schema), so regions (and test runs) sharing one
# PostgreSQL database in separate schemas do not queue behind each other's writers.
_ADVISORY_LOCK_CLASS = 0x7472_7573  # "trus"
_ADVISORY_LOCK_SQL = f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_CLASS}, hashtext(current_schema()))"
_PG_MAX_SUBTRANSACTIONS = 60  # below PGPROC_MAX_CACHED_SUBXIDS (64), with room for the checkpointer's writes
_TILE_CACHE_SIZE = 4096  # full tiles are immutable: cache them forever (8 KiB each, 16 KiB with inner nodes)


@dataclass(frozen=True)
class Checkpoint:
    """A stored signed checkpoint: one "block" of the chain, linked by the hash of the note before it."""

    seq: int
    tree_size: int
    root_hash: bytes
    note: str
    prev_hash: bytes
    signed_at: str

    @property
    def note_hash(self) -> bytes:
        """SHA-256 of the note bytes; the next checkpoint's `prev_hash`."""
        return hashlib.sha256(self.note.encode()).digest()


EventRow = tuple[int, str, int, str, bytes, str, bytes]  # leaf_index, stream, version, topic, state, recorded_at, hash


class LedgerStore:
    """Storage of one region's log: events, tiles, checkpoints, and the writer lock."""

    def __init__(self, engine: Engine, limits: WriteLimits | None = None, *, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageError(f"unsupported database {self.dialect!r}")
        self.limits = limits or WriteLimits()
        batching = self.limits
        if self.dialect == "postgresql" and batching.batch_commands > _PG_MAX_SUBTRANSACTIONS:
            # Each command's SAVEPOINT that writes is a subtransaction; past 64 in one transaction PostgreSQL's
            # snapshots "overflow" and every other session's visibility checks start reading pg_subtrans.
            batching = dataclasses.replace(batching, batch_commands=_PG_MAX_SUBTRANSACTIONS)
        self._group = GroupCommit(batching, clock, self._writer_connection, self._before_commit, self._after_failure)
        # Signs one checkpoint over a batch that asked for one (`want_checkpoint`); set by the composition root.
        self.checkpointer: Callable[[Connection], None] | None = None
        self._unit = threading.local()  # .conn: this thread's open unit of work on this store, if any
        event.listen(engine, "checkout", self._refuse_second_connection)
        self._edge: _Edge | None = None
        self._edge_lock = threading.Lock()
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._tiles_lock = threading.Lock()
        self._levels: OrderedDict[tuple[int, int], list[list[bytes]]] = OrderedDict()
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        placeholders = ", ".join([mark] * 7)
        columns = "leaf_index, stream, version, topic, state, recorded_at, leaf_hash"
        self._insert_sql = f"INSERT INTO ledger_events ({columns}) VALUES ({placeholders})"  # noqa: S608 - no data

    @classmethod
    def from_url(cls, url: str, limits: WriteLimits | None = None) -> LedgerStore:
        """Open the store at a SQLAlchemy URL."""
        return cls(make_engine(url, limits=limits), limits)

    def create_tables(self) -> None:
        """Create the tables directly (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the connection pool."""
        event.remove(self.engine, "checkout", self._refuse_second_connection)
        self.engine.dispose()

    def in_unit(self) -> Connection | None:
        """The connection of this thread's open unit (of work, or of reading) on this store, or None."""
        conn: Connection | None = getattr(self._unit, "conn", None)
        return conn

    def _refuse_second_connection(self, *_: Any) -> None:
        if self.in_unit() is not None:
            raise StorageError(
                "a second database connection was asked for inside a unit; run the read on the unit's connection"
            )

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A unit of reading: one read transaction (one consistent snapshot on PostgreSQL) that every read of this
        store in this thread joins, so an answer assembled from several queries sees one state of the ledger.

        A write inside it is refused (it holds no writer lock); inside a unit of work it simply joins that.
        """
        current = self.in_unit()
        if current is not None:
            yield current
            return
        with self._connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.info["read_only_unit"] = True
                self._unit.conn = conn
                try:
                    yield conn
                finally:
                    self._unit.conn = None
                    conn.info.pop("read_only_unit", None)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A unit of work: it runs in a savepoint of the log's writer transaction and returns once that commits.

        Concurrent units share one transaction and one commit (group commit); a unit that raises is rolled back to
        its savepoint and fails alone. Called again inside an open unit (same thread), it joins that unit instead of
        waiting for a turn it already holds. Raises `BusyError` when the writer cannot be had within the bounds.
        """
        current = self.in_unit()
        if current is not None:
            if current.info.get("read_only_unit"):
                raise StorageError("a write inside a unit of reading: open the unit of work first")
            yield current
            return
        with self._group.turn() as batch:
            conn = batch.conn
            self._unit.conn = conn
            self._unit.batch = batch
            edge = conn.info.get("pending_edge")
            try:
                savepoint = conn.begin_nested()
            except BaseException as exc:
                batch.broken = exc
                self._unit.conn = self._unit.batch = None
                raise
            try:
                yield conn
            except BaseException:
                self._roll_back_command(batch, savepoint, edge)
                raise
            else:
                try:
                    savepoint.commit()
                except BaseException as exc:
                    batch.broken = exc
                    raise
            finally:
                self._unit.conn = self._unit.batch = None

    def _roll_back_command(self, batch: Batch, savepoint: NestedTransaction, edge: _Edge | None) -> None:
        """Undo one failed command of a batch: its savepoint, its tree edge, any tiles it may have cached."""
        conn = batch.conn
        try:
            savepoint.rollback()
            if edge is None:
                conn.info.pop("pending_edge", None)
            else:
                conn.info["pending_edge"] = edge
            self._forget_tiles_from(self.size(conn))
        except BaseException as exc:  # the transaction itself is unusable: the whole batch rolls back
            batch.broken = exc

    @property
    def waiting_writers(self) -> int:
        """Units of work of this process queued for the writer right now."""
        return self._group.waiting

    def want_checkpoint(self) -> None:
        """Ask for a checkpoint covering this unit's writes, signed once for its whole batch before the commit."""
        batch: Batch | None = getattr(self._unit, "batch", None)
        if batch is None:
            raise StorageError("a checkpoint can only be asked for inside a unit of work")
        batch.checkpoint = True

    def _before_commit(self, batch: Batch) -> None:
        if not batch.checkpoint or self.checkpointer is None:
            return
        self._unit.conn = batch.conn  # the checkpointer's reads and writes join the batch
        try:
            self.checkpointer(batch.conn)
        finally:
            self._unit.conn = None

    def _after_failure(self) -> None:
        self.forget_edge()
        self._forget_tiles_from(0)

    def _forget_tiles_from(self, size: int) -> None:
        """Drop cached full tiles that reach beyond `size` leaves (written by a rolled-back command)."""
        with self._tiles_lock:
            for cache in (self._tiles, self._levels):
                stale = [k for k in cache if (k[1] + 1) << (TILE_HEIGHT * (k[0] + 1)) > size]
                for key in stale:
                    del cache[key]

    def _connect(self) -> Connection:
        """A pooled connection, or `BusyError` when none is free within the pool timeout."""
        try:
            return self.engine.connect()
        except sa_exc.SQLAlchemyError as exc:
            busy = as_busy(exc, self.limits.retry_after)
            if busy is None:
                raise
            raise busy from exc

    @contextmanager
    def _writer_connection(self) -> Iterator[Connection]:
        retry = self.limits.retry_after
        with self._connect() as conn:
            if self.dialect == "sqlite":
                conn.info["begin_mode"] = "IMMEDIATE"
            try:
                transaction = conn.begin()
                if self.dialect == "postgresql":
                    ms = int(self.limits.lock_timeout * 1000)
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                    conn.exec_driver_sql(_ADVISORY_LOCK_SQL)
                    conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
            except sa_exc.SQLAlchemyError as exc:
                busy = as_busy(exc, retry)
                if busy is None:
                    raise
                raise busy from exc
            try:
                with transaction:
                    yield conn
            finally:
                # `conn.info` outlives the transaction (it belongs to the pooled DB-API connection): a rolled-back
                # edge left there would later be taken for the stored one.
                pending: _Edge | None = conn.info.pop("pending_edge", None)
            # Committed: the edge the transaction built is now the stored one.
            if pending is not None:
                with self._edge_lock:
                    if self._edge is None or self._edge.size <= pending.size:
                        self._edge = pending

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction; `snapshot` gives one consistent view for long reads such as the audit.

        Inside a unit of work (same thread) the read joins the unit's transaction: it sees the unit's own writes.
        """
        current = self.in_unit()
        if current is not None:
            yield current
            return
        with self._connect() as conn:
            if snapshot and self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def size(self, conn: Connection | None = None) -> int:
        """The number of leaves (= events) in the log."""
        if conn is None:
            with self.read() as c:
                return self.size(c)
        last = conn.execute(select(func.max(events_table.c.leaf_index))).scalar()
        return 0 if last is None else int(last) + 1

    # -- appending (inside `write()`) --------------------------------------------------------------

    def raw_cursor(self, conn: Connection) -> Any:
        """The DB-API cursor of `conn`, for the hot append path (SQLAlchemy's per-statement overhead is ~50 µs)."""
        return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def insert_event_rows(self, conn: Connection, rows: Sequence[EventRow]) -> None:
        """Insert event rows inside `write()` through the driver directly (one executemany)."""
        # Close the cursor on failure too: an IntegrityError (a concurrent writer won) would otherwise keep it alive in
        # the traceback's reference cycle until the GC finalises it from another thread, and pysqlite's finaliser
        # then blocks on this connection's mutex while that thread waits for our write lock (a 30 s stall).
        cur = self.raw_cursor(conn)
        try:
            cur.executemany(self._insert_sql, rows)
        finally:
            cur.close()

    def begin_append(self, conn: Connection) -> _Edge:
        """A private copy of the right edge at the current size (reloaded if another writer moved on)."""
        cur = self.raw_cursor(conn)
        cur.execute("SELECT max(leaf_index) FROM ledger_events")
        last = cur.fetchone()[0]
        cur.close()
        size = 0 if last is None else int(last) + 1
        pending: _Edge | None = conn.info.get("pending_edge")  # an earlier command of this batch appended
        if pending is not None and pending.size == size:
            return pending.copy()
        with self._edge_lock:
            cached = self._edge
        if cached is not None and cached.size == size:
            return cached.copy()
        return self._load_edge(conn, size)

    def finish_append(self, conn: Connection, edge: _Edge, completed: Sequence[TileRow]) -> None:
        """Store the tiles that became full; remember the edge once the transaction commits."""
        if completed:
            conn.execute(
                tiles_table.insert(),
                [{"level": t.level, "idx": t.idx, "hashes": t.hashes, "root": t.root} for t in completed],
            )

        conn.info["pending_edge"] = edge  # `write()` caches it once the transaction has committed

    def edge_entries(self, level: int, first: int, count: int) -> list[bytes] | None:
        """Entries [first, first+count) of a partial tile from the committed right edge, if it holds them.

        Committed hashes never change, so the edge (cached after each commit) answers for any tree size up to its own
        whose partial tile at `level` is the edge's: a proof against the newest checkpoint then reads no leaf rows.
        """
        with self._edge_lock:
            edge = self._edge
            if edge is None or level >= len(edge.levels):
                return None
            entries = edge.levels[level]
            if (edge.size >> (TILE_HEIGHT * level)) - len(entries) != first or len(entries) < count:
                return None
            return entries[:count]

    def forget_edge(self) -> None:
        """Drop the cached edge (after a failed transaction, or in tests)."""
        with self._edge_lock:
            self._edge = None

    def _load_edge(self, conn: Connection, size: int) -> _Edge:
        edge = _Edge(size, [])
        level = 0
        while size >> (TILE_HEIGHT * level):
            count = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
            first = (size >> (TILE_HEIGHT * level)) - count
            edge.levels.append(self._entries(conn, level, first, count))
            level += 1
        return edge

    # -- reading hashes ----------------------------------------------------------------------------

    def _entries(self, conn: Connection, level: int, first: int, count: int) -> list[bytes]:
        """Entries [first, first+count) of level `level` (height 8*level nodes), from rows not full tiles."""
        if count == 0:
            return []
        if level == 0:
            rows = conn.execute(
                select(events_table.c.leaf_hash)
                .where(events_table.c.leaf_index >= first, events_table.c.leaf_index < first + count)
                .order_by(events_table.c.leaf_index)
            ).all()
        else:
            rows = conn.execute(
                select(tiles_table.c.root)
                .where(tiles_table.c.level == level - 1, tiles_table.c.idx >= first, tiles_table.c.idx < first + count)
                .order_by(tiles_table.c.idx)
            ).all()
        if len(rows) != count:
            raise StorageError(f"tree storage is missing entries at level {level} from {first}")
        return [bytes(r[0]) for r in rows]

    def full_tile_levels(self, conn: Connection, level: int, idx: int) -> list[list[bytes]]:
        """Every inner node of a full, immutable tile (cached with it: a proof then hashes nothing inside)."""
        key = (level, idx)
        with self._tiles_lock:
            levels = self._levels.get(key)
            if levels is not None:
                self._levels.move_to_end(key)
                return levels
        data = self.full_tile(conn, level, idx)
        levels = tile_levels([data[i * 32 : (i + 1) * 32] for i in range(TILE_WIDTH)])
        with self._tiles_lock:
            self._levels[key] = levels
            if len(self._levels) > _TILE_CACHE_SIZE:
                self._levels.popitem(last=False)
        return levels

    def full_tile(self, conn: Connection, level: int, idx: int) -> bytes:
        """The 256 entries of a full, immutable tile (cached)."""
        key = (level, idx)
        with self._tiles_lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
                return data
        row = conn.execute(
            select(tiles_table.c.hashes).where(tiles_table.c.level == level, tiles_table.c.idx == idx)
        ).first()
        if row is None or len(row[0]) != TILE_WIDTH * 32:
            raise StorageError(f"full tile {level}/{idx} is missing")
        data = bytes(row[0])
        with self._tiles_lock:
            self._tiles[key] = data
            if len(self._tiles) > _TILE_CACHE_SIZE:
                self._tiles.popitem(last=False)
        return data

    def tile_entries(self, conn: Connection, level: int, idx: int, size: int) -> list[bytes]:
        """Entries of tile `level/idx` of the tree of `size` leaves (full or partial)."""
        available = size >> (TILE_HEIGHT * level)
        first = idx * TILE_WIDTH
        if first >= available:
            raise StorageError(f"tile {level}/{idx} is beyond the tree")
        stored_full = (self.size(conn) >> (TILE_HEIGHT * level)) >= first + TILE_WIDTH
        if stored_full:
            data = self.full_tile(conn, level, idx)
            count = min(TILE_WIDTH, available - first)
            return [data[i * 32 : (i + 1) * 32] for i in range(count)]
        return self._entries(conn, level, first, min(TILE_WIDTH, available - first))

    # -- rows for the log and the audit ----------------------------------------------------------------

    def _select_events(self, conn: Connection, *conditions: Any, limit: int | None = None) -> list[EventRow]:
        t = events_table.c
        q = select(t.leaf_index, t.stream, t.version, t.topic, t.state, t.recorded_at, t.leaf_hash)
        rows = conn.execute(q.where(*conditions).order_by(t.leaf_index).limit(limit)).all()
        return [(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], bytes(r[6])) for r in rows]

    def event_rows(self, conn: Connection, first: int, count: int) -> list[EventRow]:
        """Event rows with leaf_index in [first, first+count), in order (a keyset page)."""
        t = events_table.c
        return self._select_events(conn, t.leaf_index >= first, t.leaf_index < first + count)

    def event_pages(self, conn: Connection, page: int = 5000) -> Iterator[list[EventRow]]:
        """All event rows in leaf order, a page at a time (memory stays flat)."""
        after = -1
        while rows := self._select_events(conn, events_table.c.leaf_index > after, limit=page):
            yield rows
            after = rows[-1][0]

    def stored_tile(self, conn: Connection, level: int, idx: int) -> tuple[bytes, bytes] | None:
        """(hashes, root) of a stored full tile, uncached (the audit reads what is really there)."""
        row = conn.execute(
            select(tiles_table.c.hashes, tiles_table.c.root).where(
                tiles_table.c.level == level, tiles_table.c.idx == idx
            )
        ).first()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def count_tiles(self, conn: Connection) -> int:
        """Number of stored full tiles."""
        return int(conn.execute(select(func.count()).select_from(tiles_table)).scalar_one())

    def latest_checkpoint(self, conn: Connection) -> Checkpoint | None:
        """The newest stored checkpoint, or None."""
        row = conn.execute(select(checkpoints_table).order_by(checkpoints_table.c.seq.desc()).limit(1)).first()
        return None if row is None else Checkpoint(**row._mapping)

    def checkpoint_of_size(self, conn: Connection, size: int) -> Checkpoint | None:
        """The newest stored checkpoint of exactly `size` leaves, or None."""
        c = checkpoints_table.c
        row = conn.execute(select(checkpoints_table).where(c.tree_size == size).order_by(c.seq.desc()).limit(1)).first()
        return None if row is None else Checkpoint(**row._mapping)

    def checkpoint_pages(self, conn: Connection, page: int = 5000) -> Iterator[Checkpoint]:
        """All stored checkpoints in chain order."""
        after = -1
        while True:
            rows = conn.execute(
                select(checkpoints_table)
                .where(checkpoints_table.c.seq > after)
                .order_by(checkpoints_table.c.seq)
                .limit(page)
            ).all()
            if not rows:
                return
            for row in rows:
                yield Checkpoint(**row._mapping)
            after = int(rows[-1][0])

    def insert_checkpoint(self, conn: Connection, cp: Checkpoint) -> None:
        """Store a new checkpoint (inside `write()`)."""
        conn.execute(checkpoints_table.insert(), [dataclasses.asdict(cp)])

    def reader(self, conn: Connection, size: int, stored_size: int | None = None) -> TileHashReader:
        """A `HashReader` over the tree of `size` leaves, valid for the life of `conn`."""
        return TileHashReader(self, conn, size, stored_size)


class TileHashReader:
    """Reads complete-node hashes by fetching each needed tile once; full tiles' inner nodes come from the cache."""

    def __init__(self, store: LedgerStore, conn: Connection, size: int, stored_size: int | None = None) -> None:
        self._store = store
        self._conn = conn
        self._size = size
        self._stored_size = store.size(conn) if stored_size is None else stored_size
        if size > self._stored_size:
            raise LedgerError(f"tree size {size} is beyond the log size {self._stored_size}")
        self._tiles: dict[tuple[int, int], list[list[bytes]]] = {}

    def _tile(self, level: int, idx: int) -> list[list[bytes]]:
        key = (level, idx)
        levels = self._tiles.get(key)
        if levels is None:
            levels = self._load(level, idx)
            self._tiles[key] = levels
        return levels

    def _load(self, level: int, idx: int) -> list[list[bytes]]:
        first = idx * TILE_WIDTH
        if (self._stored_size >> (TILE_HEIGHT * level)) >= first + TILE_WIDTH:
            return self._store.full_tile_levels(self._conn, level, idx)
        count = min(TILE_WIDTH, (self._size >> (TILE_HEIGHT * level)) - first)
        entries = self._store.edge_entries(level, first, count)
        if entries is None:
            entries = self._store._entries(self._conn, level, first, count)
        return tile_levels(entries)

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        """Hashes of complete nodes, each read from the one tile that holds its subtree."""
        out = []
        for height, index in nodes:
            if (index + 1) << height > self._size:
                raise LedgerError(f"node {height}/{index} is not complete in a tree of {self._size}")
            level, rel = divmod(height, TILE_HEIGHT)
            first = index << rel
            levels = self._tile(level, first >> TILE_HEIGHT)
            out.append(levels[rel][(first % TILE_WIDTH) >> rel])
        return out
