"""Benchmark of `ledger`: append rate against eventsourcing's native recorders, proofs and audit at 1M leaves.

Rows (each measured in this run; the machine is noisy, compare ratios):
  * append, SQLite (WAL file in a temp dir) and PostgreSQL (a fresh schema), single-event saves and batches of
    1,000: our `LedgerRecorder` (events + Merkle leaves + tiles in one transaction) against eventsourcing's
    `SQLiteApplicationRecorder` / `PostgresApplicationRecorder` (no Merkle log), same `StoredEvent`s, repetitions
    interleaved (the order alternates). Columns are seconds per event; ratio = our events/s ÷ native events/s
    (goal ≥ 0.8).
  * proofs over a recorded log of `--leaves` leaves (default 1M, quick 100k) on SQLite, built through
    `LedgerRecorder.insert_events` in batches of 10,000 with a signed checkpoint every 100k leaves. Generation
    p50/p99 over random indexes/sizes via `Log`; baseline column = the goal (1 ms), ratio = ours ÷ goal (≤ 1 meets
    it). Verification p99: baseline = the hashing floor of the same proof, one SHA-256 of 65 bytes per proof hash,
    timed the same way; the 50 µs goal is in the notes. Open-and-first-proof after restart: a fresh subprocess
    times a new `LedgerStore` on the file until its first inclusion proof returns (imports excluded); baseline =
    the goal (100 ms).
  * audit: `run_audit` over the recorded log against plain SHA-256 of the same leaf bytes (read through
    `Log.leaves` in pages, hashing time only), each in its own subprocess; peak RSS
    (/proc/self/status VmHWM: ru_maxrss would report the parent's peak, inherited over fork+exec) at n/10 and n.

The recorded logs are cached under var/bench/ (`ledger-<n>.sqlite`, reused when complete: "record once", e.g.
`python -m bench ledger --leaves 10000000`); `--fresh` rebuilds them. Run: `python -m bench ledger [--quick]`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from sqlalchemy import create_engine, text

from ledger.audit import run_audit
from ledger.log import Log
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, make_engine
from signatures.note import NoteSigner

ORIGIN = "ledger.ha.gov.example/log"
TOPIC = "licences.domain:Licence.Issued"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "bench"
BUILD_BATCH = 10_000
CHECKPOINT_EVERY = 100_000
GOAL_APPEND_RATIO = 0.8
GOAL_PROOF_S = 1e-3
GOAL_VERIFY_S = 50e-6
GOAL_RESTART_S = 0.1
GOAL_RSS_MB = 200.0
NOW = datetime(2026, 11, 21, tzinfo=UTC)

Row = dict[str, object]


def _signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench log key").digest()))


def _fixed_clock() -> datetime:
    return NOW


def _state(i: int) -> bytes:
    """A licence-issued payload of ~330 bytes, as the licences domain stores them (JSON, CJK names)."""
    return json.dumps(
        {
            "identifier": f"1.2.156.3005.2.11100000000013338W011.11430000006122244L.{20230000000 + i}.001.U",
            "holder": f"郑州市第{i}号鑫科技有限公司",
            "uscc": f"91410100MA44{i % 100000:05d}X1",
            "issued_on": "2026-11-21",
            "valid_until": None,
            "department": "11410100MB1955104X",
            "timestamp": "2026-11-21T08:00:00.000000Z",
        },
        ensure_ascii=False,
    ).encode()


def _events(seed: int, start: int, count: int) -> list[StoredEvent]:
    """`count` first events (version 1) of new aggregates, ids unique per (seed, index)."""
    return [StoredEvent(uuid.UUID(int=(seed << 64) | (start + i)), 1, TOPIC, _state(start + i)) for i in range(count)]


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(name: str, ours: float, base: float, ratio: float, unit: str, notes: str) -> Row:
    return {
        "name": name,
        "ours_median_s": ours,
        "baseline_median_s": base,
        "ratio": ratio,
        "unit": unit,
        "notes": notes,
    }


# -- 1. append ---------------------------------------------------------------------------------------------


@contextmanager
def _sqlite_pair() -> Iterator[tuple[ApplicationRecorder, ApplicationRecorder]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    store = LedgerStore(make_engine(f"sqlite:///{tmp / 'ours.sqlite'}"))
    store.create_tables()
    datastore = SQLiteDatastore(db_name=str(tmp / "native.sqlite"))
    native = SQLiteApplicationRecorder(datastore)
    native.create_table()
    try:
        yield LedgerRecorder(store), native
    finally:
        store.close()
        datastore.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _postgres_pair() -> Iterator[tuple[ApplicationRecorder, ApplicationRecorder]]:
    schema = f"bench_ledger_{os.getpid()}_{int(time.time())}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = LedgerStore(make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}"))
    datastore = PostgresDatastore(
        dbname="test", host="127.0.0.1", port="5432", user="postgres", password="", schema=schema
    )
    try:
        store.create_tables()
        native = PostgresApplicationRecorder(datastore)
        native.create_table()
        yield LedgerRecorder(store), native
    finally:
        store.close()
        datastore.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _time_append(recorder: ApplicationRecorder, events: Sequence[StoredEvent], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        recorder.insert_events(events[i : i + batch])
    return time.perf_counter() - start


def _append_rows(backend: str, quick: bool) -> list[Row]:
    pair = _sqlite_pair if backend == "sqlite" else _postgres_pair
    reps = 3 if quick else 7
    rows = []
    with pair() as (ours, native):
        for recorder in (ours, native):  # warm up: connections, statement caches, the cached edge
            recorder.insert_events(_events(9, 0, 10))
        next_id = 0
        for batch, per_rep in ((1, 100 if quick else 400), (1000, 2000 if quick else 10_000)):
            ours_s, native_s = [], []
            for rep in range(reps):
                events = _events(1, next_id, per_rep)
                next_id += per_rep
                order = [(ours, ours_s), (native, native_s)]
                for recorder, times in order if rep % 2 == 0 else reversed(order):
                    times.append(_time_append(recorder, events, batch) / per_rep)
            o, n = statistics.median(ours_s), statistics.median(native_s)
            ratio = n / o
            verdict = "meets" if ratio >= GOAL_APPEND_RATIO else "MISSES"
            label = "single-event saves" if batch == 1 else f"batches of {batch:,}"
            rows.append(
                _row(
                    f"append {backend}, {label}",
                    o,
                    n,
                    ratio,
                    "s/event",
                    f"{1 / o:,.0f} vs native {1 / n:,.0f} events/s; ratio = ours/native rate, {verdict} goal "
                    f"≥ {GOAL_APPEND_RATIO} (median of {reps}×{per_rep:,} events)",
                )
            )
    return rows


# -- 2. the recorded log -----------------------------------------------------------------------------------


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def recorded_log(leaves: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """The SQLite file of a log of `leaves` events (built once, then reused) and how it was built."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ledger-{leaves}.sqlite"
    marker = path.with_suffix(".json")
    if not fresh and path.exists() and marker.exists():
        info: dict[str, Any] = json.loads(marker.read_text())
        if info.get("leaves") == leaves:
            return path, info | {"reused": True}
    for stale in CACHE.glob(f"{path.name}*"):
        stale.unlink()
    marker.unlink(missing_ok=True)
    store = LedgerStore.from_url(_sqlite_url(path))
    store.create_tables()
    recorder = LedgerRecorder(store, clock=_fixed_clock)
    log = Log(store, ORIGIN)
    signer = _signer()
    start = time.perf_counter()
    for first in range(0, leaves, BUILD_BATCH):
        recorder.insert_events(_events(2, first, min(BUILD_BATCH, leaves - first)))
        done = min(first + BUILD_BATCH, leaves)
        if done % CHECKPOINT_EVERY == 0 or done == leaves:
            log.sign_checkpoint(signer, NOW)
        if done % 100_000 == 0:
            print(f"#   recorded {done:,}/{leaves:,} leaves", file=sys.stderr)
    seconds = time.perf_counter() - start
    store.close()
    info = {"leaves": leaves, "build_s": seconds, "batch": BUILD_BATCH, "bytes": path.stat().st_size}
    marker.write_text(json.dumps(info))
    return path, info | {"reused": False}


