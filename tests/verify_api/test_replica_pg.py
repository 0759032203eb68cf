"""Read replicas on a real PostgreSQL streaming replica (`scripts/pg-replica.sh`, ADR 0015).

Reads at a stated size are served by the replica once it holds that size, and counted there; while its WAL replay is
paused (a replica that lags, for real) a read beyond what it holds and every verdict about now go to the primary; when
replay resumes, the replica catches up and serves them again.
"""

from __future__ import annotations

import base64
import fcntl
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from demo.synthetic import SyntheticHolders
from ledger.merkle import root_of, verify_inclusion
from ledger.replica import Refusal, Served
from tests.conftest import PG_ADMIN_URL, FakeClock, replica_url
from tests.support import deadline, free_port
from tests.verify_api.conftest import DRIVING, driving_fields, make_region
from trustledger.region import Region
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.client import TrustLedgerClient
from verify_api.store import ApiKeyStore

# The replica's replay is one machine-wide switch: the tests that pause it take turns (pytest -n 2 runs two workers).
REPLAY_LOCK = Path("/tmp/trustledger-replica-tests.lock")


@pytest.fixture
def replica_admin(pg_replica: int) -> Iterator[Engine]:
    """The replica's admin connection, held by this test alone; replay resumed before and after."""
    with REPLAY_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        engine = create_engine(replica_url(PG_ADMIN_URL, pg_replica), isolation_level="AUTOCOMMIT")
        try:
            _resume(engine)
            yield engine
        finally:
            _resume(engine)
            engine.dispose()


def _resume(replica: Engine) -> None:
    with replica.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_resume()"))


def _pause(replica: Engine) -> None:
    with replica.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
        budget = deadline(30)
        while conn.execute(text("SELECT pg_get_wal_replay_pause_state()")).scalar_one() != "paused":
            assert budget, "replay did not pause"
            time.sleep(0.05)


def _caught_up(replica: Engine, seconds: float = 60) -> None:
    """Wait until the replica has replayed everything the primary has flushed so far."""
    primary = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with primary.connect() as conn:
            target = conn.execute(text("SELECT pg_current_wal_flush_lsn()::text")).scalar_one()
    finally:
        primary.dispose()
    query = text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), CAST(:lsn AS pg_lsn)) >= 0")
    budget = deadline(seconds)
    with replica.connect() as conn:
        while not conn.execute(query, {"lsn": target}).scalar_one():
            assert budget, "the replica did not catch up"
            time.sleep(0.05)


@pytest.fixture
def replicated(pg_schema: str, pg_replica: int, tmp_path: Path, api_clock: FakeClock) -> Iterator[Region]:
    """A region on a PostgreSQL schema whose reads may go to the schema's copy on the replica."""
    region = make_region(tmp_path / "home", pg_schema, api_clock, read_database_url=replica_url(pg_schema, pg_replica))
    yield region
    region.close()


def _keys(region: Region) -> dict[str, str]:
    store = ApiKeyStore(region.store.engine)
    now = region.clock()
    police = region.catalogue.department("zz-traffic-police").uscc
    return {
        "issuer": store.create(Role.ISSUER, police, "police", now).key,
        "operator": store.create(Role.OPERATOR, "ops", "", now).key,
    }


def _issue(http: TestClient, key: str, seed: int) -> str:
    citizen = SyntheticHolders(seed=seed).citizen()
    client = TrustLedgerClient(http=http, api_key=key)
    lic = client.issue(
        type_code=DRIVING,
        holder_id=citizen.id_number,
        holder_name=citizen.name,
        fields=driving_fields(citizen.id_number),
    )
    return lic.identifier


def _size_of(note: str) -> int:
    return int(note.split("\n")[1])


