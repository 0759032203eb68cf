"""Group commit loses nothing it acknowledged (ADR 0014): a real `trustledger serve` under concurrent uses is killed
with SIGKILL mid-load, on SQLite (one worker) and PostgreSQL (two workers). Every use that was answered 200 is in
the log afterwards — at the leaf index the answer gave, in the stream of the use it named — the checkpoint it was
proven against is stored, the log is dense and `trustledger audit` is green; the restarted server goes on writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from demo.synthetic import SyntheticHolders
from ledger.store import LedgerStore
from tests.support import deadline, free_port
from tests.support import served as served_by
from tests.verify_api.conftest import DRIVING, driving_fields
from trustledger.region import init_region
from trustledger.settings import Settings
from verify_api.apikeys import Role
from verify_api.client import TrustLedgerClient
from verify_api.store import ApiKeyStore

TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))
POLICE = "11410100003615377U"
CLIENTS = 16
KILL_AFTER = 80  # acknowledged uses before the server is killed (the clients keep firing as it dies)


@dataclass(frozen=True)
class Acked:
    """What one 200 answer promised: the use's stream, its leaf, and the checkpoint it was proven against."""

    use_id: str
    leaf_index: int
    tree_size: int
    note: str


@dataclass
class Setup:
    url: str
    env: dict[str, str]
    keys: dict[str, str]
    workers: int


@pytest.fixture(params=[("sqlite", 1), ("postgresql", 2)], ids=["sqlite-1-worker", "postgresql-2-workers"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    backend, workers = request.param
    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if backend == "sqlite" else request.getfixturevalue("pg_schema")
    env = os.environ | {
        "TRUSTLEDGER_HOME": str(home),
        "TRUSTLEDGER_DATABASE_URL": url,
        "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
        "TRUSTLEDGER_REMIND_IN_SERVE": "false",
        "TRUSTLEDGER_CHECKPOINT_INTERVAL": "3600",  # no checkpoint but the batches' own: each answer's is the batch's
    }
    region = init_region(Settings(home=home, database_url=url), None, None, None)
    try:
        store = ApiKeyStore(region.store.engine)
        keys = {
            role.value: store.create(role, who, "", region.clock()).key
            for role, who in ((Role.ISSUER, POLICE), (Role.VERIFIER, "审批系统"))
        }
    finally:
        region.close()
    return Setup(url, env, keys, workers)


@pytest.fixture
def server(setup: Setup) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A server started in its own process group, so the test can SIGKILL every worker at once."""
    port = free_port()
    argv = [TRUSTLEDGER, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(setup.workers)]
    proc = subprocess.Popen(
        argv, env=setup.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        budget = deadline(120)
        while not _healthy(base):
            assert proc.poll() is None, "server exited"
            assert budget, "server did not come up"
            threading.Event().wait(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _fire(base: str, key: str, targets: list[str], acked: list[Acked], n: int, stop: threading.Event) -> None:
    """Send uses until the server dies (or `stop`), keeping every acknowledged answer."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        i = 0
        while not stop.is_set():
            body = {"matter_code": "410100-XK-001", "purpose": "断电演练", "consent": "当面出示"}
            try:
                r = http.post(f"/v1/licences/{targets[(n + i) % len(targets)]}/verify", json=body)
            except httpx.HTTPError:
                return  # the server is gone: this request was never acknowledged
            i += 1
            if r.status_code != 200:
                continue  # not acknowledged (a 503 under load): nothing was promised
            doc = r.json()
            use, cp = doc["use"], doc["checkpoint"]
            assert use["inclusion_proof"]["tree_size"] == cp["tree_size"]
            acked.append(Acked(use["use_id"], use["leaf_index"], cp["tree_size"], cp["note"]))


def test_sigkill_mid_load_loses_no_acknowledged_use(setup: Setup, server: tuple[subprocess.Popen[str], str]) -> None:
    proc, base = server
    holders = SyntheticHolders(seed=7070)
    with TrustLedgerClient(base, setup.keys["issuer"], timeout=60) as issuer:
        people = [holders.citizen() for _ in range(4)]
        targets = [
            issuer.issue(
                type_code=DRIVING, holder_id=p.id_number, holder_name=p.name, fields=driving_fields(p.id_number)
            ).id
            for p in people
        ]
    acked: list[Acked] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_fire, args=(base, setup.keys["verifier"], targets, acked, n, stop), daemon=True)
        for n in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    budget = deadline(120)
    while len(acked) < KILL_AFTER:
        assert budget, f"only {len(acked)} uses were acknowledged"
        threading.Event().wait(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-load: the clients are still firing
    proc.wait(30)
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acked) >= KILL_AFTER

    store = LedgerStore.from_url(setup.url)
    try:
        with store.read() as conn:
            size = store.size(conn)
            for a in acked:
                rows = store.event_rows(conn, a.leaf_index, 1)
                assert rows and rows[0][1] == a.use_id, f"acknowledged use {a.use_id} is not at leaf {a.leaf_index}"
                stored = store.checkpoint_of_size(conn, a.tree_size)
                assert stored is not None and stored.note == a.note  # the checkpoint it was proven against
    finally:
        store.close()
    assert len({a.leaf_index for a in acked}) == len(acked)
    assert max(a.leaf_index for a in acked) < size

    with served_by(setup.env, setup.workers) as again:  # restarted: it goes on from the stored log
        with TrustLedgerClient(again, setup.keys["verifier"], timeout=60) as verifier:
            after = verifier.verify(targets[0], matter_code="410100-XK-001", purpose="重启后", consent="当面出示")
        assert after.outcome == "accepted"
    audit = subprocess.run(
        [TRUSTLEDGER, "--json", "audit"], env=setup.env, capture_output=True, text=True, timeout=300, check=False
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"] is True and report["leaves"] == size + 1
