"""Storage of the anchors package (SQLAlchemy Core, SQLite and PostgreSQL): witness state, timestamp anchors,
collected cosignatures, peers, the peer checkpoints seen, and fork alarms with their evidence.

Tables are created by the Alembic branch `anchors` (revision 0004_anchors); `create_tables` is for tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc

from anchors.errors import AnchorStoreError
from anchors.model import (
    Alarm,
    CollectedCosignature,
    PeerCheckpoint,
    PeerRecord,
    TimestampAnchor,
    WitnessedLog,
    format_time,
    note_digest,
)
from anchors.store_rows import (
    alarm_row,
    anchor_row,
    cosignature_row,
    cosignature_values,
    peer_checkpoint_row,
    peer_row,
    peer_values,
    witnessed_row,
)

metadata = MetaData()
_id = BigInteger().with_variant(Integer, "sqlite")

witness_logs_table = Table(
    "anchor_witness_logs",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("verifier_keys", Text, nullable=False),  # JSON list of Go-note verifier keys
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=True),
    Column("note", Text, nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", String(32), nullable=True),
)

timestamps_table = Table(
    "anchor_timestamps",
    metadata,
    Column("note_sha256", LargeBinary(32), primary_key=True),
    Column("origin", String(255), nullable=False),
    Column("tree_size", BigInteger, nullable=False, index=True),
    Column("note", Text, nullable=False),
    Column("token", LargeBinary, nullable=False),
    Column("gen_time", String(32), nullable=False),
    Column("anchored_at", String(32), nullable=False),
)

cosignatures_table = Table(
    "anchor_cosignatures",
    metadata,
    Column("note_sha256", LargeBinary(32), primary_key=True),
    Column("witness", String(255), primary_key=True),
    Column("key_id", LargeBinary(4), primary_key=True),
    Column("tree_size", BigInteger, nullable=False, index=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
)

peers_table = Table(
    "anchor_peers",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("base_url", String(1024), nullable=False),
    Column("root_key", LargeBinary(32), nullable=False),
    Column("witness_key", Text, nullable=True),
    Column("added_at", String(32), nullable=False),
    Column("trust_list", Text, nullable=True),
    Column("trust_list_version", BigInteger, nullable=True),
    Column("next_update", String(32), nullable=True),
    Column("last_sync_at", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
)

peer_checkpoints_table = Table(
    "anchor_peer_checkpoints",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("seen_at", String(32), nullable=False),
)

alarms_table = Table(
    "anchor_alarms",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("fingerprint", LargeBinary(32), nullable=False, unique=True),
    Column("origin", String(255), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("first_size", BigInteger, nullable=False),
    Column("first_note", Text, nullable=False),
    Column("second_size", BigInteger, nullable=False),
    Column("second_note", Text, nullable=False),
    Column("proof", Text, nullable=False),  # JSON list of base64 hashes
    Column("detected_at", String(32), nullable=False),
)


class AnchorStore:
    """The anchors tables of one region database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def create_tables(self) -> None:
        """Create the tables directly (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.info["begin_mode"] = "IMMEDIATE"  # honoured by ledger.store.make_engine's begin hook
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- witness state ------------------------------------------------------------------------------

    def add_witnessed_log(self, origin: str, verifier_keys: Sequence[str]) -> WitnessedLog:
        """Witness `origin` under these checkpoint keys (added to any already trusted); returns the state."""
        t = witness_logs_table
        with self._write() as conn:
            row = conn.execute(select(t.c.verifier_keys).where(t.c.origin == origin)).first()
            if row is None:
                values = {"origin": origin, "verifier_keys": json.dumps(sorted(set(verifier_keys)))}
                conn.execute(insert(t).values(**values, tree_size=0, version=0))
            else:
                keys = sorted(set(json.loads(row[0])) | set(verifier_keys))
                conn.execute(update(t).where(t.c.origin == origin).values(verifier_keys=json.dumps(keys)))
        found = self.witnessed_log(origin)
        assert found is not None
        return found

    def witnessed_log(self, origin: str) -> WitnessedLog | None:
        """The witness state for `origin`, or None if this region does not witness it."""
        with self._read() as conn:
            row = conn.execute(select(witness_logs_table).where(witness_logs_table.c.origin == origin)).first()
        return None if row is None else witnessed_row(row)

    def witnessed_logs(self) -> list[WitnessedLog]:
        """Every log this region witnesses, by origin."""
        with self._read() as conn:
            rows = conn.execute(select(witness_logs_table).order_by(witness_logs_table.c.origin)).all()
        return [witnessed_row(r) for r in rows]

    def advance_witnessed_log(
        self, origin: str, decide: Callable[[WitnessedLog | None], tuple[int, bytes, str]], now: datetime
    ) -> WitnessedLog:
        """Read the state of `origin`, let `decide` check the request against it, store what it returns: atomically.

        One writer transaction (SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT … FOR UPDATE`) holds the state from the
        check to the write, and the update is still conditional on the version read (compare-and-swap), so no two
        requests can both advance from the same state. `decide` raises to refuse; nothing is written then.
        """
        t = witness_logs_table
        with self._write() as conn:
            query = select(t).where(t.c.origin == origin)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            state = None if row is None else witnessed_row(row)
            size, root_hash, note = decide(state)
            if state is None:
                raise AnchorStoreError(f"no witness state for {origin}")
            new = WitnessedLog(origin, state.verifier_keys, size, root_hash, note, state.version + 1, now)
            result = conn.execute(
                update(t)
                .where(t.c.origin == origin, t.c.version == state.version)
                .values(
                    tree_size=size, root_hash=root_hash, note=note, version=new.version, updated_at=format_time(now)
                )
            )
            if result.rowcount != 1:
                raise AnchorStoreError(f"witness state of {origin} changed under its lock")
            return new

    # -- timestamp anchors and collected cosignatures of our own checkpoints -------------------------

    def save_timestamp(self, anchor: TimestampAnchor) -> bool:
        """Store a timestamp anchor; False if this note already has one (the first token is kept)."""
        values = {
            "note_sha256": anchor.note_sha256,
            "origin": anchor.origin,
            "tree_size": anchor.tree_size,
            "note": anchor.note,
            "token": anchor.token,
            "gen_time": format_time(anchor.gen_time),
            "anchored_at": format_time(anchor.anchored_at),
        }
        try:
            with self._write() as conn:
                conn.execute(insert(timestamps_table).values(**values))
        except sa_exc.IntegrityError:
            return False
        return True

    def timestamp_for(self, note: str) -> TimestampAnchor | None:
        """The timestamp anchor of this exact note, or None."""
        t = timestamps_table
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.note_sha256 == note_digest(note))).first()
        return None if row is None else anchor_row(row)

    def timestamps_at(self, size: int) -> list[TimestampAnchor]:
        """Every timestamp anchor of a checkpoint of this tree size (normally one)."""
        t = timestamps_table
        with self._read() as conn:
            rows = conn.execute(select(t).where(t.c.tree_size == size).order_by(t.c.anchored_at)).all()
        return [anchor_row(r) for r in rows]

    def latest_timestamp(self) -> TimestampAnchor | None:
        """The anchor of the largest checkpoint anchored so far."""
        t = timestamps_table
        with self._read() as conn:
            row = conn.execute(select(t).order_by(t.c.tree_size.desc(), t.c.anchored_at.desc()).limit(1)).first()
        return None if row is None else anchor_row(row)

    def save_cosignatures(self, cosignatures: Sequence[CollectedCosignature]) -> int:
        """Store verified cosignatures of our checkpoints; already stored ones are skipped. Returns how many are new."""
        t = cosignatures_table
        added = 0
        with self._write() as conn:
            for c in cosignatures:
                key = (t.c.note_sha256 == c.note_sha256, t.c.witness == c.witness, t.c.key_id == c.key_id)
                if conn.execute(select(t.c.tree_size).where(*key)).first() is not None:
                    continue
                conn.execute(insert(t).values(cosignature_values(c)))
                added += 1
        return added

    def cosignatures_for(self, note: str) -> list[CollectedCosignature]:
        """The cosignatures collected for this exact note."""
        t = cosignatures_table
        with self._read() as conn:
            rows = conn.execute(select(t).where(t.c.note_sha256 == note_digest(note)).order_by(t.c.witness)).all()
        return [cosignature_row(r) for r in rows]

    def cosignatures_at(self, size: int) -> list[CollectedCosignature]:
        """The cosignatures collected for checkpoints of this tree size."""
        t = cosignatures_table
        with self._read() as conn:
            rows = conn.execute(select(t).where(t.c.tree_size == size).order_by(t.c.witness)).all()
        return [cosignature_row(r) for r in rows]

    def witness_progress(self, witness: str) -> int:
        """The largest of our tree sizes this witness has cosigned (0 if none): the `old` of our next request."""
        t = cosignatures_table
        with self._read() as conn:
            value = conn.execute(select(func.max(t.c.tree_size)).where(t.c.witness == witness)).scalar()
        return 0 if value is None else int(value)

    # -- peers ---------------------------------------------------------------------------------------

    def add_peer(self, peer: PeerRecord) -> None:
        """Register a peer; AnchorStoreError if its origin is already registered."""
        try:
            with self._write() as conn:
                conn.execute(insert(peers_table).values(peer_values(peer)))
        except sa_exc.IntegrityError as exc:
            raise AnchorStoreError(f"peer {peer.origin} is already registered") from exc

    def peers(self) -> list[PeerRecord]:
        """Every registered peer, by origin."""
        with self._read() as conn:
            rows = conn.execute(select(peers_table).order_by(peers_table.c.origin)).all()
        return [peer_row(r) for r in rows]

    def peer(self, origin: str) -> PeerRecord | None:
        """The peer with this origin, or None."""
        with self._read() as conn:
            row = conn.execute(select(peers_table).where(peers_table.c.origin == origin)).first()
        return None if row is None else peer_row(row)

    def update_peer(self, peer: PeerRecord) -> None:
        """Store a peer's sync state (trust list, times, last error)."""
        t = peers_table
        with self._write() as conn:
            conn.execute(update(t).where(t.c.origin == peer.origin).values(peer_values(peer)))

    # -- peer checkpoints ------------------------------------------------------------------------------

    def peer_checkpoint(self, origin: str, size: int) -> PeerCheckpoint | None:
        """The checkpoint of this size seen for `origin`, or None."""
        t = peer_checkpoints_table
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.origin == origin, t.c.tree_size == size)).first()
        return None if row is None else peer_checkpoint_row(row)

    def peer_neighbours(self, origin: str, size: int) -> tuple[PeerCheckpoint | None, PeerCheckpoint | None]:
        """The largest seen checkpoint smaller than `size` and the smallest larger one."""
        t = peer_checkpoints_table
        with self._read() as conn:
            below = conn.execute(
                select(t).where(t.c.origin == origin, t.c.tree_size < size).order_by(t.c.tree_size.desc()).limit(1)
            ).first()
            above = conn.execute(
                select(t).where(t.c.origin == origin, t.c.tree_size > size).order_by(t.c.tree_size).limit(1)
            ).first()
        return (None if below is None else peer_checkpoint_row(below)), (
            None if above is None else peer_checkpoint_row(above)
        )

    def latest_peer_checkpoint(self, origin: str) -> PeerCheckpoint | None:
        """The largest checkpoint seen for `origin`."""
        t = peer_checkpoints_table
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.origin == origin).order_by(t.c.tree_size.desc()).limit(1)).first()
        return None if row is None else peer_checkpoint_row(row)

    def peer_checkpoints(self, origin: str, limit: int = 100) -> list[PeerCheckpoint]:
        """The newest `limit` checkpoints seen for `origin`, largest first."""
        t = peer_checkpoints_table
        with self._read() as conn:
            rows = conn.execute(select(t).where(t.c.origin == origin).order_by(t.c.tree_size.desc()).limit(limit)).all()
        return [peer_checkpoint_row(r) for r in rows]

    def save_peer_checkpoint(self, cp: PeerCheckpoint) -> PeerCheckpoint:
        """Keep a verified peer checkpoint; if one of that size is already stored, return the stored one."""
        values = {
            "origin": cp.origin,
            "tree_size": cp.size,
            "root_hash": cp.root_hash,
            "note": cp.note,
            "seen_at": format_time(cp.seen_at),
        }
        try:
            with self._write() as conn:
                conn.execute(insert(peer_checkpoints_table).values(**values))
        except sa_exc.IntegrityError:
            stored = self.peer_checkpoint(cp.origin, cp.size)
            if stored is None:
                raise
            return stored
        return cp

    # -- alarms --------------------------------------------------------------------------------------

    def raise_alarm(
        self,
        *,
        origin: str,
        kind: str,
        detail: str,
        first: tuple[int, str],
        second: tuple[int, str],
        proof: Sequence[str],
        now: datetime,
    ) -> tuple[int, bool]:
        """Store fork evidence once (deduplicated by kind and both notes); returns (alarm id, newly raised)."""
        fingerprint = hashlib.sha256(json.dumps([origin, kind, sorted([first[1], second[1]])]).encode()).digest()
        t = alarms_table
        values = {
            "fingerprint": fingerprint,
            "origin": origin,
            "kind": kind,
            "detail": detail,
            "first_size": first[0],
            "first_note": first[1],
            "second_size": second[0],
            "second_note": second[1],
            "proof": json.dumps(list(proof)),
            "detected_at": format_time(now),
        }
        try:
            with self._write() as conn:
                new_id = conn.execute(insert(t).values(**values).returning(t.c.id)).scalar_one()
            return int(new_id), True
        except sa_exc.IntegrityError:
            with self._read() as conn:
                existing = conn.execute(select(t.c.id).where(t.c.fingerprint == fingerprint)).scalar_one()
            return int(existing), False

    def alarms(self, origin: str | None = None, limit: int = 100) -> list[Alarm]:
        """The newest alarms (optionally of one origin), newest first."""
        t = alarms_table
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if origin is not None:
            query = query.where(t.c.origin == origin)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [alarm_row(r) for r in rows]

    def alarm_count(self) -> int:
        """How many distinct alarms are stored."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(alarms_table)).scalar_one())
