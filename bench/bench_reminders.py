"""Benchmark of the expiry reminder scan: a full pass over `licence_index` against a plain SQL COUNT(*).

Setup (not timed): a `licence_index` table of `--licences` rows (default 1M, quick 100k) seeded directly through the
driver (executemany on SQLite, COPY on PostgreSQL), with a realistic spread: the 15 catalogue types in equal shares
(6 of them never expire: valid_until NULL), issue dates uniform over each type's validity period so expiries spread
evenly over the next 4-6 years, 3% expired and not yet renewed, 94% active / 3% suspended / 3% revoked. Licences in a
reminder window are in steady state: 90% already reminded of their current stage, 10% due (just entered a window or
missed while the scheduler was down). `ANALYZE` after seeding.

Rows, per backend (SQLite file in a temp dir; PostgreSQL in a fresh schema, skipped if the server is not reachable):
  * ours: `ReminderScan.due_pages` over the whole index (keyset pages of 500, each page its own short read
    transaction, `DueLicence` values built) - the scheduler's scan, without the per-licence `record_reminder`
    (aggregates do not exist in a seeded index). Seconds per full pass; reminders found per second in the notes.
  * baseline: `SELECT COUNT(*)` with the same predicate (same windows, stages, lifecycle and reminded_stage
    filter), i.e. the cheapest possible SQL answer to "how many are due". Ratio = ours / baseline (goal <= 3).
    The notes also give the COUNT(*) of the bare `valid_until` range (index only).
Medians of 5 (quick 3) passes, ours and the baseline alternating.

One more row per backend puts the scan in proportion: a real region (`init_region`, SQLite file / PostgreSQL
schema) with 300 (quick 60) due licences issued through `LicenceService`, each with a department webhook and a
holder e-mail subscribed; ours = one scheduler pass (scan + render + `record_reminder` with its two outbox rows, one
transaction per licence) per reminder; baseline = a bare single-event `LedgerRecorder.insert_events` (one event and
leaf per transaction) in the same region, per event. Run: `python -m bench reminders [--quick] [--licences N]`.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, create_engine, func, select, text

from clock import StartedClock
from ledger.store import make_engine
from licences.application import IssueRequest
from licences.catalogue import load_catalogue
from licences.catalogue.model import Channel
from licences.store import licence_index
from reminders.messages import load_reminder_catalogue
from reminders.model import OwnerKind, ReminderMetrics, current_stage, stage_windows
from reminders.scheduler import ReminderScheduler
from reminders.store_outbox import OutboxStore
from reminders.store_scan import ReminderScan
from trustledger.region import init_region, open_region
from trustledger.settings import Settings

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_RATIO = 3.0
SEED_BATCH = 50_000
COLUMNS = (
    "licence_id, identifier, type_code, issuer, holder_digest, holder_kind, lifecycle, licence_version, valid_from, "
    "valid_until, reminded_stage, minted_leaf, last_leaf, aggregate_version, fields, token, imported, "
    "identifier_check_ok"
)

Row = dict[str, object]


def _rows(n: int, seed: int = 20261121) -> Iterator[tuple[Any, ...]]:
    """n synthetic `licence_index` rows with the spread described in the module docstring."""
    rng = random.Random(seed)
    catalogue = load_catalogue()
    types = catalogue.licence_types
    for i in range(n):
        t = types[i % len(types)]
        issuer = catalogue.department(t.issuing_departments[i % len(t.issuing_departments)]).uscc
        years = t.validity.years
        if years is None:
            valid_from, valid_until = NOW - timedelta(days=rng.uniform(0, 3650)), None
        elif rng.random() < 0.03:  # expired, not (yet) renewed
            valid_until = NOW - timedelta(days=rng.uniform(0, 365))
            valid_from = valid_until - timedelta(days=365 * years)
        else:
            valid_from = NOW - timedelta(days=rng.uniform(0, 365 * years))
            valid_until = valid_from + timedelta(days=365 * years)
        roll = rng.random()
        lifecycle = "active" if roll < 0.94 else ("suspended" if roll < 0.97 else "revoked")
        reminded = None
        stage = None if valid_until is None else current_stage(t.reminders.lead_days, valid_until, NOW)
        if stage is not None and rng.random() < 0.9:
            reminded = stage  # steady state: already reminded of the current stage
        leaf = i * 3
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"1.2.156.3005.2.{t.code}.{issuer}.{2020000000 + i:011d}.001.X",
            t.code,
            issuer,
            f"{rng.getrandbits(128):032x}",
            "organisation" if t.holder_kind.value != "citizen" else "citizen",
            lifecycle,
            1,
            valid_from,
            valid_until,
            reminded,
            leaf,
            leaf,
            1,
            "{}",
            "",
            0,
            1,
        )


def _sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores (UTC, no offset)."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _seed(engine: Engine, n: int) -> float:
    licence_index.create(engine)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("PRAGMA synchronous=OFF")  # seeding only: the timed scans read
            cur.execute("BEGIN")  # the driver is in autocommit mode (ledger.store): one transaction, not one per row
            sql = f"INSERT INTO licence_index ({COLUMNS}) VALUES ({', '.join(['?'] * 18)})"
            batch: list[tuple[Any, ...]] = []
            for row in _rows(n):
                batch.append((*row[:8], _sqlite_time(row[8]), _sqlite_time(row[9]), *row[10:]))
                if len(batch) == SEED_BATCH:
                    cur.executemany(sql, batch)
                    batch.clear()
            cur.executemany(sql, batch)
        else:
            with cur.copy(f"COPY licence_index ({COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in _rows(n):
                    copy.write_row(row)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


@contextmanager
def _database(backend: str) -> Iterator[Engine | None]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'reminders.db'}")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    schema = f"bench_rem_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception:
        admin.dispose()
        yield None
        return
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _backend_rows(backend: str, engine: Engine, n: int, runs: int) -> list[Row]:
    seed_s = _seed(engine, n)
    scan = ReminderScan(engine)
    catalogue = load_catalogue()
    windows = {t.code: stage_windows(t.reminders.lead_days, NOW) for t in catalogue.licence_types}
    windows = {code: ws for code, ws in windows.items() if ws}

    def full_pass() -> int:
        return sum(len(page) for page in scan.due_pages(windows, page=500))

    def count_same() -> int:
        return scan.count_due(windows)

    low = NOW
    high = max(w.until for ws in windows.values() for w in ws)

    def count_range() -> int:
        li = licence_index.c
        with engine.connect() as conn:
            query = select(func.count()).where(li.valid_until > low, li.valid_until <= high)
            return int(conn.scalar(query) or 0)

    ours, base, bare = [], [], []
    due = counted = in_range = 0
    for i in range(runs):
        order = [(full_pass, ours), (count_same, base)]
        for fn, sink in order if i % 2 == 0 else reversed(order):
            seconds, value = _timed(fn)
            sink.append(seconds)
            if fn is full_pass:
                due = value
            else:
                counted = value
        seconds, in_range = _timed(count_range)
        bare.append(seconds)
    if due != counted:
        raise AssertionError(f"scan found {due} due, COUNT(*) says {counted}")
    ours_s, base_s, bare_s = statistics.median(ours), statistics.median(base), statistics.median(bare)
    notes = (
        f"{n:,} licences, {in_range:,} in a window, {due:,} due; {due / ours_s:,.0f} reminders/s; "
        f"bare valid_until range COUNT {bare_s * 1e3:.1f} ms; seeded in {seed_s:.1f} s"
    )
    return [
        {
            "name": f"reminder scan full pass, {backend}",
            "ours_median_s": ours_s,
            "baseline_median_s": base_s,
            "ratio": ours_s / base_s,
            "notes": notes + f"; goal ratio <= {GOAL_RATIO:g}",
        }
    ]


FOOD = {"legal_representative": "张伟", "premises": "郑州市金水区花园路1号", "main_format": "餐饮服务经营者"}


def _recording_row(backend: str, url: str, home: Path, due: int) -> Row:
    """A whole scheduler pass over `due` licences of a real region against bare single-event ledger appends."""
    settings = Settings(home=home, database_url=url, key_passphrase="bench-reminders")
    at = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)  # a chosen instant: the region is initialised on it
    init_region(settings, None, None, None, StartedClock(at)).close()
    start = at + timedelta(minutes=1)  # token keys are valid from init
    region = open_region(settings, StartedClock(start))
    try:
        outbox = OutboxStore(region.store.engine)
        outbox.subscribe(OwnerKind.DEPARTMENT, "11410100007409378P", Channel.WEBHOOK, "https://zz.example/h", start)
        holder = "91350100M000100Y43"
        digest = region.licences.holder_digest_of(holder)
        outbox.subscribe(OwnerKind.HOLDER, digest, Channel.EMAIL, "shop@example.com", start)
        requests = [
            IssueRequest(
                "food-business-licence",
                "zz-amr",
                holder,
                "郑州鼎盛商贸有限公司",
                {**FOOD, "business_items": "热食类食品制售"},
                start - timedelta(days=400),
                start + timedelta(days=10, minutes=i),
            )
            for i in range(due)
        ]
        for first in range(0, due, 100):
            region.licences.issue_batch(requests[first : first + 100])
        catalogue = region.catalogue
        scheduler = ReminderScheduler(
            service=region.licences,
            scan=ReminderScan(region.store.engine),
            outbox=outbox,
            catalogue=catalogue,
            messages=load_reminder_catalogue(catalogue),
            clock=lambda: start,
            digests=False,
            metrics=ReminderMetrics(),
        )
        seconds, _ = _timed(lambda: scheduler.run_once().recorded)
        recorded = len([r for r in outbox.rows(limit=10 * due) if r.kind == "reminder"]) // 2
        if recorded != due:
            raise AssertionError(f"{recorded} of {due} reminders recorded")
        topic = "bench.reminders:Event"
        events = [StoredEvent(uuid.uuid4(), 1, topic, b'{"n": 1}') for _ in range(due)]
        base_s, _ = _timed(lambda: sum(len(region.recorder.insert_events([e]) or []) for e in events))
    finally:
        region.close()
    return {
        "name": f"scheduler pass with recording, {backend}",
        "ours_median_s": seconds / due,
        "baseline_median_s": base_s / due,
        "ratio": seconds / base_s,
        "notes": f"{due} due licences, 2 outbox rows each: {due / seconds:,.0f} reminders/s; "
        f"bare single-event append {due / base_s:,.0f} events/s (one run each)",
    }


def _recording_rows(due: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(_recording_row("sqlite", f"sqlite:///{Path(tmp) / 'r.db'}", Path(tmp) / "sqlite", due))
        schema = f"bench_rrec_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception:
            admin.dispose()
            return rows
        try:
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
            rows.append(_recording_row("postgresql", url, Path(tmp) / "pg", due))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    return rows


def run(quick: bool, licences: int | None = None) -> list[Row]:
    """Rows: the full reminder scan against COUNT(*) of the same window, on SQLite and PostgreSQL."""
    n = licences or (100_000 if quick else 1_000_000)
    runs = 3 if quick else 5
    rows: list[Row] = []
    for backend in ("sqlite", "postgresql"):
        with _database(backend) as engine:
            if engine is None:
                rows.append(
                    {
                        "name": f"reminder scan, {backend}",
                        "ours_median_s": 0,
                        "baseline_median_s": 1,
                        "ratio": 0,
                        "notes": "PostgreSQL not reachable: skipped",
                    }
                )
                continue
            rows += _backend_rows(backend, engine, n, runs)
    return rows + _recording_rows(60 if quick else 300)
