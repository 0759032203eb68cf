"""Benchmark of the verify API over loopback: the verify endpoint and the public token endpoint against /healthz.

Each configuration (SQLite file or PostgreSQL schema × 1 or 2 uvicorn workers) is a real `trustledger serve`
subprocess on a fresh region with 20 issued licences and TRUSTLEDGER_PUBLIC_RATE_LIMIT=0. The load generator runs in
its own process with 50 concurrent connections: `wrk` (Debian package) when installed, else an asyncio httpx client
(`python -m bench.bench_api --loadgen …`). Per repetition the endpoints run back to back in the same server:
/healthz (baseline: one database round trip, no other work), GET /v1/public/verify?token= (token signature, key
lifecycle, minting leaf, status, masked name: reads only), POST /v1/licences/{id}/verify (the same checks as an
approval system's use, plus the write of a LicenceInvoked event and its leaf, and an inclusion proof).

Rows: requests/s (ours = the endpoint, baseline = /healthz in the same run, ratio = ours ÷ baseline; goal ≥ 0.5)
and p99 latency (baseline = the 20 ms goal, ratio = p99 ÷ goal; ≤ 1 meets it). Medians over the repetitions.
Run: `python -m bench api [--quick]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("TRUSTLEDGER_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))
CONNECTIONS = 50
P99_GOAL_S = 0.020
DRIVING = "11100000001407312X001"
POLICE = "11410100003615377U"
VERIFY_BODY = {"matter_code": "BENCH-1", "purpose": "benchmark", "consent": "synthetic"}


@dataclass(frozen=True)
class Load:
    """One load run's result."""

    rps: float
    p50_s: float
    p99_s: float
    requests: int
    failures: int


# -- the load generators ----------------------------------------------------------------------------------------------

_WRK_LUA = """
local paths = {%(paths)s}
local i = 0
wrk.method = "%(method)s"
%(body)s
%(headers)s
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n@@{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"failures":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def _wrk(base: str, method: str, paths: list[str], body: str | None, headers: dict[str, str], seconds: float) -> Load:
    lua = _WRK_LUA % {
        "paths": ", ".join(json.dumps(p) for p in paths),
        "method": method,
        "body": f"wrk.body = {json.dumps(body)}" if body else "",
        "headers": "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(f.name)
    doc = json.loads(out.split("@@", 1)[1])
    return Load(
        doc["requests"] / (doc["duration_us"] / 1e6),
        doc["p50_us"] / 1e6,
        doc["p99_us"] / 1e6,
        doc["requests"],
        doc["failures"],
    )


async def _httpx_load(spec: dict[str, Any]) -> dict[str, Any]:
    """The fallback generator: `connections` tasks sending requests for `seconds`, one shared connection pool."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=spec["connections"], max_keepalive_connections=spec["connections"])
    async with httpx.AsyncClient(base_url=spec["base"], limits=limits, timeout=10) as client:
        stop = time.perf_counter() + spec["seconds"]
        counter = iter(range(10**9))

        async def one() -> None:
            nonlocal failures
            while time.perf_counter() < stop:
                path = spec["paths"][next(counter) % len(spec["paths"])]
                t0 = time.perf_counter()
                r = await client.request(spec["method"], path, content=spec["body"], headers=spec["headers"])
                latencies.append(time.perf_counter() - t0)
                failures += r.status_code >= 400

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(spec["connections"])))
        elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"requests": len(latencies), "seconds": elapsed, "p50": pick(0.5), "p99": pick(0.99), "failures": failures}


def _httpx(base: str, method: str, paths: list[str], body: str | None, headers: dict[str, str], seconds: float) -> Load:
    spec = {"base": base, "method": method, "paths": paths, "body": body, "headers": headers}
    spec |= {"seconds": seconds, "connections": CONNECTIONS}
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_api", "--loadgen", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    doc = json.loads(out)
    return Load(doc["requests"] / doc["seconds"], doc["p50"], doc["p99"], doc["requests"], doc["failures"])


def load(base: str, method: str, paths: list[str], seconds: float, body: str | None = None, **headers: str) -> Load:
    """Run one load with the best generator available (each in its own process)."""
    gen = _wrk if shutil.which("wrk") else _httpx
    return gen(base, method, paths, body, headers, seconds)


# -- the server under test --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/bench.db"
        return
    schema = f"bench_api_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([TRUSTLEDGER, *args], env=env, capture_output=True, text=True, check=True).stdout