def _child(*args: str) -> dict[str, Any]:
    """Run a probe of this module in a fresh interpreter; return its JSON answer."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_ledger", *args], check=True, capture_output=True, text=True, cwd=REPO
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _proof_rows(path: Path, info: dict[str, Any], quick: bool) -> list[Row]:
    samples = 1000 if quick else 2000
    store = LedgerStore.from_url(_sqlite_url(path))
    log = Log(store, ORIGIN)
    n = log.size()
    rng = random.Random(20261121)
    indexes = [rng.randrange(n) for _ in range(samples)]
    pairs = [tuple(sorted(rng.sample(range(1, n + 1), 2))) for _ in range(samples)]

    incl_t, proofs = [], []
    for i in indexes:
        start = time.perf_counter()
        _, proof = log.inclusion_proof(i, n)
        incl_t.append(time.perf_counter() - start)
        proofs.append(proof)
    cons_t, cproofs = [], []
    for a, b in pairs:
        start = time.perf_counter()
        cproofs.append(log.consistency_proof(a, b))
        cons_t.append(time.perf_counter() - start)
    warm_t = [_timed(lambda i=i: log.inclusion_proof(i, n)) for i in indexes]  # every tile now cached

    # verification (as a client does it: proof + leaf hash + root in hand)
    _, root = log.root(n)
    leaf_hashes = [log.leaf(i)[1] for i in indexes]
    roots = {}
    for a, b in pairs[: samples // 4]:
        for s in (a, b):
            if s not in roots:
                roots[s] = log.root(s)[1]
    store.close()

    def floor(proof: Sequence[bytes], acc: bytes) -> bytes:
        for p in proof:
            acc = hashlib.sha256(b"\x01" + acc + p).digest()
        return acc

    vi_t, vi_base, vc_t, vc_base = [], [], [], []
    for rep in range(3):
        for i, leaf, proof in zip(indexes, leaf_hashes, proofs, strict=True):
            vi_t.append(_timed(lambda i=i, leaf=leaf, proof=proof: verify_inclusion(i, n, leaf, proof, root)))
            vi_base.append(_timed(lambda leaf=leaf, proof=proof: floor(proof, leaf)))
        for (a, b), proof in zip(pairs[: samples // 4], cproofs, strict=False):
            vc_t.append(_timed(lambda a=a, b=b, proof=proof: verify_consistency(a, b, roots[a], roots[b], proof)))
            vc_base.append(_timed(lambda a=a, proof=proof: floor(proof, roots[a])))
        del rep

    # open-and-first-proof after restart, each in a fresh interpreter
    restart = [_child("--restart-probe", str(path), str(rng.randrange(n))) for _ in range(3 if quick else 7)]
    first_proof = [r["seconds"] for r in restart]
    imports = statistics.median(r["import_s"] for r in restart)

    mean_len = statistics.mean(len(p) for p in proofs)
    built = (
        f"log of {n:,} leaves reused from {path.name}"
        if info["reused"]
        else f"log of {n:,} recorded in {info['build_s']:.0f} s ({n / info['build_s']:,.0f} events/s, batches of "
        f"{info['batch']:,})"
    )

    def gen_row(name: str, times: list[float], extra: str) -> Row:
        p99 = _pct(times, 0.99)
        verdict = "meets" if p99 < GOAL_PROOF_S else "MISSES"
        return _row(
            name,
            p99,
            GOAL_PROOF_S,
            p99 / GOAL_PROOF_S,
            "s",
            f"p99 vs goal 1 ms ({verdict}); p50 {statistics.median(times) * 1e6:.0f} µs, "
            f"max {max(times) * 1e3:.2f} ms, {len(times):,} samples; {extra}",
        )

    def verify_row(name: str, times: list[float], base: list[float]) -> Row:
        p99, b99 = _pct(times, 0.99), _pct(base, 0.99)
        verdict = "meets" if p99 < GOAL_VERIFY_S else "MISSES"
        return _row(
            name,
            p99,
            b99,
            p99 / b99,
            "s",
            f"p99 vs hashing floor (1 SHA-256/proof hash); goal < 50 µs {verdict}; "
            f"p50 {statistics.median(times) * 1e6:.1f} µs vs floor {statistics.median(base) * 1e6:.1f} µs",
        )

    restart_med = statistics.median(first_proof)
    return [
        gen_row(
            f"inclusion proof @{n:,} (p99)",
            incl_t,
            f"cold tile cache; warm p50/p99 {statistics.median(warm_t) * 1e6:.0f}/{_pct(warm_t, 0.99) * 1e6:.0f} µs; "
            f"{mean_len:.1f} hashes; {built}",
        ),
        gen_row(f"consistency proof @{n:,} (p99)", cons_t, "random 1 ≤ first < second ≤ n"),
        verify_row(f"verify inclusion @{n:,} (p99)", vi_t, vi_base),
        verify_row(f"verify consistency @{n:,} (p99)", vc_t, vc_base),
        _row(
            f"restart: open + first proof @{n:,}",
            restart_med,
            GOAL_RESTART_S,
            restart_med / GOAL_RESTART_S,
            "s",
            f"median of {len(first_proof)} fresh processes vs goal 100 ms "
            f"({'meets' if restart_med < GOAL_RESTART_S else 'MISSES'}); max {max(first_proof) * 1e3:.1f} ms; "
            f"imports before it {imports * 1e3:.0f} ms (not counted); OS page cache warm",
        ),
    ]


# -- 3. audit ----------------------------------------------------------------------------------------------


def _audit_rows(path: Path, small: Path, quick: bool) -> list[Row]:
    reps = 1 if quick else 3
    ours, base = [], []
    for rep in range(reps):
        pair = [("ours", ours), ("baseline", base)]
        for kind, results in pair if rep % 2 == 0 else reversed(pair):
            results.append(_child("--audit-probe", str(path), kind))
    small_ours = _child("--audit-probe", str(small), "ours")
    n = ours[0]["leaves"]
    o = statistics.median(r["seconds"] for r in ours) / n
    hashing = statistics.median(r["seconds"] for r in base) / n
    reading = statistics.median(r["total_s"] for r in base) / n
    rss = max(r["maxrss_mb"] for r in ours)
    rss_small = small_ours["maxrss_mb"]
    base_rss = max(r["maxrss_mb"] for r in base)
    rss_verdict = "meets" if rss < GOAL_RSS_MB else "MISSES"
    return [
        _row(
            f"audit @{n:,} (run_audit)",
            o,
            hashing,
            o / hashing,
            "s/leaf",
            f"{1 / o:,.0f} leaves/s vs plain SHA-256 of the leaf bytes {1 / hashing:,.0f}/s (hashing only; "
            f"Log.leaves read+re-derive+hash {1 / reading:,.0f}/s); {ours[0]['checkpoints']} checkpoints; "
            f"median of {reps} subprocesses",
        ),
        _row(
            f"audit peak RSS @{n:,} vs @{small_ours['leaves']:,}",
            rss,
            rss_small,
            rss / rss_small,
            "MB",
            f"VmHWM; goal < {GOAL_RSS_MB:.0f} MB ({rss_verdict}) and flat (ratio ≈ 1 means flat); "
            f"baseline reader process {base_rss:.0f} MB",
        ),
    ]


# -- probes run in a fresh interpreter ---------------------------------------------------------------------


def _restart_probe(path: str, index: int) -> dict[str, Any]:
    import_s = time.process_time()  # CPU spent before here: interpreter start-up and imports
    start = time.perf_counter()
    store = LedgerStore.from_url(_sqlite_url(Path(path)))
    log = Log(store, ORIGIN)
    _, proof = log.inclusion_proof(index)
    seconds = time.perf_counter() - start
    store.close()
    return {"seconds": seconds, "import_s": import_s, "hashes": len(proof)}


def _maxrss_mb() -> float:
    """Peak RSS of this process in MiB: VmHWM, since Linux's ru_maxrss keeps the forking parent's peak across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB on Linux, bytes on macOS


