"""Benchmark of the licence library: issuance against the ledger's append, queries at 1M, load vs uses.

Rows (each measured in this run against its baseline; the machine is noisy, compare ratios):
  * issuance, SQLite and PostgreSQL (a fresh region each): licences/s of single `LicenceService.issue` calls, of
    `issue_batch` batches of 500 (new licences from `LicenceFactory`), of `demo seed` (`seed_licences`: batches with
    recorded statuses and uses) and of `import` (`BulkImporter` over a CSV of existing licences: hash, parse, dry-run
    validation, batch) — each against the ledger's own `bench append` in the same region (`LedgerRecorder.insert_events`
    of small synthetic events, one stream per batch, the same batch size: 1 or 500). Repetitions interleaved; columns
    are seconds per licence / per event; ratio = licences/s ÷ events/s (goal ≥ 0.7).
  * queries over `--licences` rows (default 1M, quick 50k) of `licence_index`, filled directly with SQL bulk inserts
    (a query benchmark; realistic types, issuers, ~2.5 licences per holder, expiry spread over ten years), on SQLite
    (cached under var/bench/, reused when complete): p50/p99 of `LicenceStore.by_holder`, `LicenceService.by_holder`
    (digest + views), and `expiring_between` over a random 1-day window (first 100 rows; all rows) against a primary
    key look-up (`LicenceStore.licence`) in the same run; ratio = p99 ÷ PK p99; the goal p99 < 5 ms is in the notes.
  * load: a licence with 1 use and one with 100,000 uses (quick 10,000; `LicenceInvoked` through the recorder in
    batches of 5,000 with their history rows): median time of `LicenceService.load` (aggregate replay) and `get`;
    ratio = 100k ÷ 1 (goal ≤ 1.10).

Run: `python -m bench licences [--quick] [--licences N] [--fresh]`.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine, insert, text

from demo.seed import LicenceFactory, UseSpec, record_uses, seed_licences
from demo.synthetic import SyntheticHolders
from licences.application import IssueRequest, LicenceService
from licences.bulk import BulkImporter
from licences.identifiers import make_identifier
from licences.store import licence_index
from licences.store_imports import ImportStore
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "bench"
BENCH_TOPIC = "trustledger.bench:SyntheticEvent"  # as `trustledger bench append`
BATCH = 500
GOAL_ISSUE_RATIO = 0.7
GOAL_QUERY_S = 5e-3
GOAL_LOAD_RATIO = 1.10
FILL_CHUNK = 10_000

Row = dict[str, object]


def _row(name: str, ours: float, base: float, ratio: float, unit: str, notes: str) -> Row:
    return {
        "name": name,
        "ours_median_s": ours,
        "baseline_median_s": base,
        "ratio": ratio,
        "unit": unit,
        "notes": notes,
    }


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _call(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


@contextmanager
def _region(backend: str, home: Path | None = None) -> Iterator[Region]:
    """A fresh region (SQLite file or PostgreSQL schema) in a temporary home, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-licences-"))
    schema = f"bench_licences_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT") if backend == "postgresql" else None
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp / 'region.sqlite'}"
    region = init_region(Settings(home=home or tmp / "home", database_url=url), None, None, None)
    try:
        yield region
    finally:
        region.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


# -- 1. issuance ----------------------------------------------------------------------------------------------


def _append(region: Region, count: int, batch: int) -> float:
    """Seconds for the ledger's own `bench append`: `count` small events, `batch` per transaction."""
    start = time.perf_counter()
    for first in range(0, count, batch):
        n = min(batch, count - first)
        stream = uuid.uuid4()
        events = [StoredEvent(stream, v, BENCH_TOPIC, json.dumps({"n": first + v}).encode()) for v in range(1, n + 1)]
        region.recorder.insert_events(events)
    return time.perf_counter() - start