@contextmanager
def serve(backend: str, workers: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh region served by `trustledger serve --workers N`; yields (base URL, API keys by role)."""
    with _database(backend) as url, tempfile.TemporaryDirectory() as home:
        env = os.environ | {
            "TRUSTLEDGER_HOME": home,
            "TRUSTLEDGER_DATABASE_URL": url,
            "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
        }
        _cli(env, "init")
        keys = {
            role: json.loads(_cli(env, "--json", "apikey", "create", "--role", role, "--principal", who))["key"]
            for role, who in (("issuer", POLICE), ("verifier", "bench"))
        }
        port = _free_port()
        proc = subprocess.Popen(
            [TRUSTLEDGER, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
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


def _issue(base: str, issuer_key: str, n: int) -> list[dict[str, Any]]:
    from demo.synthetic import SyntheticHolders

    holders = SyntheticHolders(seed=2026)
    fields = {"sex": "男", "address": "郑州市", "date_of_birth": "1990-01-01", "first_issued_on": "2010-01-01"}
    fields["vehicle_class"] = "C1"
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issuer_key}"}, timeout=30) as c:
        for _ in range(n):
            person = holders.citizen()
            body = {"type_code": DRIVING, "holder_id": person.id_number, "holder_name": person.name, "fields": fields}
            r = c.post("/v1/licences", json=body)
            r.raise_for_status()
            out.append(r.json())
    return out


# -- the rows ---------------------------------------------------------------------------------------------------------


def _measure(base: str, keys: dict[str, str], licences: list[dict[str, Any]], seconds: float, reps: int) -> dict:
    public_paths = [f"/v1/public/verify?token={lic['token']}" for lic in licences]
    verify_paths = [f"/v1/licences/{lic['id']}/verify" for lic in licences]
    auth = {"Authorization": f"Bearer {keys['verifier']}", "Content-Type": "application/json"}
    body = json.dumps(VERIFY_BODY)
    for warm in (["/healthz"], public_paths):  # warm every worker's caches and connection pools
        load(base, "GET", warm, 1.0)
    load(base, "POST", verify_paths, 1.0, body, **auth)
    runs: dict[str, list[Load]] = {"healthz": [], "public": [], "verify": []}
    for _ in range(reps):
        runs["healthz"].append(load(base, "GET", ["/healthz"], seconds))
        runs["public"].append(load(base, "GET", public_paths, seconds))
        runs["verify"].append(load(base, "POST", verify_paths, seconds, body, **auth))
    return runs


def _median(runs: list[Load], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def _rows(label: str, runs: dict[str, list[Load]]) -> list[dict[str, Any]]:
    base_rps = _median(runs["healthz"], "rps")
    base_p50, base_p99 = _median(runs["healthz"], "p50_s"), _median(runs["healthz"], "p99_s")
    rows = []
    for key, name in (("public", "public token"), ("verify", "verify+use")):
        rps, p50, p99 = _median(runs[key], "rps"), _median(runs[key], "p50_s"), _median(runs[key], "p99_s")
        failures = sum(r.failures for r in runs[key])
        rows.append(
            {
                "name": f"{name} {label} req/s",
                "ours_median_s": rps,
                "baseline_median_s": base_rps,
                "ratio": rps / base_rps,
                "unit": "req/s",
                "notes": f"p50 {p50 * 1e3:.1f} ms; /healthz p50 {base_p50 * 1e3:.1f} p99 {base_p99 * 1e3:.1f} ms; "
                f"{failures} failed (goal ratio ≥ 0.5)",
            }
        )
        rows.append(
            {
                "name": f"{name} {label} p99",
                "ours_median_s": p99,
                "baseline_median_s": P99_GOAL_S,
                "ratio": p99 / P99_GOAL_S,
                "notes": f"p99 at {CONNECTIONS} connections vs the 20 ms goal (≤ 1 meets)",
            }
        )
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """All rows: SQLite and PostgreSQL, 1 and 2 workers."""
    seconds, reps = (3.0, 1) if quick else (10.0, 3)
    generator = "wrk" if shutil.which("wrk") else "httpx (async, own process)"
    print(f"# load generator: {generator}, {CONNECTIONS} connections", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    for backend in ("sqlite", "postgresql"):
        for workers in (1, 2):
            label = f"{'SQLite' if backend == 'sqlite' else 'PG'} {workers}w"
            with serve(backend, workers) as (base, keys):
                licences = _issue(base, keys["issuer"], 20)
                rows += _rows(label, _measure(base, keys, licences, seconds, reps))
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loadgen":
        print(json.dumps(asyncio.run(_httpx_load(json.loads(sys.argv[2])))))
    else:
        for row in run("--quick" in sys.argv):
            print(row)
