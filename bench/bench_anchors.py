"""Witness cosigning rate: C2SP tlog-witness add-checkpoint against raw Ed25519 sign + verify of the same bytes.

Ours, per checkpoint: parse the request, verify the log's signature on the note, verify the RFC 9162 consistency
proof from the last cosigned size, compare-and-swap the stored state (SQLite file; PostgreSQL when reachable), and
sign the cosignature/v1 message. Baseline, measured in the same run: `cryptography`'s Ed25519 verify of the log
signature over the same note text plus Ed25519 sign of the same cosigned message — the floor any witness pays.
A third row runs the same checks against an in-memory state, to show what the database round trips cost.
Run: `python -m bench anchors [--quick]`.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine, text

from anchors.cosignature import CosignatureSigner, cosigned_message
from anchors.model import WitnessedLog
from anchors.store import AnchorStore
from anchors.witness import AddCheckpointRequest, Witness
from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, make_engine
from signatures.note import CheckpointBody, NoteSigner, sign_note

ORIGIN = "ledger.ha.gov.example/log"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 21, tzinfo=UTC)
STEP = 7  # leaves between consecutive checkpoints


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def _build_log(directory: Path, leaves: int) -> Log:
    store = LedgerStore(make_engine(f"sqlite:///{directory / 'log.db'}"))
    store.create_tables()
    recorder = LedgerRecorder(store, clock=lambda: NOW)
    for first in range(0, leaves, 5000):
        n = min(5000, leaves - first)
        events = [
            StoredEvent(uuid.uuid4(), 1, "bench:Synthetic", json.dumps({"n": first + i}).encode()) for i in range(n)
        ]
        recorder.insert_events(events)
    return Log(store, ORIGIN)


def _requests(log: Log, signer: NoteSigner, base: int, count: int) -> list[tuple[bytes, str, int]]:
    """`count` add-checkpoint bodies growing by STEP leaves from `base`, each with its real consistency proof."""
    out = []
    previous = base
    for k in range(1, count + 1):
        size = base + k * STEP
        _, root = log.root(size)
        body_text = CheckpointBody(ORIGIN, size, root).to_text()
        note = sign_note(body_text, signer)
        proof = tuple(log.consistency_proof(previous, size))
        out.append((AddCheckpointRequest(previous, proof, note).to_body(), body_text, len(proof)))
        previous = size
    return out


class _MemoryState:
    """The two store methods the witness uses, in memory (no database): isolates the cost of the checks."""

    def __init__(self, verifier_key: str) -> None:
        self.key = verifier_key
        self.state = WitnessedLog(ORIGIN, (verifier_key,))

    def witnessed_log(self, origin: str) -> WitnessedLog | None:
        return self.state if origin == ORIGIN else None

    def advance_witnessed_log(
        self, origin: str, decide: Callable[[WitnessedLog | None], tuple[int, bytes, str]], now: datetime
    ) -> WitnessedLog:
        size, root_hash, note = decide(self.witnessed_log(origin))
        self.state = WitnessedLog(ORIGIN, (self.key,), size, root_hash, note, self.state.version + 1, now)
        return self.state

    def reset(self, base: tuple[int, bytes, str]) -> None:
        self.state = WitnessedLog(ORIGIN, (self.key,), base[0], base[1], base[2], 0, NOW)


def _sql_reset(store: AnchorStore) -> Callable[[tuple[int, bytes, str]], None]:
    def reset(base: tuple[int, bytes, str]) -> None:
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE anchor_witness_logs SET tree_size = :s, root_hash = :r, note = :n, version = 0"),
                {"s": base[0], "r": base[1], "n": base[2]},
            )

    return reset


def _measure(
    witness: Witness,
    reset: Callable[[tuple[int, bytes, str]], None],
    base: tuple[int, bytes, str],
    requests: list[tuple[bytes, str, int]],
    baselines: list[Callable[[int], object]],
    runs: int,
    chunk: int = 25,
) -> list[float]:
    """Medians over `runs` of seconds per checkpoint: ours, then each baseline, alternating every `chunk` items."""
    times: list[list[float]] = [[] for _ in range(1 + len(baselines))]
    for _ in range(runs):
        reset(base)
        totals = [0.0] * len(times)
        for first in range(0, len(requests), chunk):
            part = range(first, min(first + chunk, len(requests)))
            start = time.perf_counter()
            for i in part:
                witness.add_checkpoint(requests[i][0])
            totals[0] += time.perf_counter() - start
            for k, baseline in enumerate(baselines, start=1):
                start = time.perf_counter()
                for i in part:
                    baseline(i)
                totals[k] += time.perf_counter() - start
        for k, total in enumerate(totals):
            times[k].append(total / len(requests))
    return [statistics.median(t) for t in times]


def _durable_commit(store: AnchorStore) -> Callable[[int], None]:
    """One committed single-row update on the same database: what persisting any witness state must cost."""

    def commit(_: int) -> None:
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE bench_floor SET n = n + 1"))

    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_floor (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO bench_floor (n) VALUES (0)"))
    return commit


def _row(name: str, ours: float, base: float, unit: str, notes: str) -> dict[str, object]:
    return {"name": name, "ours_median_s": ours, "baseline_median_s": base, "ratio": ours / base, "unit": unit} | {
        "notes": notes
    }


def _pg_store() -> tuple[AnchorStore, Callable[[], None]] | None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception:  # no PostgreSQL here: the SQLite row stands alone
        return None
    store = AnchorStore(make_engine(f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"))
    store.create_tables()

    def drop() -> None:
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return store, drop


def run(quick: bool) -> list[dict[str, Any]]:
    """Rows: witness add-checkpoint on SQLite, PostgreSQL and in memory, each against raw Ed25519 sign + verify."""
    leaves, items, runs = (20_000, 60, 3) if quick else (1_000_000, 400, 7)
    log_signer = NoteSigner(ORIGIN, _key("log"))
    cosigner = CosignatureSigner("ledger.js.gov.example/witness", _key("witness"))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        base_size = leaves - items * STEP
        log = _build_log(directory, leaves)
        _, base_root = log.root(base_size)
        base = (base_size, base_root, sign_note(CheckpointBody(ORIGIN, base_size, base_root).to_text(), log_signer))
        requests = _requests(log, log_signer, base_size, items)
        log.store.close()
        public = log_signer.private_key.public_key()
        signatures = [log_signer.private_key.sign(r[1].encode()) for r in requests]
        stamp = int(NOW.timestamp())

        def baseline(i: int) -> None:
            public.verify(signatures[i], requests[i][1].encode())
            cosigner.private_key.sign(cosigned_message(requests[i][1], stamp))

        rows = []
        proof_len = statistics.median(r[2] for r in requests)
        what = f"tree ~{leaves:,} leaves, +{STEP} per checkpoint, proofs of ~{proof_len:.0f} hashes"
        stores: list[tuple[str, Any, Callable[[tuple[int, bytes, str]], None], Callable[[], None] | None]] = []
        sqlite_store = AnchorStore(make_engine(f"sqlite:///{directory / 'anchors.db'}"))
        sqlite_store.create_tables()
        stores.append(("SQLite", sqlite_store, _sql_reset(sqlite_store), sqlite_store.engine.dispose))
        pg = _pg_store()
        if pg is not None:
            stores.append(("PostgreSQL", pg[0], _sql_reset(pg[0]), pg[1]))
        memory = _MemoryState(log_signer.verifier.to_string())
        stores.append(("in memory", memory, memory.reset, None))
        for label, store, reset, close in stores:
            if isinstance(store, AnchorStore):
                store.add_witnessed_log(ORIGIN, [log_signer.verifier.to_string()])
                floor = _durable_commit(store)
                baselines = [baseline, lambda i, floor=floor: (baseline(i), floor(i))]
            else:
                baselines = [baseline]
            witness = Witness(store, cosigner, lambda: NOW)
            ours, *bases = _measure(witness, reset, base, requests, baselines, runs)
            rows.append(
                _row(
                    f"witness add-checkpoint, {label}",
                    ours,
                    bases[0],
                    "s/checkpoint",
                    f"{1 / ours:,.0f} checkpoints/s vs raw Ed25519 {1 / bases[0]:,.0f}/s; {what}",
                )
            )
            if len(bases) > 1:
                rows.append(
                    _row(
                        f"  same, vs Ed25519 + 1 durable commit ({label})",
                        ours,
                        bases[1],
                        "s/checkpoint",
                        "baseline adds one committed one-row UPDATE: the floor of a witness that persists its state",
                    )
                )
            if close is not None:
                close()
    return rows


if __name__ == "__main__":
    import sys

    from bench.__main__ import print_table

    print_table([("anchors", r) for r in run("--quick" in sys.argv)])
