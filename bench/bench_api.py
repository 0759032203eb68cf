"""Benchmark of the verify API over loopback, side by side in one run with a bare FastAPI endpoint on the same server
stack (uvicorn, same loop, same HTTP parser, same workers, access log off).

Each server is `python -m uvicorn <factory> --factory` in its own process group: ours is `trustledger.server:create_app`
(what `trustledger serve` runs) on a fresh region with 20 issued licences and TRUSTLEDGER_PUBLIC_RATE_LIMIT=0; the
baseline is `bench.bench_api:bare_app`, one `GET /bare` returning a small JSON object. The load generator runs in its
own process with 50 concurrent connections: `wrk` (Debian package `wrk`) when installed, else an asyncio httpx client
(`python -m bench.bench_api --loadgen …`). Per repetition the endpoints run back to back:
/bare (the baseline), /healthz (one `SELECT 1`), a full hash tile (immutable, from memory), a published trust list
version (from memory), GET /v1/public/verify?token= (the public check), POST /v1/licences/{id}/verify (verify and
record a use: writes a LicenceInvoked event and its leaf).

Rows: requests/s (ratio = ours ÷ bare; goals: public check ≥ 0.5, tile ≥ 0.8) and p99 latency (baseline = the
50 ms goal at one worker; ratio ≤ 1 meets it). `stack` rows: the bare endpoint and the tile on uvloop + httptools
(what `serve` runs) against asyncio + h11 (uvicorn's pure-Python defaults). `accesslog` rows: what one access line
costs the request path, written at once (a JSON StreamHandler into a pipe) vs queued for the writer thread (`serve`).
Medians over the repetitions. Run: `python -m bench api [--quick]`; `TRUSTLEDGER_BENCH_CONFIGS=sqlite:1,pg:1` picks
the configurations (default: SQLite and PostgreSQL, 1 and 2 workers).
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
P99_GOAL_S = 0.050
STACKS = {"serve": ("uvloop", "httptools"), "pure-python": ("asyncio", "h11")}
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


def bare_app() -> Any:
    """The baseline: a FastAPI app with one endpoint that returns a small JSON object and touches nothing else."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, str]:  # async: no thread-pool hop, the fastest a FastAPI endpoint gets
        return {"status": "ok"}

    return app


@contextmanager
def uvicorn_server(factory: str, env: dict[str, str], workers: int, stack: str = "serve") -> Iterator[str]:
    """`python -m uvicorn factory --factory` on a free loopback port with `stack`'s loop and HTTP parser, up (it
    answers) before this yields its base URL; its process group is stopped afterwards."""
    loop, http = STACKS[stack]
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--loop", loop, "--http", http, "--no-access-log", "--log-level", "warning"]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        probe = "/bare" if factory.startswith("bench.") else "/healthz"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(base + probe, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{factory} ({stack}) did not start: {log.read()[-2000:]}")
                time.sleep(0.2)
            yield base
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (uvicorn and its workers), SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except ProcessLookupError:
        proc.wait()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def region_env(backend: str) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """A fresh region (`trustledger init`): (its environment, API keys by role)."""
    with _database(backend) as url, tempfile.TemporaryDirectory() as home:
        env = os.environ | {
            "TRUSTLEDGER_HOME": home,
            "TRUSTLEDGER_DATABASE_URL": url,
            "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
        }
        _cli(env, "init")
        # Enough leaves for full tiles (synthetic events; allowed before the region's first licence, ADR 0011).
        _cli(env, "bench", "append", "--events", "600", "--batch", "200", "--into-region")
        keys = {
            role: json.loads(_cli(env, "--json", "apikey", "create", "--role", role, "--principal", who))["key"]
            for role, who in (("issuer", POLICE), ("verifier", "bench"))
        }
        yield env, keys


