"""A burst of writers through a real `trustledger serve`: 64 issues and 64 uses at once, on SQLite with one worker and
on PostgreSQL with two. Every answer is 2xx (a 503 + Retry-After is retried by the client and then completes), the
log stays dense (one leaf per acknowledged event), and `trustledger audit` is green afterwards.

Before the unit of work, 16 such writers stalled one server for 30 s and most failed with 500: a writer holding the
log's lock asked the pool for a second connection that the waiting writers held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.synthetic import SyntheticHolders
from ledger.store import LedgerStore
from tests.support import served as served_by
from tests.support import stopwatch
from tests.verify_api.conftest import DRIVING, driving_fields
from trustledger.region import init_region
from trustledger.settings import Settings
from verify_api.apikeys import Role
from verify_api.client import ApiProblem, TrustLedgerClient
from verify_api.store import ApiKeyStore

TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))
POLICE = "11410100003615377U"
ISSUES = 64
USES = 64
PREISSUED = 8


@dataclass
class Served:
    base: str
    url: str
    env: dict[str, str]
    keys: dict[str, str]
    workers: int
    clock_at: str


NEW_YEAR_IN_CHINA = "2027-12-31T18:00:00Z"


@pytest.fixture(
    params=[("sqlite", 1, ""), ("postgresql", 2, ""), ("sqlite", 2, NEW_YEAR_IN_CHINA)],
    ids=["sqlite-1-worker", "postgresql-2-workers", "sqlite-2-workers-at-new-year-in-china"],
)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A real server; with TRUSTLEDGER_CLOCK_AT every worker must live on one timeline (a licence issued on one
    worker is valid on the other at once)."""
    backend, workers, clock_at = request.param
    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if backend == "sqlite" else request.getfixturevalue("pg_schema")
    env = os.environ | {
        "TRUSTLEDGER_HOME": str(home),
        "TRUSTLEDGER_DATABASE_URL": url,
        "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
        "TRUSTLEDGER_CHECKPOINT_INTERVAL": "0.2",
        "TRUSTLEDGER_REMIND_IN_SERVE": "false",
        "TRUSTLEDGER_CLOCK_AT": clock_at,
    }
    settings = Settings(home=home, database_url=url, clock_at=clock_at)
    region = init_region(settings, None, None, None)  # as `trustledger init`, on the same clock setting
    try:
        store = ApiKeyStore(region.store.engine)
        keys = {
            role.value: store.create(role, principal, "", region.clock()).key
            for role, principal in ((Role.ISSUER, POLICE), (Role.VERIFIER, "审批系统"), (Role.OPERATOR, "ops"))
        }
    finally:
        region.close()
    with served_by(env, workers) as base:
        yield Served(base, url, env, keys, workers, clock_at)


def _checkpoint_size(base: str) -> int:
    return int(httpx.get(base + "/checkpoint").text.splitlines()[1])


def _stored_size(url: str) -> int:
    """The log's size as stored now (a checkpoint may lag the last acknowledged write by one signing interval)."""
    store = LedgerStore.from_url(url)
    try:
        return store.size()
    finally:
        store.close()


def test_a_burst_of_64_issues_and_64_uses_is_served_dense_and_audited(served: Served) -> None:
    holders = SyntheticHolders(seed=4242)
    people = [holders.citizen() for _ in range(PREISSUED + ISSUES)]
    with TrustLedgerClient(served.base, served.keys["issuer"], timeout=60) as issuer:
        targets = [
            issuer.issue(
                type_code=DRIVING, holder_id=p.id_number, holder_name=p.name, fields=driving_fields(p.id_number)
            ).id
            for p in people[:PREISSUED]
        ]
    size_before = _stored_size(served.url)
    start = threading.Barrier(ISSUES + USES)
    retried: list[float] = []

    def counted_sleep(seconds: float) -> None:
        retried.append(seconds)
        time.sleep(seconds)

    def issue(n: int) -> tuple[str, datetime]:
        person = people[PREISSUED + n]
        with TrustLedgerClient(
            served.base, served.keys["issuer"], timeout=60, retries=10, sleep=counted_sleep
        ) as client:
            start.wait()
            lic = client.issue(
                type_code=DRIVING,
                holder_id=person.id_number,
                holder_name=person.name,
                fields=driving_fields(person.id_number),
                idempotency_key=f"burst-issue-{n}",
            )
            return lic.identifier, lic.valid_from

    def use(n: int) -> str:
        with TrustLedgerClient(
            served.base, served.keys["verifier"], timeout=60, retries=10, sleep=counted_sleep
        ) as client:
            start.wait()
            answer = client.verify(
                targets[n % PREISSUED],
                matter_code="410100-XK-001",
                purpose="并发核验",
                consent="当面出示",
                idempotency_key=f"burst-use-{n}",
            )
            return answer.outcome

    jobs = [("issue", n) for n in range(ISSUES)] + [("use", n) for n in range(USES)]
    failures: list[str] = []
    began = stopwatch()
    with ThreadPoolExecutor(ISSUES + USES) as pool:
        futures = [pool.submit(issue if kind == "issue" else use, n) for kind, n in jobs]
        results: list[Any] = []
        for f in futures:
            try:
                results.append(f.result(timeout=300))
            except ApiProblem as exc:
                failures.append(f"{exc.status} {exc.type}: {exc.problem.detail}")
    wall = began.seconds
    print(f"\n{ISSUES} issues + {USES} uses on {served.workers} worker(s): {wall:.2f} s, {len(retried)} retries")
    assert failures == []
    assert len({identifier for identifier, _ in results[:ISSUES]}) == ISSUES  # 64 licences, 64 identifiers
    if served.clock_at:  # the server lives at the chosen instant, every worker on the same timeline
        at = datetime.fromisoformat(served.clock_at)
        assert all(at <= valid_from < at + timedelta(minutes=10) for _, valid_from in results[:ISSUES])
    assert results[ISSUES:] == ["accepted"] * USES

    written = ISSUES + USES  # one leaf per issue, one per use
    size_after = _stored_size(served.url)
    assert size_after == size_before + written  # dense: nothing lost, nothing doubled, no gaps
    for _ in range(150):  # the checkpoint signer runs every 0.2 s: the next checkpoint covers every acknowledged write
        if _checkpoint_size(served.base) == size_after:
            break
        time.sleep(0.2)
    assert _checkpoint_size(served.base) == size_after
    audit = subprocess.run(
        [TRUSTLEDGER, "--json", "audit"], env=served.env, capture_output=True, text=True, timeout=120, check=False
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"] is True
    assert report["leaves"] == size_after
