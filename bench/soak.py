"""A soak run, recorded once per release: mixed load on a real server, then an audit and the memory trend.

A fresh region on PostgreSQL served by `trustledger serve --workers 2` (loops running, public rate limit off), 50
driving licences issued first. Then, for `--minutes` (default 10), 50 concurrent clients draw each request at random:
80 % public checks (`GET /v1/public/verify?token=` over the 50 tokens), 15 % uses (`POST /v1/licences/{id}/verify`
over the 50 licences), 5 % writes by the issuing department — half new issues, half a lifecycle step (suspend or
reinstate, alternating) on licences issued during the soak, so the shared 50 stay valid. Every answer's status is
counted; a 503 must carry `Retry-After` (the documented "busy, retry" answer); anything else outside 2xx is a failure.
The resident memory of the server's processes is sampled every 15 s. At the end `trustledger audit` must pass.

Printed: requests/s and p50/p99 per kind, the status counts, RSS (first sample, last sample, max), the audit's
verdict. Run: `python -m bench.soak [--minutes M] [--backend postgresql|sqlite] [--workers N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.bench_api import DRIVING, VERIFY_BODY, _free_port, _issue, _stop, region_env

CLIENTS = 50
SAMPLE_EVERY_S = 15.0


@dataclass
class Tally:
    """What one kind of request got."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    busy_without_retry_after: int = 0

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "requests": len(lat),
            "rps": len(lat) / seconds,
            "p50_ms": 1e3 * statistics.median(lat) if lat else None,
            "p99_ms": 1e3 * lat[int(0.99 * (len(lat) - 1))] if lat else None,
            "statuses": dict(sorted(self.statuses.items())),
            "busy_without_retry_after": self.busy_without_retry_after,
        }


def _rss_kib(root: int) -> int:
    """Resident memory of `root` and its descendants (from /proc), in KiB."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo.extend(int(c) for c in children)
    return total


def _person_fields(number: str) -> dict[str, str]:
    """A driving licence's fields with `sex` and `date_of_birth` as the ID number encodes them (GB 11643)."""
    born = number[6:14]
    return {
        "sex": "男" if int(number[16]) % 2 else "女",
        "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}",
        "address": "郑州市",
        "first_issued_on": "2010-01-01",
        "vehicle_class": "C1",
    }


class Soak:
    """The mixed load and its counts."""

    def __init__(self, base: str, keys: dict[str, str], licences: list[dict[str, Any]], seed: int = 2026) -> None:
        self.base, self.keys, self.licences = base, keys, licences
        self.rng = random.Random(seed)
        self.tallies = {kind: Tally() for kind in ("public", "use", "issue", "lifecycle")}
        self.mine: list[str] = []  # licences issued during the soak, for lifecycle steps
        self.suspended: set[str] = set()
        from demo.synthetic import SyntheticHolders

        self.holders = SyntheticHolders(seed=seed + 1)

    def _pick(self) -> tuple[str, str, str, dict[str, Any] | None, str]:
        draw = self.rng.random()
        lic = self.rng.choice(self.licences)
        if draw < 0.80:
            return "public", "GET", f"/v1/public/verify?token={lic['token']}", None, "verifier"
        if draw < 0.95:
            return "use", "POST", f"/v1/licences/{lic['id']}/verify", VERIFY_BODY, "verifier"
        if draw < 0.975 or not self.mine:
            person = self.holders.citizen()
            body = {
                "type_code": DRIVING,
                "holder_id": person.id_number,
                "holder_name": person.name,
                "fields": _person_fields(person.id_number),
            }
            return "issue", "POST", "/v1/licences", body, "issuer"
        target = self.mine.pop(self.rng.randrange(len(self.mine)))  # back when answered: one step at a time each
        step = "reinstate" if target in self.suspended else "suspend"
        return "lifecycle", "POST", f"/v1/licences/{target}/{step}", {"reason": "soak"}, "issuer"

    async def _client(self, http: httpx.AsyncClient, until: float) -> None:
        while time.monotonic() < until:
            kind, method, path, body, role = self._pick()
            headers = {} if kind == "public" else {"Authorization": f"Bearer {self.keys[role]}"}
            start = time.monotonic()
            try:
                answer = await http.request(method, path, json=body, headers=headers)
                status = answer.status_code
            except httpx.HTTPError:
                status, answer = 0, None
            tally = self.tallies[kind]
            tally.latencies.append(time.monotonic() - start)
            tally.statuses[status] += 1
            if status == 503 and (answer is None or "retry-after" not in answer.headers):
                tally.busy_without_retry_after += 1
            if kind == "issue" and status == 201 and answer is not None:
                self.mine.append(answer.json()["id"])
            if kind == "lifecycle":
                target = path.split("/")[3]
                if status == 200:
                    self.suspended.symmetric_difference_update({target})
                self.mine.append(target)

    async def run(self, seconds: float, server_pid: int) -> dict[str, Any]:
        until = time.monotonic() + seconds
        samples: list[int] = []

        async def sample() -> None:
            while time.monotonic() < until:
                samples.append(_rss_kib(server_pid))
                await asyncio.sleep(SAMPLE_EVERY_S)

        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=self.base, timeout=60, limits=limits) as http:
            await asyncio.gather(sample(), *(self._client(http, until) for _ in range(CLIENTS)))
        samples.append(_rss_kib(server_pid))
        return {
            "kinds": {kind: t.summary(seconds) for kind, t in self.tallies.items()},
            "rss_kib": {"first": samples[0], "last": samples[-1], "max": max(samples), "samples": samples},
        }


def failures(result: dict[str, Any]) -> int:
    """Answers outside 2xx that are not a documented busy 503 with Retry-After (connection errors count)."""
    bad = 0
    for kind in result["kinds"].values():
        bad += sum(n for status, n in kind["statuses"].items() if not 200 <= int(status) < 300 and int(status) != 503)
        bad += kind["busy_without_retry_after"]
    return bad


TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))


@contextmanager
def _region(backend: str, workers: int) -> Iterator[tuple[str, dict[str, str], dict[str, str], int]]:
    """A fresh region served by the production command, `trustledger serve --workers N` (its loops running): yields
    (base URL, API keys by role, the region's environment, the server's pid)."""
    with region_env(backend) as (env, keys):
        port = _free_port()
        argv = [TRUSTLEDGER, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("trustledger serve did not start")
                time.sleep(0.2)
            yield base, keys, env, proc.pid
        finally:
            _stop(proc)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its result as JSON; exit 1 if the audit fails or an answer was a failure."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    with _region(args.backend, args.workers) as (base, keys, env, pid):
        licences = _issue(base, keys["issuer"], 50)
        started = time.time()
        result = asyncio.run(Soak(base, keys, licences).run(args.minutes * 60, pid))
        audit = subprocess.run(
            [TRUSTLEDGER, "--json", "audit"],
            env=env,
            capture_output=True,
            text=True,
        )
    result |= {
        "backend": args.backend,
        "workers": args.workers,
        "minutes": args.minutes,
        "started_unix": int(started),
        "audit": {"exit": audit.returncode, "output": (audit.stdout or audit.stderr).strip()[-500:]},
        "failures": failures(result),
        "machine": {"nproc": os.cpu_count()},
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0 if audit.returncode == 0 and result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