class _Sources:
    """Synthetic requests and import files, never repeating a serial or a file."""

    def __init__(self, svc: LicenceService, tmp: Path) -> None:
        self.svc = svc
        self.factory = LicenceFactory(svc.catalogue, svc.clock(), seed="bench")
        self.tmp = tmp
        self.serial = 0

    def requests(self, n: int) -> list[IssueRequest]:
        return [self.factory.licence().request for _ in range(n)]

    def import_file(self, n: int) -> Path:
        rows = []
        for request in self.requests(n):
            self.serial += 1
            identifier = make_identifier(request.type_code, request.issuer, f"2018{self.serial:07d}", 1)
            assert request.valid_from is not None
            rows.append(
                {
                    "identifier": str(identifier),
                    "type": request.type_code,
                    "issuer": request.issuer,
                    "holder_id": request.holder_id,
                    "holder_name": request.holder_name,
                    "valid_from": request.valid_from.isoformat(),
                    "valid_until": "" if request.valid_until is None else request.valid_until.isoformat(),
                    **{f"fields.{k}": v for k, v in request.fields.items()},
                }
            )
        columns = sorted({k for r in rows for k in r}, key=lambda c: (c.startswith("fields."), c))
        path = self.tmp / f"import-{self.serial}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        return path


def _issue_paths(region: Region, sources: _Sources) -> dict[str, tuple[int, Callable[[int], float]]]:
    svc = region.licences
    store = ImportStore(region.store.engine)

    def single(n: int) -> float:
        requests = sources.requests(n)
        start = time.perf_counter()
        for r in requests:
            svc.issue(
                type_code=r.type_code,
                issuer=r.issuer,
                holder_id=r.holder_id,
                holder_name=r.holder_name,
                fields=r.fields,
                valid_from=r.valid_from,
                valid_until=r.valid_until,
            )
        return time.perf_counter() - start

    def batched(n: int) -> float:
        requests = sources.requests(n)
        return _timed(lambda: [svc.issue_batch(requests[i : i + BATCH]) for i in range(0, n, BATCH)])

    def seed(n: int) -> float:
        sources.serial += 1
        return _timed(lambda: list(seed_licences(svc, n, batch=BATCH, seed=f"bench-{sources.serial}")))

    def bulk(n: int) -> float:
        path = sources.import_file(n)
        rejects = path.with_suffix(".rejects.csv")
        report = BulkImporter(svc, store, batch_size=BATCH).run(path, "csv", rejects_path=rejects)
        assert report.imported == n, report
        return report.seconds

    return {
        "single LicenceService.issue": (1, single),
        f"issue_batch, batches of {BATCH}": (BATCH, batched),
        f"demo seed, batches of {BATCH}": (BATCH, seed),
        f"import CSV, batches of {BATCH}": (BATCH, bulk),
    }


def _issue_rows(backend: str, quick: bool) -> list[Row]:
    reps = 3 if quick else 5
    rows = []
    with _region(backend) as region:
        tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
        sources = _Sources(region.licences, tmp)
        region.licences.issue_batch(sources.requests(20))  # warm up: connections, caches, holder keys table
        _append(region, 20, 10)
        for name, (batch, timed) in _issue_paths(region, sources).items():
            per_rep = (30 if quick else 100) if batch == 1 else (BATCH if quick else 2 * BATCH)
            ours: list[float] = []
            base: list[float] = []
            for rep in range(reps):
                for which in ("ours", "base") if rep % 2 == 0 else ("base", "ours"):
                    if which == "ours":
                        ours.append(timed(per_rep) / per_rep)
                    else:
                        base.append(_append(region, per_rep, batch) / per_rep)
            o, b = statistics.median(ours), statistics.median(base)
            ratio = b / o
            verdict = "meets" if ratio >= GOAL_ISSUE_RATIO else "MISSES"
            rows.append(
                _row(
                    f"issue {backend}, {name}",
                    o,
                    b,
                    ratio,
                    "s/licence",
                    f"{1 / o:,.0f} licences/s vs ledger append {1 / b:,.0f} events/s (batch {batch}); "
                    f"{verdict} goal ≥ {GOAL_ISSUE_RATIO} (median of {reps}×{per_rep})",
                )
            )
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# -- 2. queries at scale --------------------------------------------------------------------------------------


def _query_region(n: int, fresh: bool) -> tuple[Region, dict[str, Any]]:
    """A SQLite region whose `licence_index` holds `n` rows (built once under var/bench/, then reused)."""
    home = CACHE / f"licences-{n}"
    marker = home / "bench.json"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'region.sqlite'}")
    if not fresh and marker.exists():
        info: dict[str, Any] = json.loads(marker.read_text())
        if info.get("licences") == n:
            return open_region(settings), info | {"reused": True}
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    region = init_region(settings, None, None, None)
    start = time.perf_counter()
    info = _fill(region, n)
    info |= {"licences": n, "fill_s": time.perf_counter() - start}
    marker.write_text(json.dumps(info))
    return region, info | {"reused": False}


