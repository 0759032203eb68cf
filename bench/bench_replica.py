"""Benchmark of read replicas (ADR 0015): tile and proof reads served by the streaming replica vs by the primary.

Setup: `scripts/pg-replica.sh` (the Debian cluster `15 replica` on port 5433, a `pg_basebackup -R` copy of the
primary at 5432); a fresh schema on the primary holding a log of `--leaves` leaves (default 100k, quick 20k)
recorded through `LedgerRecorder` in batches of 10,000, with a signed checkpoint; then wait until the replica has
replayed it. Rows (seconds per read, repetitions interleaved, medians; ratio = ours ÷ baseline, < 1 is faster):
  * inclusion proof at a stated size (random leaf, `tree_size` = n): `ReplicaReads.at_size` served by the replica
    (ours) vs `Log.inclusion_proof` on the primary (baseline);
  * consistency proof at stated sizes (random first, second = n), the same two ways;
  * hash tile (random full level-0 tile) and entry bundle (random full bundle of 256 leaves), the same two ways;
  * a status map proof about now is not timed here: it needs a region (licences, keys); its routing adds one
    query on the primary (the newest checkpoint) and one on the replica.
Both engines run on the same 2-core machine, so this measures what routing costs, not the capacity a replica on its
own machine adds (that is the primary's read load it takes away: every replica-served read in the counts).
Run: `python -m bench replica [--quick] [--leaves N]`.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine, text

from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.replica import Served
from ledger.store import LedgerStore, make_engine
from ledger.store_replica import ReplicaReads
from signatures.note import NoteSigner

REPO = Path(__file__).resolve().parents[1]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPLICA_PORT = 5433
ORIGIN = "ledger.ha.gov.example/log"
TOPIC = "licences.domain:Licence.Issued"
NOW = datetime(2026, 12, 5, tzinfo=UTC)
BATCH = 10_000

Row = dict[str, object]


def _replica() -> None:
    done = subprocess.run([str(REPO / "scripts" / "pg-replica.sh")], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/pg-replica.sh failed: {done.stderr}")


def _build(store: LedgerStore, leaves: int) -> None:
    recorder = LedgerRecorder(store, clock=lambda: NOW)
    payload = b'{"holder":"' + b"x" * 200 + b'"}'
    done = 0
    while done < leaves:
        n = min(BATCH, leaves - done)
        recorder.insert_events([StoredEvent(uuid.uuid4(), 1, TOPIC, payload) for _ in range(n)])
        done += n
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench log key").digest())
    Log(store, ORIGIN).sign_checkpoint(NoteSigner(ORIGIN, key), NOW)


def _wait_replayed(replica_admin_url: str) -> None:
    primary = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    replica = create_engine(replica_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with primary.connect() as conn:
            target = conn.execute(text("SELECT pg_current_wal_flush_lsn()::text")).scalar_one()
        query = text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), CAST(:lsn AS pg_lsn)) >= 0")
        with replica.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            for _ in range(6000):
                if conn.execute(query, {"lsn": target}).scalar_one():
                    return
                time.sleep(0.01)
        raise RuntimeError("the replica did not catch up within 60 s")
    finally:
        primary.dispose()
        replica.dispose()


def _interleaved(ours: Callable[[int], object], base: Callable[[int], object], reps: int) -> tuple[float, float]:
    """Median seconds of each, alternating which goes first; the same random argument for both in a repetition."""
    rng = random.Random(5)
    a: list[float] = []
    b: list[float] = []
    for i in range(reps):
        arg = rng.randrange(1 << 30)
        pair = [(ours, a), (base, b)] if i % 2 == 0 else [(base, b), (ours, a)]
        for fn, out in pair:
            t = time.perf_counter()
            fn(arg)
            out.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def _replication_delay(url: str, replica: LedgerStore, samples: int) -> Row:
    """Seconds from a single-event commit on the primary until the replica holds the leaf (polled back to back),
    against one read of the size on the primary (when the primary holds it: at once)."""
    writer = LedgerStore(make_engine(url))
    recorder = LedgerRecorder(writer, clock=lambda: NOW)
    delays: list[float] = []
    reads: list[float] = []
    try:
        for _ in range(samples):
            recorder.insert_events([StoredEvent(uuid.uuid4(), 1, TOPIC, b"{}")])
            t = time.perf_counter()
            size = writer.size()
            reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            while replica.size() < size:
                pass
            delays.append(time.perf_counter() - t)
    finally:
        writer.close()
    notes = f"ours: commit → leaf on the replica (p90 {statistics.quantiles(delays, n=10)[-1] * 1e3:.2f} ms); "
    return _row(
        "replication delay (single-event commit)",
        statistics.median(delays),
        statistics.median(reads),
        notes + "baseline: the same size read on the primary",
    )


def _row(name: str, ours: float, base: float, notes: str) -> Row:
    return {"name": name, "ours_median_s": ours, "baseline_median_s": base, "ratio": ours / base, "notes": notes}


def run(quick: bool, leaves: int | None = None) -> list[Row]:
    """Time tile and proof reads on the replica (routed) and on the primary (direct)."""
    n = leaves or (20_000 if quick else 100_000)
    reps = 200 if quick else 1000
    _replica()
    schema = f"bench_replica_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    replica_url = url.replace(":5432/", f":{REPLICA_PORT}/")
    primary_store = LedgerStore(make_engine(url))
    replica_store: LedgerStore | None = None
    try:
        primary_store.create_tables()
        _build(primary_store, n)
        _wait_replayed(PG_URL.replace(":5432/", f":{REPLICA_PORT}/"))
        # A reader process's store: the one that recorded the log holds its right edge in memory and would read
        # partial tiles from there, which a serving worker that did not write them cannot.
        primary_store.close()
        primary_store = LedgerStore(make_engine(url))
        primary = Log(primary_store, ORIGIN)
        replica_store = LedgerStore(make_engine(replica_url))
        reads = ReplicaReads(primary, Log(replica_store, ORIGIN))
        tiles, bundles = n // 256, n // 256
        rows = []
        cases: list[tuple[str, Callable[[int], object], Callable[[int], object]]] = [
            (
                f"inclusion proof at size n={n:,}",
                lambda r: reads.at_size("p", n, lambda log: log.inclusion_proof(r % n, n)),
                lambda r: primary.inclusion_proof(r % n, n),
            ),
            (
                f"consistency proof m→n={n:,}",
                lambda r: reads.at_size("c", n, lambda log: log.consistency_proof(1 + r % (n - 1), n)),
                lambda r: primary.consistency_proof(1 + r % (n - 1), n),
            ),
            (
                "hash tile 0/N (full)",
                lambda r: reads.at_size("t", (r % tiles + 1) * 256, lambda log: log.tile(0, r % tiles)),
                lambda r: primary.tile(0, r % tiles),
            ),
            (
                "entry bundle N (256 leaves)",
                lambda r: reads.at_size("e", (r % bundles + 1) * 256, lambda log: log.entry_bundle(r % bundles)),
                lambda r: primary.entry_bundle(r % bundles),
            ),
        ]
        for name, ours, base in cases:
            for _ in range(20):  # warm both pools and tile caches alike
                ours(1)
                base(1)
            o, b = _interleaved(ours, base, reps)
            rows.append(_row(name, o, b, f"ours: replica via ReplicaReads; baseline: primary; {reps} reps"))
        now_o, now_b = _interleaved(
            lambda _: reads.now("n", lambda log, at: log.root(at)), lambda _: primary.root(None), reps
        )
        rows.append(
            _row(
                "about now: root at the newest checkpoint",
                now_o,
                now_b,
                "ours: the replica after comparing its newest checkpoint with the primary's; baseline: primary",
            )
        )
        rows.append(_replication_delay(url, replica_store, 20 if quick else 100))
        served = reads.served()
        replica_reads = sum(c for (_, on), c in served.items() if on is Served.REPLICA)
        primary_reads = sum(c for (_, on), c in served.items() if on is Served.PRIMARY)
        rows[0]["notes"] = f"{rows[0]['notes']}; routed reads on replica/primary: {replica_reads}/{primary_reads}"
        return rows
    finally:
        primary_store.close()
        if replica_store is not None:
            replica_store.close()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
