"""Benchmark of group commit (ADR 0014): verify-and-use with 50 concurrent clients, batched vs one commit per use.

Rows (ours and the baseline measured in the same run, interleaved; the machine is noisy, compare ratios):
  * in-process, SQLite and PostgreSQL: 50 threads each repeating what `POST /v1/licences/{id}/verify` does after
    authentication — the use in one unit of work (`LicenceService.use`), the status proven against the newest
    checkpoint, the checkpoint covering the use, two inclusion proofs — over 20 licences. Ours: group commit
    (defaults: 256 commands, 5 ms); baseline: `TRUSTLEDGER_WRITE_BATCH_COMMANDS=1`, a commit (and a checkpoint) per
    use, which is what the write path did before. Uses/s (ratio ours ÷ baseline) and p99 (ratio ours ÷ the 50 ms goal).
  * over HTTP (a real `trustledger serve`, 50 connections, `bench.bench_api`'s load generator): verify+use with group
    commit vs with one commit per use (SQLite, 1 worker; a fresh server per repetition and mode, interleaved), and
    verify+use vs the public check in the same server (goal ratio ≥ 0.5) on SQLite with 1 worker and PostgreSQL
    with 1, 2 and 4 workers.

Run: `python -m bench group_commit [--quick]`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import bench_api
from bench.bench_api import _database
from demo.synthetic import SyntheticHolders
from ledger.ids import LeafIndex
from licences.values import LicenceId
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings
from verification import prove_current
from verify_api.evidence import Evidence

CLIENTS = 50
LICENCES = 20
P99_GOAL_S = 0.050
DRIVING = "11100000001407312X001"


def _fields(id_number: str) -> dict[str, str]:
    """A driving licence's fields, sex and birth date as the holder's ID number encodes them (GB 11643)."""
    born = id_number[6:14]
    return {
        "sex": "男" if int(id_number[16]) % 2 else "女",
        "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}",
        "address": "郑州市金水区花园路1号",
        "first_issued_on": "2010-05-01",
        "vehicle_class": "C1",
    }


# -- in process -------------------------------------------------------------------------------------------------------


@contextmanager
def _region(url: str, home: Path, batch: int) -> Iterator[Region]:
    settings = Settings(home=home, database_url=url, public_rate_limit=0, write_batch_commands=batch)
    region = open_region(settings)
    try:
        yield region
    finally:
        region.close()


def _prepare(url: str, home: Path) -> list[LicenceId]:
    settings = Settings(home=home, database_url=url, public_rate_limit=0)
    region = init_region(settings, None, None, None)
    try:
        police = region.catalogue.department("zz-traffic-police").uscc
        holders = SyntheticHolders(seed=2026)
        ids = []
        for _ in range(LICENCES):
            person = holders.citizen()
            view = region.licences.issue(
                type_code=DRIVING,
                issuer=police,
                holder_id=person.id_number,
                holder_name=person.name,
                fields=_fields(person.id_number),
            )
            ids.append(view.id)
        return ids
    finally:
        region.close()


def _verify_and_use(region: Region, evidence: Evidence, licence_id: LicenceId) -> None:
    """The route's work after authentication (verify_api.verify_routes.verify_licence), without HTTP."""
    licences = region.licences
    with region.store.write():
        result = licences.use(licence_id, verifier="bench", matter_code="BENCH-1", purpose="benchmark", consent="ok")
    view = result.licence
    prove_current(view, region.ledger_sources())
    use_leaf = LeafIndex(result.leaf_index)
    cp = evidence.covering(max(view.minted_leaf, use_leaf))
    assert evidence.inclusion(view.minted_leaf, cp) is not None and evidence.inclusion(use_leaf, cp) is not None