def _fill(region: Region, n: int) -> dict[str, Any]:
    """Insert `n` realistic rows into `licence_index` with SQL bulk inserts; returns the holders to query."""
    svc = region.licences
    token = svc.issue_batch([LicenceFactory(svc.catalogue, svc.clock(), "bench-token").licence().request])[0]
    catalogue = svc.catalogue
    pairs = [(t, d) for t in catalogue.licence_types for d in t.issuing_departments]
    rng = random.Random(20261121)
    holders = SyntheticHolders("bench-holders")
    pool = [holders.uscc() if i % 3 == 0 else holders.resident_id() for i in range(max(1, n * 2 // 5))]
    digests = [svc.holder_digest_of(h) for h in pool]
    now = datetime(2026, 11, 21, tzinfo=UTC)
    with region.store.engine.begin() as conn:
        for first in range(0, n, FILL_CHUNK):
            rows = [
                _index_row(first + i, rng, pairs, digests, now, token.token, catalogue)
                for i in range(min(FILL_CHUNK, n - first))
            ]
            conn.execute(insert(licence_index), rows)
            if (first + FILL_CHUNK) % 200_000 == 0:
                print(f"#   filled {first + FILL_CHUNK:,}/{n:,} licence_index rows", file=sys.stderr)
    with region.store.engine.begin() as conn:
        conn.execute(text("ANALYZE licence_index"))  # planner statistics, as autovacuum would gather them
    return {"holders": pool[:2000], "start": now.isoformat()}


def _index_row(
    i: int, rng: random.Random, pairs: list[Any], digests: list[str], now: datetime, token: str, catalogue: Any
) -> dict[str, Any]:
    licence_type, department_key = pairs[i % len(pairs)]
    uscc = catalogue.department(department_key).uscc
    valid_from = now - timedelta(seconds=rng.randrange(10 * 365 * 86400))
    years = licence_type.validity.years
    valid_until = None if years is None else now + timedelta(seconds=rng.randrange(-365 * 86400, 9 * 365 * 86400))
    return {
        "licence_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "identifier": f"1.2.156.3005.2.{licence_type.code}.{uscc}.{2000000000 + i}.001.X",
        "type_code": licence_type.code,
        "issuer": uscc,
        "holder_digest": digests[rng.randrange(len(digests))],
        "holder_kind": "organisation",
        "lifecycle": "active",
        "licence_version": 1,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "reminded_stage": None,
        "minted_leaf": i,
        "last_leaf": i,
        "aggregate_version": 1,
        "fields": "{}",
        "token": token,
        "imported": 1,
        "identifier_check_ok": 1,
    }


def _query_rows(n: int, quick: bool, fresh: bool) -> list[Row]:
    region, info = _query_region(n, fresh)
    try:
        rows = _measure_queries(region, info | {"backend": "SQLite"}, quick)
    finally:
        region.close()
    with _region("postgresql") as pg:
        start = time.perf_counter()
        info = _fill(pg, n) | {"licences": n, "reused": False, "backend": "PostgreSQL"}
        info["fill_s"] = time.perf_counter() - start
        rows += _measure_queries(pg, info, quick)
    return rows


def _measure_queries(region: Region, info: dict[str, Any], quick: bool) -> list[Row]:
    svc, store = region.licences, region.licence_store
    samples = 500 if quick else 2000
    rng = random.Random(7)
    holders = [rng.choice(info["holders"]) for _ in range(samples)]
    start = datetime.fromisoformat(info["start"])
    days = [start + timedelta(days=rng.randrange(-300, 9 * 365 - 1)) for _ in range(samples)]
    ids = [r.licence_id for r in store.expiring_between(start, start + timedelta(days=30), samples)]
    digests = [svc.holder_digest_of(h) for h in holders]
    for d in days[:50]:  # warm the page cache and statement caches
        store.expiring_between(d, d + timedelta(days=1), 100)
    timings: dict[str, list[float]] = {k: [] for k in ("pk", "holder", "holder_svc", "expiry100", "expiry_all")}
    sizes: dict[str, list[int]] = {"holder": [], "expiry_all": []}
    one_day = timedelta(days=1)
    for i in range(samples):
        timings["pk"].append(_call(store.licence, ids[i % len(ids)])[0])
        seconds, found = _call(store.by_holder, digests[i])
        timings["holder"].append(seconds)
        sizes["holder"].append(len(found))
        timings["holder_svc"].append(_call(svc.by_holder, holders[i])[0])
        timings["expiry100"].append(_call(store.expiring_between, days[i], days[i] + one_day, 100)[0])
        seconds, found = _call(store.expiring_between, days[i], days[i] + one_day, 10_000)
        timings["expiry_all"].append(seconds)
        sizes["expiry_all"].append(len(found))
    pk99 = _pct(timings["pk"], 0.99)
    built = (
        f"reused {CACHE.name}/licences-{info['licences']}" if info["reused"] else f"filled in {info['fill_s']:.0f} s"
    )
    labels = {
        "holder": f"LicenceStore.by_holder (mean {statistics.mean(sizes['holder']):.1f} rows)",
        "holder_svc": "LicenceService.by_holder (digest + views)",
        "expiry100": "expiring_between 1-day window, first 100",
        "expiry_all": f"expiring_between 1-day window, all (mean {statistics.mean(sizes['expiry_all']):.0f} rows)",
    }
    rows = []
    for key, label in labels.items():
        p50, p99 = statistics.median(timings[key]), _pct(timings[key], 0.99)
        verdict = "meets" if p99 < GOAL_QUERY_S else "MISSES"
        rows.append(
            _row(
                f"query {info['backend']} @{info['licences']:,}: {label} (p99)",
                p99,
                pk99,
                p99 / pk99,
                "s",
                f"p50 {p50 * 1e3:.2f} ms; vs PK look-up p99 (p50 {statistics.median(timings['pk']) * 1e3:.2f} ms); "
                f"goal p99 < 5 ms {verdict}; {info['backend']}, {samples} samples; {built}",
            )
        )
    return rows


# -- 3. load with many uses -----------------------------------------------------------------------------------


def _load_rows(quick: bool) -> list[Row]:
    uses = 10_000 if quick else 100_000
    with _region("sqlite") as region:
        svc = region.licences
        factory = LicenceFactory(svc.catalogue, svc.clock(), "bench-load")
        light, heavy = (
            svc.issue_batch([factory.for_type(svc.catalogue.licence_type("business-licence")).request])[0]
            for _ in range(2)
        )
        aggregate = {v.id: svc.load(v.id) for v in (light, heavy)}
        record_uses(svc, [UseSpec(aggregate[light.id], "河南政务服务网", "M1", "核验")], svc.clock())
        start = time.perf_counter()
        for first in range(0, uses, 5000):
            n = min(5000, uses - first)
            record_uses(svc, [UseSpec(aggregate[heavy.id], "河南政务服务网", "M1", "核验")] * n, svc.clock())
        recorded = time.perf_counter() - start
        assert svc.store.use_count(heavy.id) == uses
        reps = 200 if quick else 1000
        results = {}
        for name, fn in (("load", svc.load), ("get", svc.get)):
            times: dict[str, list[float]] = {"light": [], "heavy": []}
            for rep in range(reps):
                order = [("light", light.id), ("heavy", heavy.id)]
                for key, licence_id in order if rep % 2 == 0 else reversed(order):
                    times[key].append(_call(fn, licence_id)[0])
            results[name] = (statistics.median(times["heavy"]), statistics.median(times["light"]))
    rows = []
    for name, (heavy_s, light_s) in results.items():
        ratio = heavy_s / light_s
        rows.append(
            _row(
                f"LicenceService.{name} with {uses:,} uses vs 1 use",
                heavy_s,
                light_s,
                ratio,
                "s",
                f"median of {reps}, interleaved; goal ratio ≤ {GOAL_LOAD_RATIO} "
                f"({'meets' if ratio <= GOAL_LOAD_RATIO else 'MISSES'}); uses recorded at {uses / recorded:,.0f}/s "
                f"(LicenceInvoked + history row, batches of 5,000)",
            )
        )
    return rows


# -- entry points ---------------------------------------------------------------------------------------------


def run(quick: bool, *, licences: int | None = None, fresh: bool = False) -> list[Row]:
    """All licence rows: issuance (SQLite, PostgreSQL), queries at scale (SQLite), load vs uses."""
    n = licences or (50_000 if quick else 1_000_000)
    rows = _issue_rows("sqlite", quick) + _issue_rows("postgresql", quick)
    rows += _query_rows(n, quick, fresh)
    rows += _load_rows(quick)
    return rows


if __name__ == "__main__":
    from bench.__main__ import main as bench_main

    sys.exit(bench_main(["licences", *sys.argv[1:]]))