@contextmanager
def serve(backend: str, workers: int, stack: str = "serve") -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh region served as `trustledger serve` serves it; yields (base URL, API keys by role)."""
    with region_env(backend) as (env, keys), uvicorn_server("trustledger.server:create_app", env, workers, stack) as b:
        yield b, keys


def _issue(base: str, issuer_key: str, n: int) -> list[dict[str, Any]]:
    from demo.synthetic import SyntheticHolders

    holders = SyntheticHolders(seed=2026)
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issuer_key}"}, timeout=30) as c:
        for _ in range(n):
            person = holders.citizen()
            born = person.id_number[6:14]  # sex and birth date as the ID number encodes them (GB 11643)
            fields = {"sex": "男" if int(person.id_number[16]) % 2 else "女", "address": "郑州市"}
            fields |= {"date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}", "first_issued_on": "2010-01-01"}
            fields["vehicle_class"] = "C1"
            body = {"type_code": DRIVING, "holder_id": person.id_number, "holder_name": person.name, "fields": fields}
            r = c.post("/v1/licences", json=body)
            r.raise_for_status()
            out.append(r.json())
    return out


# -- the rows ---------------------------------------------------------------------------------------------------------


ENDPOINTS = (  # (key, row name); `bare` is the baseline of every requests/s row
    ("healthz", "/healthz (SELECT 1)"),
    ("tile", "full tile (memory)"),
    ("trust-list", "trust list version (memory)"),
    ("public", "public token check"),
    ("verify", "verify+use"),
)


def _loads(
    bare: str, base: str, keys: dict[str, str], licences: list[dict[str, Any]]
) -> dict[str, tuple[str, str, list[str], str | None, dict[str, str]]]:
    auth = {"Authorization": f"Bearer {keys['verifier']}", "Content-Type": "application/json"}
    return {
        "bare": (bare, "GET", ["/bare"], None, {}),
        "healthz": (base, "GET", ["/healthz"], None, {}),
        "tile": (base, "GET", ["/tile/0/000", "/tile/0/001"], None, {}),
        "trust-list": (base, "GET", ["/v1/trust-list/1"], None, {}),
        "public": (base, "GET", [f"/v1/public/verify?token={lic['token']}" for lic in licences], None, {}),
        "verify": (
            base,
            "POST",
            [f"/v1/licences/{lic['id']}/verify" for lic in licences],
            json.dumps(VERIFY_BODY),
            auth,
        ),
    }


def _measure(
    plan: dict[str, tuple[str, str, list[str], str | None, dict[str, str]]], seconds: float, reps: int
) -> dict:
    httpx.get(plan["trust-list"][0] + "/v1/trust-list", timeout=30).raise_for_status()  # publishes version 1
    for base, method, paths, body, headers in plan.values():  # warm every worker's caches and connection pools
        load(base, method, paths, 1.0, body, **headers)
    runs: dict[str, list[Load]] = {key: [] for key in plan}
    for _ in range(reps):
        for key, (base, method, paths, body, headers) in plan.items():
            runs[key].append(load(base, method, paths, seconds, body, **headers))
    return runs


def _median(runs: list[Load], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def _rows(label: str, runs: dict[str, list[Load]]) -> list[dict[str, Any]]:
    bare_rps, bare_p99 = _median(runs["bare"], "rps"), _median(runs["bare"], "p99_s")
    rows = []
    for key, name in ENDPOINTS:
        rps, p50, p99 = _median(runs[key], "rps"), _median(runs[key], "p50_s"), _median(runs[key], "p99_s")
        failures = sum(r.failures for r in runs[key])
        goal = {"public": " (goal ≥ 0.5)", "tile": " (goal ≥ 0.8)"}.get(key, "")
        rows.append(
            {
                "name": f"{name} {label} req/s",
                "ours_median_s": rps,
                "baseline_median_s": bare_rps,
                "ratio": rps / bare_rps,
                "unit": "req/s",
                "notes": f"vs bare FastAPI{goal}; p50 {p50 * 1e3:.1f} ms; bare p99 {bare_p99 * 1e3:.1f} ms; "
                f"{failures} failed",
            }
        )
        rows.append(
            {
                "name": f"{name} {label} p99",
                "ours_median_s": p99,
                "baseline_median_s": P99_GOAL_S,
                "ratio": p99 / P99_GOAL_S,
                "notes": f"p99 at {CONNECTIONS} connections vs the 50 ms goal (≤ 1 meets)",
            }
        )
    return rows


def _stack_rows(seconds: float, reps: int) -> list[dict[str, Any]]:
    """The bare endpoint, a tile and the public check on `serve`'s stack vs uvicorn's pure-Python one (SQLite, 1w)."""
    rps: dict[tuple[str, str], list[float]] = {}
    licences: list[dict[str, Any]] = []
    with region_env("sqlite") as (env, keys):
        for stack in STACKS:
            ours = uvicorn_server("trustledger.server:create_app", env, 1, stack)
            with uvicorn_server("bench.bench_api:bare_app", env, 1, stack) as bare, ours as base:
                licences = licences or _issue(base, keys["issuer"], 20)
                plan = _loads(bare, base, keys, licences)
                chosen = {k: plan[k] for k in ("bare", "tile", "trust-list", "public")}
                for key, runs in _measure(chosen, seconds, reps).items():
                    rps[(stack, key)] = [r.rps for r in runs]
    return [
        {
            "name": f"stack {key} uvloop+httptools vs asyncio+h11",
            "ours_median_s": statistics.median(rps[("serve", key)]),
            "baseline_median_s": statistics.median(rps[("pure-python", key)]),
            "ratio": statistics.median(rps[("serve", key)]) / statistics.median(rps[("pure-python", key)]),
            "unit": "req/s",
            "notes": "SQLite, 1 worker, 50 connections; ratio > 1: `serve`'s stack is faster",
        }
        for key in ("bare", "tile", "public")
    ]


def _access_log_rows(quick: bool) -> list[dict[str, Any]]:
    """Request-path cost of one access line: a JSON StreamHandler writing into a pipe vs `serve`'s queued writer."""
    import logging
    import threading

    from verify_api.middleware import BatchingHandler, BufferedAccessLog, JsonFormatter

    n = 5_000 if quick else 50_000
    fields = {"request_id": "0" * 32, "method": "GET", "path": "/tile/0/000", "route": "/tile/{level}/{path:path}"}
    fields |= {"status": 200, "duration_ms": 0.412, "client": "127.0.0.1", "role": None, "key_id": None}
    read_fd, write_fd = os.pipe()
    drain = threading.Thread(target=lambda: [None for _ in iter(lambda: os.read(read_fd, 1 << 16), b"")], daemon=True)
    drain.start()
    results = {}
    with os.fdopen(write_fd, "w") as pipe:
        for kind in ("direct", "queued"):
            logger = logging.getLogger(f"bench.access.{kind}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            handler: logging.Handler = logging.StreamHandler(pipe) if kind == "direct" else BatchingHandler(pipe)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            send = BufferedAccessLog(logger) if kind == "queued" else (lambda f, lg=logger: lg.info("request", extra=f))
            samples = []
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(n):
                    send(fields)
                samples.append((time.perf_counter() - started) / n)
            if isinstance(send, BufferedAccessLog):
                send.close()
            handler.close()
            results[kind] = statistics.median(samples)
    drain.join(timeout=5)
    return [
        {
            "name": "access log line, request path",
            "ours_median_s": results["queued"],
            "baseline_median_s": results["direct"],
            "ratio": results["queued"] / results["direct"],
            "notes": f"per line over {n} lines: queued for the writer thread (serve) vs a JSON StreamHandler (pipe)",
        }
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    """All rows: each configuration's endpoints vs the bare endpoint, the server stacks, the access log."""
    seconds, reps = (3.0, 1) if quick else (10.0, 3)
    generator = "wrk" if shutil.which("wrk") else "httpx (async, own process)"
    print(f"# load generator: {generator}, {CONNECTIONS} connections", file=sys.stderr)
    configs = os.environ.get("TRUSTLEDGER_BENCH_CONFIGS", "sqlite:1,sqlite:2,pg:1,pg:2")
    rows: list[dict[str, Any]] = []
    for config in configs.split(","):
        backend, workers = config.split(":")
        db = "sqlite" if backend == "sqlite" else "postgresql"
        label = f"{'SQLite' if db == 'sqlite' else 'PG'} {workers}w"
        with region_env(db) as (env, keys):
            ours = uvicorn_server("trustledger.server:create_app", env, int(workers))
            with uvicorn_server("bench.bench_api:bare_app", env, int(workers)) as bare, ours as base:
                licences = _issue(base, keys["issuer"], 20)
                rows += _rows(label, _measure(_loads(bare, base, keys, licences), seconds, reps))
    rows += _stack_rows(seconds, reps)
    rows += _access_log_rows(quick)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loadgen":
        print(json.dumps(asyncio.run(_httpx_load(json.loads(sys.argv[2])))))
    else:
        for row in run("--quick" in sys.argv):
            print(row)