def _load(region: Region, ids: list[LicenceId], seconds: float) -> tuple[float, float, int]:
    """(uses/s, p99 seconds, failures) of `CLIENTS` threads for `seconds`."""
    evidence = Evidence.of(region)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS
    start = threading.Barrier(CLIENTS + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        start.wait()
        i = n
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                _verify_and_use(region, evidence, ids[i % len(ids)])
            except Exception:  # counted: a benchmark that fails must say so, not stop
                failures[n] += 1
            latencies[n].append(time.perf_counter() - t0)
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    done = sorted(x for per in latencies for x in per)
    p99 = done[min(len(done) - 1, int(0.99 * len(done)))]
    return len(done) / elapsed, p99, sum(failures)


def _in_process(backend: str, seconds: float, reps: int) -> list[dict[str, Any]]:
    with _database(backend) as url, tempfile.TemporaryDirectory() as d:
        home = Path(d) / "home"
        ids = _prepare(url, home)
        runs: dict[int, list[tuple[float, float, int]]] = {256: [], 1: []}
        for _ in range(reps):
            for batch in (256, 1):  # interleaved: ours, then the baseline, in the same region
                with _region(url, home, batch) as region:
                    _load(region, ids, min(1.0, seconds))  # warm caches and the pool
                    runs[batch].append(_load(region, ids, seconds))
    label = "SQLite" if backend == "sqlite" else "PG"
    ours_rate = statistics.median(r[0] for r in runs[256])
    base_rate = statistics.median(r[0] for r in runs[1])
    ours_p99 = statistics.median(r[1] for r in runs[256])
    base_p99 = statistics.median(r[1] for r in runs[1])
    failed = sum(r[2] for rs in runs.values() for r in rs)
    return [
        {
            "name": f"in-process verify+use {label} uses/s",
            "ours_median_s": ours_rate,
            "baseline_median_s": base_rate,
            "ratio": ours_rate / base_rate,
            "unit": "uses/s",
            "notes": f"group commit vs a commit per use, {CLIENTS} threads; {failed} failed",
        },
        {
            "name": f"in-process verify+use {label} p99",
            "ours_median_s": ours_p99,
            "baseline_median_s": P99_GOAL_S,
            "ratio": ours_p99 / P99_GOAL_S,
            "notes": f"vs the 50 ms goal (≤ 1 meets); a commit per use: p99 {base_p99 * 1e3:.0f} ms",
        },
    ]


# -- over HTTP --------------------------------------------------------------------------------------------------------


def _issue(base: str, issuer_key: str) -> list[dict[str, Any]]:
    holders = SyntheticHolders(seed=2026)
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issuer_key}"}, timeout=30) as c:
        for _ in range(LICENCES):
            person = holders.citizen()
            body = {"type_code": DRIVING, "holder_id": person.id_number, "holder_name": person.name}
            r = c.post("/v1/licences", json=body | {"fields": _fields(person.id_number)})
            r.raise_for_status()
            out.append(r.json())
    return out


