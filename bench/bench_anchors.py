"""Witness cosigning rate, and cross-region verification latency against local verification.

Witness: C2SP tlog-witness add-checkpoint against raw Ed25519 sign + verify of the same bytes.

Ours, per checkpoint: parse the request, verify the log's signature on the note, verify the RFC 9162 consistency
proof from the last cosigned size, compare-and-swap the stored state (SQLite file; PostgreSQL when reachable), and
sign the cosignature/v1 message. Baseline, measured in the same run: `cryptography`'s Ed25519 verify of the log
signature over the same note text plus Ed25519 sign of the same cosigned message — the floor any witness pays.
A third row runs the same checks against an in-memory state, to show what the database round trips cost.

Cross-region (goal ratio <= 1.5): regions A (河南) and B (江苏) as two `trustledger serve` processes on
loopback (SQLite, rate limit off), peered and synced, B recognising A's business licences; A issues licences and B
verifies each once, so B holds A's trust list, checkpoint and the proven minting leaves ("peer data cached"). Then,
interleaved request by request over kept-alive connections: ours = `POST B/v1/federation/verify` with A's token (B:
token under A's cached trust list, cached inclusion re-checked against B's stored checkpoint, acceptance rule, A's
status over HTTP, the use written to B's ledger); baseline = `POST A/v1/federation/verify` with the same token (A's
own licence: the ledger check and the use recorded on the licence). A second row times the verification alone in this
process: `CrossRegionVerifier.verify` on B's data (A's status still over HTTP) against `check_token` on A's. A third
row is the first verification of each licence (B has not proven its leaf yet), timed during the warm-up.
Run: `python -m bench anchors [--quick]`; the cross-region section alone: `python -m bench.bench_anchors --crossregion`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
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
    return rows + crossregion_rows(quick)


# -- cross-region verification ---------------------------------------------------------------------------------------

XR_BUSINESS = "11100000000013338W001"
XR_ISSUER = "11410100007409378P"  # 郑州市市场监督管理局
XR_USE = {"matter_code": "320100-KB-001", "purpose": "跨省通办 开办企业", "consent": "授权书 bench"}


@dataclass
class _Region:
    code: str
    name: str
    origin: str
    home: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLEDGER_")}
        return env | {
            "TRUSTLEDGER_HOME": str(self.home),
            "TRUSTLEDGER_PUBLIC_BASE_URL": self.url,
            "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
            "TRUSTLEDGER_REMIND_IN_SERVE": "false",
        }

    def cli(self, *args: str) -> Any:
        from typer.testing import CliRunner

        from trustledger.cli import app

        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TRUSTLEDGER_")}
        env |= {k: v for k, v in self.env().items() if k.startswith("TRUSTLEDGER_")}
        result = CliRunner().invoke(app, ["--json", *args], env=env)
        if result.exit_code != 0:
            raise RuntimeError(f"trustledger {' '.join(args)}: {result.stderr}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def settings(self) -> Any:
        from trustledger.settings import Settings

        return Settings(home=self.home, public_base_url=self.url, public_rate_limit=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(regions: list[_Region], directory: Path) -> None:
    exe = str(Path(sys.executable).with_name("trustledger"))
    inits = []
    for r in regions:
        args = [exe, "init", "--region-code", r.code, "--region-name", r.name, "--origin", r.origin]
        inits.append(subprocess.Popen(args, env=r.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in inits:
        if p.wait(300) != 0:
            raise RuntimeError("trustledger init failed")
    for r in regions:
        log = (directory / f"{r.port}.log").open("wb")
        args = [exe, "serve", "--port", str(r.port)]
        r.proc = subprocess.Popen(args, env=r.env(), stdout=log, stderr=subprocess.STDOUT)
    for r in regions:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(r.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or (r.proc is not None and r.proc.poll() is not None):
                raise RuntimeError(f"{r.origin} did not start")
            time.sleep(0.1)


def _issue_tokens(a: _Region, count: int) -> list[str]:
    from demo.synthetic import SyntheticHolders
    from trustledger.region import open_region

    holders = SyntheticHolders(seed=7)
    fields = {
        "legal_representative": "张三",
        "established_on": "2023-04-03",
        "address": "河南省郑州市金水区花园路 1 号",
    }
    region = open_region(a.settings())
    try:
        tokens = []
        for _ in range(count):
            org = holders.organisation()
            view = region.licences.issue(
                type_code=XR_BUSINESS, issuer=XR_ISSUER, holder_id=org.uscc, holder_name=org.name, fields=fields
            )
            tokens.append(view.qr_url)
        region.sign_checkpoint()
        return tokens
    finally:
        region.close()


def _post_timer(client: httpx.Client, url: str, key: str) -> Callable[[str], float]:
    headers = {"Authorization": f"Bearer {key}"}

    def post(token: str) -> float:
        start = time.perf_counter()
        response = client.post(url + "/v1/federation/verify", json={"token": token, **XR_USE}, headers=headers)
        elapsed = time.perf_counter() - start
        if response.status_code != 200 or response.json()["verdict"] != "valid":
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        return elapsed

    return post


def _interleaved(
    ours: Callable[[str], float], base: Callable[[str], float], tokens: list[str], runs: int
) -> tuple[float, float]:
    """Medians over runs of the per-request median, ours and baseline alternating request by request."""
    o_runs, b_runs = [], []
    for _ in range(runs):
        o, b = [], []
        for token in tokens:
            o.append(ours(token))
            b.append(base(token))
        o_runs.append(statistics.median(o))
        b_runs.append(statistics.median(b))
    return statistics.median(o_runs), statistics.median(b_runs)


def _in_process(a: _Region, b: _Region, tokens: list[str], runs: int) -> tuple[float, float]:
    from signatures.cose import parse_token_text
    from trustledger.crossregion import cross_region_verifier, verify_http_client
    from trustledger.region import open_region
    from verify_api.tokens import check_token

    ra, rb = open_region(a.settings()), open_region(b.settings())
    http = verify_http_client()
    try:
        verifier = cross_region_verifier(rb, http)
        data = [parse_token_text(t) for t in tokens]
        by_token = dict(zip(tokens, data, strict=True))

        def ours(token: str) -> float:
            start = time.perf_counter()
            if not verifier.verify(by_token[token]).valid:
                raise RuntimeError("cross-region verification failed in process")
            return time.perf_counter() - start

        def base(token: str) -> float:
            start = time.perf_counter()
            if not check_token(ra, by_token[token]).valid:
                raise RuntimeError("local verification failed in process")
            return time.perf_counter() - start

        try:
            return _interleaved(ours, base, tokens, runs)
        finally:
            verifier.close()
    finally:
        http.close()
        ra.close()
        rb.close()


def two_regions(directory: Path) -> tuple[_Region, _Region]:
    """Region A (河南, the licences' home) and region B (江苏, the verifier), not yet started, under `directory`."""
    a = _Region("410000", "河南省", "ledger.ha.gov.example/log", directory / "ha", _free_port())
    b = _Region("320000", "江苏省", "ledger.js.gov.example/log", directory / "js", _free_port())
    return a, b


def crossregion_rows(quick: bool) -> list[dict[str, Any]]:
    """Rows: B verifying A's licence against A verifying it, over HTTP (use recorded) and in process (checks only)."""
    count, runs = (20, 3) if quick else (100, 5)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        a, b = two_regions(directory)
        try:
            _start([a, b], directory)
            a.cli("peers", "add", b.url)
            b.cli("peers", "add", a.url)
            b.cli("peers", "accept", a.origin, "--types", XR_BUSINESS)
            tokens = _issue_tokens(a, count)
            b.cli("peers", "sync")
            keys = [r.cli("apikey", "create", "--role", "verifier", "--principal", "bench")["key"] for r in (a, b)]
            with httpx.Client(timeout=30, trust_env=False) as client:
                cross, local = _post_timer(client, b.url, keys[1]), _post_timer(client, a.url, keys[0])
                # First verification of each licence: B fetches and proves the minting leaf (two more round trips
                # to A, and a sync when its checkpoint is older than the leaf); A's is the same as every later one.
                first = [(cross(token), local(token)) for token in tokens]
                cold_ours, cold_base = statistics.median(f[0] for f in first), statistics.median(f[1] for f in first)
                http_ours, http_base = _interleaved(cross, local, tokens, runs)
            fn_ours, fn_base = _in_process(a, b, tokens, runs)
        finally:
            for r in (a, b):
                if r.proc is not None:
                    r.proc.terminate()
                    r.proc.wait(30)
    what = f"{count} licences × {runs} runs, interleaved, medians"
    return [
        _row(
            "cross-region verify (B) vs local (A), HTTP",
            http_ours,
            http_base,
            "s/request",
            f"POST /v1/federation/verify, use recorded in both; {what}; goal ratio <= 1.5",
        ),
        _row(
            "  same, first verification of each licence",
            cold_ours,
            cold_base,
            "s/request",
            f"B fetches the minting leaf and its proof from A (not cached yet); {count} licences, once each",
        ),
        _row(
            "  same, verification only, in process",
            fn_ours,
            fn_base,
            "s/verification",
            "CrossRegionVerifier.verify (A's status over HTTP) vs check_token on A's ledger",
        ),
    ]


if __name__ == "__main__":
    from bench.__main__ import print_table

    quick = "--quick" in sys.argv
    rows = crossregion_rows(quick) if "--crossregion" in sys.argv else run(quick)  # --crossregion: that section only
    print_table([("anchors", r) for r in rows])
