"""Concurrent writers through a real `trustledger serve --workers 2` on PostgreSQL: every write lands once, the log
stays dense (its size is exactly the events written), and `trustledger audit` is green afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from demo.synthetic import SyntheticHolders
from tests.support import deadline, served
from tests.verify_api.conftest import DRIVING, driving_fields
from trustledger.region import init_region
from trustledger.settings import Settings
from verify_api.apikeys import Role
from verify_api.client import ApiProblem, TrustLedgerClient
from verify_api.store import ApiKeyStore

TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))
POLICE = "11410100003615377U"
THREADS = 4
PER_THREAD = 5


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRUSTLEDGER, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def server(pg_schema: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    env = os.environ | {
        "TRUSTLEDGER_HOME": str(tmp_path / "home"),
        "TRUSTLEDGER_DATABASE_URL": pg_schema,
        "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
        "TRUSTLEDGER_CHECKPOINT_INTERVAL": "0.2",
    }
    # As `trustledger init`, on the clock the server will use (the system clock: no TRUSTLEDGER_CLOCK_AT here).
    region = init_region(Settings(home=tmp_path / "home", database_url=pg_schema), None, None, None)
    try:
        store = ApiKeyStore(region.store.engine)
        keys = {
            role.value: store.create(role, principal, "", region.clock()).key
            for role, principal in ((Role.ISSUER, POLICE), (Role.VERIFIER, "审批系统"), (Role.OPERATOR, "ops"))
        }
    finally:
        region.close()
    with served(env, workers=2) as base:
        yield base, env, keys


def _worker(base: str, keys: dict[str, str], seed: int) -> tuple[int, list[str]]:
    """Issue licences and verify each; returns (events written, stderr-worthy errors)."""
    holders = SyntheticHolders(seed=1000 + seed)
    written = 0
    errors: list[str] = []
    with (
        TrustLedgerClient(base, keys["issuer"], timeout=60) as issuer,
        TrustLedgerClient(base, keys["verifier"], timeout=60) as verifier,
    ):
        for n in range(PER_THREAD):
            person = holders.citizen()
            try:
                lic = issuer.issue(
                    type_code=DRIVING,
                    holder_id=person.id_number,
                    holder_name=person.name,
                    fields=driving_fields(person.id_number),
                    idempotency_key=f"issue-{seed}-{n}",
                )
                written += 1
                use = verifier.verify(lic.id, matter_code="M-1", purpose="核验", consent="当面出示")
                assert use.outcome == "accepted"
                written += 1
                if n % 3 == 0:
                    issuer.suspend(lic.id, reason="核查")
                    written += 1
            except ApiProblem as exc:
                errors.append(f"{exc.status} {exc.type} {exc.problem.detail}")
    return written, errors


def test_concurrent_writers_on_two_workers_keep_the_log_dense_and_the_audit_green(
    server: tuple[str, dict[str, str], dict[str, str]],
) -> None:
    base, env, keys = server
    ops = TrustLedgerClient(base, keys["operator"])
    size_before = int(ops.checkpoint().splitlines()[1])
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda s: _worker(base, keys, s), range(THREADS)))
    errors = [e for _, errs in results for e in errs]
    assert errors == []
    written = sum(w for w, _ in results)
    assert written == THREADS * PER_THREAD * 2 + THREADS * len(range(0, PER_THREAD, 3))
    # both workers answered (each labels its metrics with its pid)
    pids = set()
    for _ in range(200):  # each scrape is a new connection; the kernel hands it to either worker
        text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {keys['operator']}"}).text
        pids |= set(re.findall(r'worker="(\d+)"', text))
        if len(pids) == 2:
            break
    assert len(pids) == 2
    size_after = int(httpx.get(base + "/checkpoint").text.splitlines()[1])
    budget = deadline(30)
    while size_after < size_before + written and budget:  # the signer runs every 0.2 s
        time.sleep(0.2)
        size_after = int(httpx.get(base + "/checkpoint").text.splitlines()[1])
    assert size_after == size_before + written  # dense: one leaf per acknowledged event, nothing more, no gaps
    audit = _cli(env, "--json", "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"] is True and report["leaves"] == size_after