def _audit_probe(path: str, kind: str) -> dict[str, Any]:
    store = LedgerStore.from_url(_sqlite_url(Path(path)))
    if kind == "ours":
        start = time.perf_counter()
        report = run_audit(store, _signer().verifier, ORIGIN)
        seconds = time.perf_counter() - start
        store.close()
        return {
            "seconds": seconds,
            "leaves": report.leaves,
            "checkpoints": report.checkpoints,
            "maxrss_mb": _maxrss_mb(),
        }
    log = Log(store, ORIGIN)
    n = log.size()
    hashing = 0.0
    start = time.perf_counter()
    for first in range(0, n, 5000):
        page = log.leaves(first, min(5000, n - first))
        t0 = time.perf_counter()
        for data, _ in page:
            hashlib.sha256(b"\x00" + data).digest()
        hashing += time.perf_counter() - t0
    total = time.perf_counter() - start
    store.close()
    return {"seconds": hashing, "total_s": total, "leaves": n, "maxrss_mb": _maxrss_mb()}


# -- entry points ------------------------------------------------------------------------------------------


def run(quick: bool, *, leaves: int | None = None, fresh: bool = False) -> list[Row]:
    """All ledger rows: append (SQLite, PostgreSQL), proofs and restart, audit time and memory."""
    n = leaves or (100_000 if quick else 1_000_000)
    rows = _append_rows("sqlite", quick) + _append_rows("postgresql", quick)
    path, info = recorded_log(n, fresh)
    small, _ = recorded_log(max(n // 10, 1), fresh)
    rows += _proof_rows(path, info, quick)
    rows += _audit_rows(path, small, quick)
    return rows


def main(argv: list[str]) -> None:
    """`--restart-probe PATH INDEX` / `--audit-probe PATH ours|baseline` (used by `run`), else a benchmark run."""
    if argv[:1] == ["--restart-probe"]:
        print(json.dumps(_restart_probe(argv[1], int(argv[2]))))
    elif argv[:1] == ["--audit-probe"]:
        print(json.dumps(_audit_probe(argv[1], argv[2])))
    else:
        from bench.__main__ import main as bench_main

        sys.exit(bench_main(["ledger", *argv]))


if __name__ == "__main__":
    main(sys.argv[1:])