@contextmanager
def _serve(backend: str, workers: int, batch: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh region served by `trustledger serve --workers N` with the given batch bound; (base URL, API keys)."""
    with _database(backend) as url, tempfile.TemporaryDirectory() as home:
        env = os.environ | {
            "TRUSTLEDGER_HOME": home,
            "TRUSTLEDGER_DATABASE_URL": url,
            "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
            "TRUSTLEDGER_WRITE_BATCH_COMMANDS": str(batch),
        }
        cli = [str(Path(sys.executable).with_name("trustledger"))]
        subprocess.run([*cli, "init"], env=env, capture_output=True, check=True)
        keys = {}
        for role, who in (("issuer", bench_api.POLICE), ("verifier", "bench")):
            out = subprocess.run(
                [*cli, "--json", "apikey", "create", "--role", role, "--principal", who],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            keys[role] = json.loads(out)["key"]
        port = bench_api._free_port()
        argv = [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            until = time.monotonic() + 60
            while not _up(base):
                if time.monotonic() > until or proc.poll() is not None:
                    raise RuntimeError("server did not start")
                time.sleep(0.2)
            yield base, keys
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _http_runs(backend: str, workers: int, batch: int, seconds: float, reps: int) -> dict[str, list[bench_api.Load]]:
    with _serve(backend, workers, batch) as (base, keys):
        licences = _issue(base, keys["issuer"])
        public = [f"/v1/public/verify?token={lic['token']}" for lic in licences]
        verify = [f"/v1/licences/{lic['id']}/verify" for lic in licences]
        auth = {"Authorization": f"Bearer {keys['verifier']}", "Content-Type": "application/json"}
        body = json.dumps(bench_api.VERIFY_BODY)
        bench_api.load(base, "GET", public, 1.0)
        bench_api.load(base, "POST", verify, 1.0, body, **auth)
        runs: dict[str, list[bench_api.Load]] = {"public": [], "verify": []}
        for _ in range(reps):
            runs["public"].append(bench_api.load(base, "GET", public, seconds))
            runs["verify"].append(bench_api.load(base, "POST", verify, seconds, body, **auth))
        return runs


def _med(runs: list[bench_api.Load], attr: str) -> float:
    return float(statistics.median(float(getattr(r, attr)) for r in runs))


def _http_rows(seconds: float, reps: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # SQLite, 1 worker: batched and a commit each, interleaved (a fresh server per repetition and mode), so the
    # machine's load drifts over both alike.
    batched: dict[str, list[bench_api.Load]] = {"public": [], "verify": []}
    one: dict[str, list[bench_api.Load]] = {"public": [], "verify": []}
    for _ in range(reps):
        for batch, into in ((256, batched), (1, one)):
            for key, got in _http_runs("sqlite", 1, batch, seconds, 1).items():
                into[key] += got
    configs = [("sqlite", 1, batched), ("postgresql", 1, None), ("postgresql", 2, None), ("postgresql", 4, None)]
    for backend, workers, measured in configs:
        label = f"{'SQLite' if backend == 'sqlite' else 'PG'} {workers}w"
        runs = measured if measured is not None else _http_runs(backend, workers, 256, seconds, reps)
        rate, public = _med(runs["verify"], "rps"), _med(runs["public"], "rps")
        failed = sum(r.failures for rs in runs.values() for r in rs)
        rows.append(
            {
                "name": f"HTTP verify+use vs public {label} req/s",
                "ours_median_s": rate,
                "baseline_median_s": public,
                "ratio": rate / public,
                "unit": "req/s",
                "notes": f"verify p50 {_med(runs['verify'], 'p50_s') * 1e3:.0f} ms; public p99 "
                f"{_med(runs['public'], 'p99_s') * 1e3:.0f} ms; {failed} failed (goal ≥ 0.5)",
            }
        )
        rows.append(
            {
                "name": f"HTTP verify+use {label} p99",
                "ours_median_s": _med(runs["verify"], "p99_s"),
                "baseline_median_s": P99_GOAL_S,
                "ratio": _med(runs["verify"], "p99_s") / P99_GOAL_S,
                "notes": f"{CLIENTS} connections vs the 50 ms goal (≤ 1 meets)",
            }
        )
        if measured is not None:
            base = _med(one["verify"], "rps")
            rows.append(
                {
                    "name": f"HTTP verify+use batched vs a commit each {label}",
                    "ours_median_s": rate,
                    "baseline_median_s": base,
                    "ratio": rate / base,
                    "unit": "req/s",
                    "notes": f"interleaved; a commit per use: p50 {_med(one['verify'], 'p50_s') * 1e3:.0f} ms, p99 "
                    f"{_med(one['verify'], 'p99_s') * 1e3:.0f} ms",
                }
            )
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """In-process rows on both databases, then the HTTP rows."""
    seconds, reps = (3.0, 1) if quick else (8.0, 3)
    rows: list[dict[str, Any]] = []
    for backend in ("sqlite", "postgresql"):
        rows += _in_process(backend, seconds, reps)
    print(f"# HTTP load generator: {'wrk' if shutil.which('wrk') else 'httpx'}", file=sys.stderr)
    rows += _http_rows(seconds, reps)
    return rows


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(row)