def _metric(text_: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text_, re.MULTILINE)
    assert match is not None, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def test_lagging_replica_serves_old_sizes_and_is_refused_for_verdicts(
    replicated: Region, replica_admin: Engine
) -> None:
    region = replicated
    keys = _keys(region)
    auth = {"Authorization": f"Bearer {keys['issuer']}"}
    reads = region.reads
    with TestClient(create_app(region), raise_server_exceptions=False) as http:
        first = _issue(http, keys["issuer"], seed=11)
        _caught_up(replica_admin)

        # (1): caught up: a verdict about now may rest on the replica (the same newest checkpoint as the primary).
        proof = http.get("/v1/status/proof", params={"identifier": first}, headers=auth)
        assert proof.status_code == 200, proof.text
        assert reads.served().get(("status-proof-now", Served.REPLICA)) == 1
        old = region.log.size()
        old_leaves = [h for _, h in region.log.leaves(0, old)]

        # (2): replay paused; the primary moves on (a licence, a signed checkpoint); the replica lags for real.
        _pause(replica_admin)
        second = _issue(http, keys["issuer"], seed=12)
        new = region.log.size()
        assert new > old
        lag = reads.lag()
        assert lag.replay_paused is True and lag.leaves_behind == new - old and lag.checkpoints_behind
        assert not lag.serves_now

        # (3): reads at the old size are still the replica's, and they verify under the old root.
        got = http.get("/v1/log/proof/inclusion", params={"index": old - 1, "tree_size": old})
        assert got.status_code == 200, got.text
        hashes = [base64.b64decode(h) for h in got.json()["hashes"]]
        verify_inclusion(old - 1, old, old_leaves[old - 1], hashes, root_of(old_leaves))
        assert http.get(f"/tile/0/000.p/{old}").content == b"".join(old_leaves)
        assert http.get(f"/v1/log/leaves/{old - 1}").status_code == 200
        served = reads.served()
        assert served[("inclusion-proof", Served.REPLICA)] == 1
        assert served[("tile", Served.REPLICA)] == 1
        assert served[("leaf", Served.REPLICA)] == 1

        # (4): beyond what the replica holds, the primary answers; a verdict about now is refused the replica and
        # rests on the primary's newest checkpoint, which covers the second licence.
        assert http.get("/v1/log/proof/inclusion", params={"index": new - 1, "tree_size": new}).status_code == 200
        now = http.get("/v1/status/proof", params={"identifier": second}, headers=auth)
        assert now.status_code == 200, now.text
        assert _size_of(now.json()["checkpoint"]) == new
        assert now.json()["value"] is not None
        served, refused = reads.served(), reads.refused()
        assert served[("inclusion-proof", Served.PRIMARY)] == 1
        assert served[("status-proof-now", Served.PRIMARY)] == 1
        assert refused[("inclusion-proof", Refusal.BEHIND)] == 1
        assert refused[("status-proof-now", Refusal.BEHIND)] == 1
        metrics = http.get("/metrics", headers={"Authorization": f"Bearer {keys['operator']}"}).text
        assert _metric(metrics, "trustledger_replica_replay_paused") == 1
        assert _metric(metrics, "trustledger_replica_leaves_behind") == new - old
        assert _metric(metrics, "trustledger_log_reads_total", '{kind="tile",on="replica"}') == 1
        assert _metric(metrics, "trustledger_replica_refusals_total", '{kind="status-proof-now",reason="behind"}') == 1

        # (5): replay resumed: the replica catches up and serves the new size and verdicts about now again.
        _resume(replica_admin)
        _caught_up(replica_admin)
        assert reads.lag().serves_now
        assert http.get("/v1/log/proof/inclusion", params={"index": new - 1, "tree_size": new}).status_code == 200
        again = http.get("/v1/status/proof", params={"identifier": second}, headers=auth)
        assert again.status_code == 200 and again.json() == now.json()
        served = reads.served()
        assert served[("inclusion-proof", Served.REPLICA)] == 2
        assert served[("status-proof-now", Served.REPLICA)] == 2


def test_status_proof_at_a_stated_size_is_the_replicas_once_it_holds_that_checkpoint(
    replicated: Region, replica_admin: Engine
) -> None:
    region = replicated
    keys = _keys(region)
    auth = {"Authorization": f"Bearer {keys['issuer']}"}
    with TestClient(create_app(region), raise_server_exceptions=False) as http:
        identifier = _issue(http, keys["issuer"], seed=21)
        _caught_up(replica_admin)
        held = region.log.latest_checkpoint()
        _pause(replica_admin)
        _issue(http, keys["issuer"], seed=22)
        newest = region.log.latest_checkpoint()
        assert held is not None and newest is not None and newest.tree_size > held.tree_size

        at_held = http.get("/v1/status/proof", params={"identifier": identifier, "size": held.tree_size}, headers=auth)
        assert at_held.status_code == 200, at_held.text
        assert at_held.json()["checkpoint"] == held.note
        assert region.reads.served()[("status-proof-at-size", Served.REPLICA)] == 1

        at_newest = http.get(
            "/v1/status/proof", params={"identifier": identifier, "size": newest.tree_size}, headers=auth
        )
        assert at_newest.status_code == 200, at_newest.text
        assert at_newest.json()["checkpoint"] == newest.note
        assert region.reads.served()[("status-proof-at-size", Served.PRIMARY)] == 1
        assert region.reads.refused()[("status-proof-at-size", Refusal.BEHIND)] == 1


def test_a_replica_that_does_not_answer_leaves_every_read_to_the_primary(
    pg_schema: str, tmp_path: Path, api_clock: FakeClock
) -> None:
    nowhere = replica_url(pg_schema, free_port())  # nothing listens there
    region = make_region(tmp_path / "home", pg_schema, api_clock, read_database_url=nowhere, db_pool_timeout=2)
    try:
        with TestClient(create_app(region), raise_server_exceptions=False) as http:
            size = region.log.size()
            assert http.get("/v1/log/proof/inclusion", params={"index": 0, "tree_size": size}).status_code == 200
            assert http.get("/v1/log/leaves/0").status_code == 200
        assert region.reads.served()[("inclusion-proof", Served.PRIMARY)] == 1
        assert region.reads.refused()[("leaf", Refusal.UNAVAILABLE)] == 1
        assert not region.reads.lag().reachable
    finally:
        region.close()
